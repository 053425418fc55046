"""Which plan a run follows: the plain pipeline, or one set of students per target domain.

`preflight` refuses what can be refused before a run exists (the CLI and the Train page call it
before creating a run, so a refused launch leaves nothing behind); `run_plan` executes a run.
"""

from __future__ import annotations

from core import methods
from core.data.bundle import DataBundle, load_bundle
from core.runs.config import PipelineConfig
from core.runs.domains import check_targets, run_targets
from core.runs.pipeline import run_pipeline
from core.runs.stages import reused_teacher_dir
from core.teacher.ensemble import member_models
from core.train.device import pick_device, precision


def run_plan(kind: str, cfg: PipelineConfig, ctx) -> dict:
    """Run `kind` (pipeline, teacher, augment, distill) to its summary (results.json)."""
    if cfg.domains.targets():
        return run_targets(kind, cfg, ctx)
    return run_pipeline(kind, cfg, ctx)


def preflight(store, kind: str, cfg: PipelineConfig) -> DataBundle:
    """Everything that can be refused before a run exists: the data (DataError naming file and
    line), the device and precision (`--precision bf16` on a CPU without native bf16), and
    the teacher to reuse (see `reused_teacher_dir`). The CLI and the Train page call
    it before creating a run, so a refused launch leaves nothing behind; the run checks the
    teacher again when it starts, for callers that go straight to `execute`."""
    precision(pick_device(cfg.device), cfg.precision)  # DeviceError (a ValueError): no GPU, no bf16
    archs = [s.method for s in cfg.students] if kind in ("pipeline", "distill") else []
    twice = sorted({a for a in archs if archs.count(a) > 1})
    if twice:
        raise ValueError(f"student method(s) given twice: {', '.join(twice)}; name each once")
    for a in archs:
        methods.get(a)  # an unknown method is refused before the run exists
    bundle = load_bundle(cfg.data)
    cant = [a for a in archs if bundle.task not in methods.get(a).supports]
    if cant:
        what = "sentence pairs" if bundle.task == "pair" else "single texts"
        raise ValueError(f"student method(s) {', '.join(cant)} cannot take {what}")
    if cfg.teacher.members and cfg.teacher_run is None:  # a reused teacher comes whole
        if cfg.domains.targets():
            raise ValueError(
                "--teacher-members (a teacher ensemble) cannot be combined with --target-domain, "
                "which fine-tunes one teacher per domain"
            )
        member_models(cfg.teacher.model, cfg.teacher.members)  # a member named twice: refused
    if cfg.domains.targets():
        if kind != "pipeline" or cfg.teacher_run is not None:
            raise ValueError("--target-domain needs a pipeline run that fine-tunes its teachers")
        check_targets(bundle, cfg.domains.targets())
    elif cfg.domains.meta_teacher:
        raise ValueError("--meta-teacher needs --target-domain (the domain(s) to distil for)")
    if cfg.teacher_run is not None:
        reused_teacher_dir(store, cfg, bundle)
    elif kind in ("augment", "distill"):
        raise ValueError(f"a {kind} run needs a teacher run (an earlier run's fine-tuned teacher)")
    return bundle
