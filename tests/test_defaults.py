"""One source of defaults: the config dataclasses. The CLI, the dashboard's forms and the table in
docs/defaults.md are generated from them; these tests keep it that way."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.cli.fields import SECTIONS, defaults_markdown, sections, show_default
from core.cli.main import build_parser, config_from_args
from core.config import AugmentConfig, DataConfig, TeacherConfig
from core.methods._word_config import StudentConfig
from core.methods.chars import CharStudentConfig
from core.runs.config import PipelineConfig

ROOT = Path(__file__).resolve().parent.parent
CLASSES = [cls for _, cls in sections()]  # every student method's config too
RUN_KINDS = ["pipeline", "teacher", "augment", "distill"]
# flags that scripts, tests and the docs use: they must keep working
KNOWN_FLAGS = (
    "--train --test --dev --transfer --max-train --max-transfer --max-test --seed --teacher "
    "--teacher-epochs --teacher-lr --teacher-batch-size --teacher-max-length --augment-iters "
    "--p-mask --p-pos --p-ng --no-augment --students --loss --alpha --temperature "
    "--student-epochs --student-lr --student-max-len --vectors --no-plain --home --json --name "
    "--device --teacher-run --latency-samples -q"
).split()


def _expected_cli_defaults() -> PipelineConfig:
    """The dataclass defaults, with the one documented rule applied: without a train file the
    embedded set is capped at max_train_embedded rows."""
    cfg = PipelineConfig()
    cfg.data.max_train = cfg.data.max_train_embedded
    return cfg


def _help(kind: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[kind].format_help()


# -- the dataclasses ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_field_has_help(cls):
    for f in dataclasses.fields(cls):
        text = f.metadata.get("help")
        assert isinstance(text, str) and len(text) > 15, f"{cls.__name__}.{f.name} has no help"
        assert text.rstrip().endswith((".", ")")), f"{cls.__name__}.{f.name}: {text!r}"


def test_flags_are_unique_and_seeds_agree():
    owners: dict[str, list[str]] = {}
    for cls in CLASSES:
        for f in dataclasses.fields(cls):
            if flag := f.metadata.get("flag"):
                owners.setdefault(flag, []).append(f"{cls.__name__}.{f.name}")
    shared = {flag: names for flag, names in owners.items() if len(names) > 1}
    # a flag shared by several configs always sets the same field (--seed: every seed;
    # --student-epochs: every student's epochs; --tf-lr: every transformer student's lr)
    for flag, names in shared.items():
        assert len({n.split(".")[1] for n in names}) == 1, (flag, names)
    seeded = [c for c in CLASSES if "seed" in {f.name for f in dataclasses.fields(c)}]
    assert len(shared["--seed"]) == len(seeded)  # every config with a seed
    assert len({DataConfig().seed, TeacherConfig().seed, AugmentConfig().seed}) == 1
    assert StudentConfig().seed == DataConfig().seed


def test_the_chosen_defaults():
    assert AugmentConfig().n_iter == 4
    assert TeacherConfig().epochs == 2
    assert StudentConfig().epochs == 6
    assert DataConfig().max_test == 1000
    assert DataConfig().max_train_embedded == 2000
    assert DataConfig().effective_max_train() == 2000
    assert DataConfig(train="x.tsv").effective_max_train() is None
    assert DataConfig(max_train=300).effective_max_train() == 300


# -- docs/defaults.md --------------------------------------------------------------------------
def test_docs_defaults_table_is_generated():
    doc = (ROOT / "docs" / "defaults.md").read_text(encoding="utf-8")
    table = "\n".join(ln for ln in doc.splitlines() if ln.startswith("|")) + "\n"
    assert table == defaults_markdown(), (
        "docs/defaults.md's table is stale: paste in the output of `python -m core defaults`"
    )


def test_readme_links_the_defaults():
    assert "](docs/defaults.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_cli_prints_the_defaults_table(cli):
    res = cli("defaults")
    assert res.returncode == 0, res.stderr
    assert res.stdout == defaults_markdown()


def test_defaults_table_lists_every_field():
    table = defaults_markdown()
    for prefix, cls in sections():
        for f in dataclasses.fields(cls):
            if f.name in ("data", "teacher", "augment", "domains"):
                continue
            if cls not in dict(SECTIONS).values():  # a student method's config: every flag
                if flag := f.metadata.get("flag"):  # and default, once per (flag, default)
                    shown = show_default(cls, f.name)
                    assert re.search(rf"\| `{shown}` \| `{flag}` \|", table), (flag, shown)
                continue
            name = f"{prefix}.{f.name}" if prefix else f.name
            assert f"| `{name}` | `{show_default(cls, f.name)}` |" in table


# -- the CLI -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", RUN_KINDS)
def test_cli_defaults_are_the_dataclass_defaults(kind):
    cfg = config_from_args(build_parser().parse_args([kind]))
    assert cfg == _expected_cli_defaults()


def test_cli_with_a_train_file_keeps_max_train_unset():
    cfg = config_from_args(build_parser().parse_args(["pipeline", "--train", "x.tsv"]))
    assert cfg.data.max_train is None and cfg.data.train == "x.tsv"


def test_known_flags_still_work():
    help_text = _help("pipeline")
    for flag in KNOWN_FLAGS:
        assert re.search(rf"(^|[\s\[]){re.escape(flag)}[\s\]]", help_text), flag


def test_cli_flags_set_every_config():
    a = build_parser().parse_args(
        [
            "pipeline",
            "--seed",
            "7",
            "--augment-iters",
            "9",
            "--students",
            "textcnn",
            "--alpha",
            "0.5",
            "--kernel-sizes",
            "2,3",
            "--embed-dim",
            "32",
            "--max-transfer",
            "none",
            "--max-test",
            "0",
            "--no-plain",
            "--no-augment",
            "--teacher-epochs",
            "1",
            "--dev-fraction",
            "0.2",
        ]
    )
    cfg = config_from_args(a)
    seeds = {cfg.data.seed, cfg.teacher.seed, cfg.augment.seed, *(s.seed for s in cfg.students)}
    assert seeds == {7}
    assert cfg.augment.n_iter == 9 and cfg.teacher.epochs == 1 and cfg.data.dev_fraction == 0.2
    assert [s.method for s in cfg.students] == ["textcnn"]
    (s,) = cfg.students
    assert (s.alpha, s.kernel_sizes, s.embed_dim) == (0.5, (2, 3), 32)
    assert cfg.data.max_transfer is None and cfg.data.max_test is None
    assert cfg.plain_baseline is False and cfg.use_augmentation is False


def test_cli_rejects_an_unknown_student(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["distill", "--students", "bilstm,gpt"])
    assert "bilstm, textcnn, bilstm_char, textcnn_char, kd" in capsys.readouterr().err


def test_pipeline_help_shows_every_flag_with_help_and_default():
    help_text = " ".join(_help("pipeline").split())  # argparse wraps lines
    seen = set()
    for cls in CLASSES:
        for f in dataclasses.fields(cls):
            flag = f.metadata.get("flag")
            if not flag or flag in seen:  # --seed: one flag (DataConfig's help) sets all four
                continue
            seen.add(flag)
            assert flag in help_text, flag
            first_words = " ".join(f.metadata["help"].split()[:4])
            assert first_words in help_text, (flag, first_words)
            default = getattr(cls(), f.name)
            if default is not None and not isinstance(default, bool):
                shown = show_default(cls, f.name)
                # a flag several methods share with different defaults lists each one's
                assert f"(default: {shown})" in help_text or f"Default: {shown} for" in help_text, (
                    flag
                )


# -- the dashboard -----------------------------------------------------------------------------
@pytest.fixture
def train_page(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=120).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_train_page_starts_at_the_dataclass_defaults(train_page):
    at = train_page
    d, t, a, p = (DataConfig(), TeacherConfig(), AugmentConfig(), PipelineConfig())
    c = CharStudentConfig()
    expected = {
        "pipe-max-train": d.max_train_embedded,  # the embedded set, as on the CLI
        "pipe-max-transfer": d.max_transfer,
        "pipe-max-test": d.max_test,
        "pipe-seed": d.seed,
        "pipe-t-epochs": t.epochs,
        "pipe-t-lr": t.lr,
        "pipe-t-batch": t.batch_size,
        "pipe-t-maxlen": t.max_length,
        "pipe-n-iter": a.n_iter,
        # the default students are the character ones: their knobs, shared by both
        "pipe-char-shared-temperature": c.temperature,
        "pipe-char-shared-epochs": c.epochs,
        "pipe-char-shared-lr": c.lr,
        "pipe-char-shared-batch-size": c.batch_size,
        "pipe-char-shared-max-len": c.max_len,
        "pipe-char-shared-embed-dim": c.embed_dim,
        "pipe-char-shared-hidden-dim": c.hidden_dim,
        "pipe-latency": p.latency_samples,
        "teach-t-epochs": t.epochs,
    }
    for key, value in expected.items():
        assert at.number_input(key=key).value == value, key
    for name in ("p_mask", "p_pos", "p_ng"):
        assert at.slider(key=f"pipe-{name.replace('_', '-')}").value == getattr(a, name)
    assert {type(x) for x in p.students} == {CharStudentConfig}
    alpha = at.slider(key="pipe-char-shared-alpha")
    assert alpha.value == c.alpha
    assert "alpha·distill + (1−alpha)·CE" in alpha.help
    assert "mean over rows" in alpha.help
    assert at.selectbox(key="pipe-char-shared-loss").value == c.loss
    assert at.selectbox(key="pipe-char-shared-embed-init").value == c.embed_init
    assert at.selectbox(key="pipe-device").value == p.device
    assert at.selectbox(key="pipe-preset").value == t.model
    assert at.multiselect(key="pipe-archs").value == [x.method for x in p.students]
    assert at.checkbox(key="pipe-plain").value is p.plain_baseline
    assert at.checkbox(key="pipe-use-aug").value is p.use_augmentation
    assert at.number_input(key="pipe-t-epochs").help.startswith(
        TeacherConfig.__dataclass_fields__["epochs"].metadata["help"]
    )
