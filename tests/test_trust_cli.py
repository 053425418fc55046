"""Engine edges of issue 20 (points 8-16), through `python -m core` as a subprocess against
real files and a real store: exit codes, messages, and the store after each refused command
(no run row left behind)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import tiny_run_flags

from core.runs.store import Store

ROOT = Path(__file__).resolve().parent.parent

LONG = "房间很干净，服务好。" * 3_000  # 30,000 characters (90 KB: under the 128 KB of one argument)


def _write(path, rows) -> str:
    path.write_text("".join(f"{y}\t{t}\n" for y, t in rows), encoding="utf-8")
    return str(path)


def _n_runs(home) -> int:
    return len(Store(home).runs()) if (home / "distillery.db").exists() else 0


@pytest.fixture(scope="module")
def homes(cli, tiny_data, tiny_teacher_dir, tmp_path_factory):
    """One store with a teacher run (tiny data, tiny teacher) and a distill run reusing it
    (one TextCNN, no plain twin, no augmentation): (home, teacher run id, distill run id)."""
    home = tmp_path_factory.mktemp("trust_home")
    res = cli("teacher", *tiny_run_flags(tiny_data, tiny_teacher_dir)[:-2], "-q", home=home)
    assert res.returncode == 0, res.stderr
    tid = Store(home).runs()[0]["id"]
    res = cli(
        "distill",
        "--train", str(tiny_data.train), "--test", str(tiny_data.test),
        "--teacher-run", str(tid), "--students", "textcnn_char", "--no-plain",
        "--student-epochs", "1", "--augment-iters", "0", "--latency-samples", "5", "-q",
        home=home,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    did = Store(home).runs()[0]["id"]
    assert did != tid
    return home, tid, did


# -- 8: one leakage rule for a first run and a reused teacher -----------------------------------
def test_overlapping_test_rows_are_dropped_on_a_first_run(
    cli, tiny_data, tiny_teacher_dir, tmp_path
):
    """3 test texts also in train: the run drops them with a count (data description and a
    warning) and finishes, instead of only warning that its scores are optimistic."""
    test = _write(tmp_path / "test.tsv", tiny_data.test_rows + tiny_data.train_rows[:3])
    flags = tiny_run_flags(tiny_data, tiny_teacher_dir)[:-2]
    flags[flags.index("--test") + 1] = test
    res = cli("teacher", *flags, "-q", home=tmp_path / "h")
    assert res.returncode == 0, res.stderr
    assert (
        "3 of 63 test rows dropped: their texts are also in the training or dev set" in res.stderr
    )
    (run,) = Store(tmp_path / "h").runs()
    assert run["data"]["test"] == 60 and run["data"]["test_dropped_overlap"] == 3
    assert any("3 of 63 test rows dropped" in w for w in run["data"]["warnings"])


def test_reused_teacher_drops_the_test_rows_it_saw(cli, homes, tiny_data, tmp_path):
    """New train rows, a test set holding 5 texts the reused teacher trained on: the same rule
    (dropped, counted, warned), not a LeakageError; a test set it saw entirely is refused up
    front (exit 2) with no run row."""
    home, tid, _ = homes
    train = _write(tmp_path / "train.tsv", tiny_data.test_rows[:40])
    test = _write(tmp_path / "test.tsv", tiny_data.test_rows[40:] + tiny_data.train_rows[:5])
    res = cli(
        "augment", "--train", train, "--test", test, "--teacher-run", str(tid),
        "--augment-iters", "0", "-q", home=home,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (
        f"5 of 25 test rows dropped: their texts are also in the training or dev texts of run {tid}'s teacher"
        in res.stderr
    )
    run = Store(home).runs()[0]
    assert run["kind"] == "augment" and run["status"] == "done"
    assert run["data"]["test"] == 20 and run["data"]["test_dropped_overlap"] == 5
    before = _n_runs(home)
    seen = _write(tmp_path / "seen.tsv", tiny_data.train_rows[:30])
    res = cli(
        "augment", "--train", train, "--test", seen, "--teacher-run", str(tid), "-q", home=home
    )
    assert res.returncode == 2, res.stderr
    assert "test split (after dropping 30 rows the teacher saw) is empty" in res.stderr
    assert "Traceback" not in res.stderr and _n_runs(home) == before


def test_benchmark_seeds_reuse_the_teacher_and_write_as_they_go(tiny_cfg, tiny_data, tmp_path):
    """The benchmark case: 1 test text also in train. The first seed (a pipeline) and the
    second (a distill run reusing its teacher) both finish under the same rule, and each seed's
    results are written as it finishes."""
    import dataclasses

    from benchmarks.common import run_seeds, seeds_path

    test = _write(tmp_path / "test.tsv", tiny_data.test_rows + tiny_data.train_rows[:1])
    cfg = tiny_cfg(n_iter=0, plain_baseline=False, latency_samples=5)
    cfg = dataclasses.replace(
        cfg,
        students=cfg.students[1:],  # one TextCNN
        data=dataclasses.replace(cfg.data, test=test, transfer=None),
        onnx_latency=False,
    )
    out = tmp_path / "bench.json"
    summaries, _ = run_seeds(cfg, str(tmp_path / "h"), "bench", 2, out)
    assert [s["data"]["test_dropped_overlap"] for s in summaries] == [1, 1]
    assert [s["data"]["test"] for s in summaries] == [60, 60]
    saved = json.loads(seeds_path(out).read_text())
    assert saved["seeds_done"] == 2 and [s["run_id"] for s in saved["summaries"]] == [
        s["run_id"] for s in summaries
    ]


# -- 9: deleting a teacher run that others reuse ------------------------------------------------
def test_delete_refuses_a_teacher_with_dependants_and_force_marks_them(cli, homes, tmp_path):
    src, tid, did = homes
    home = tmp_path / "copy"
    shutil.copytree(src, home)
    store = Store(home)
    queued = store.create_run("distill", {**store.run(did)["config"], "teacher_run": tid})
    res = cli("runs", "delete", str(tid), home=home)
    assert res.returncode == 2
    assert f"run {tid}'s teacher is reused by run {did} (distill, done)" in res.stderr
    assert f"run {queued} (distill, queued)" in res.stderr
    assert "--force" in res.stderr
    assert store.run(tid)["status"] == "done" and (home / "runs" / str(tid) / "teacher").is_dir()
    res = cli("runs", "delete", str(tid), "--force", home=home)
    assert res.returncode == 0, res.stderr
    assert f"run {tid} deleted" in res.stdout
    assert f"now without it (cancelled if queued): {did}, " in res.stdout
    assert tid not in {r["id"] for r in store.runs()}
    q = store.run(queued)
    assert q["status"] == "cancelled" and f"its teacher (run {tid}) was deleted" in q["error"]
    assert f"its teacher (run {tid}) was deleted" in store.run(did)["data"]["teacher_deleted"]
    res = cli("predict", "--run", str(did), "房间很干净", home=home)
    assert res.returncode == 0, res.stderr
    assert f"note: its teacher (run {tid}) was deleted" in res.stderr
    assert "only the students are scored" in res.stderr
    assert "textcnn_char_distilled" in res.stdout and "teacher" not in res.stdout


# -- 10, 12, 13, 15: data check ------------------------------------------------------------------
def test_data_check_warns_on_label_spellings(cli, tmp_path):
    rows = [
        ("1", "好评一"),
        ("1.0", "好评二"),
        ("pos", "好评三"),
        ("0", "差评一"),
        ("0.0", "差评二"),
        ("neg", "差评三"),
    ]
    res = cli("data", "check", _write(tmp_path / "spell.tsv", rows))
    assert res.returncode == 0, res.stderr
    assert (
        "labels '1' (first on line 1), '1.0' (first on line 2) and 'pos' (first on line 3) "
        "look like spellings of one class, but are read as 3 different classes" in res.stderr
    )
    assert (
        "'0' (first on line 4), '0.0' (first on line 5) and 'neg' (first on line 6)" in res.stderr
    )
    res = cli(
        "data", "check", _write(tmp_path / "fine.tsv", [("0", "差"), ("1", "好"), ("2", "中")])
    )
    assert res.returncode == 0 and "spellings" not in res.stderr


def test_data_check_caps_warnings_and_so_does_a_run(cli, tmp_path):
    from core.config import DataConfig
    from core.data.bundle import load_bundle

    dup = tmp_path / "dup.tsv"
    dup.write_text("0\t差评\n1\t好评\n" * 2000, encoding="utf-8")
    res = cli("data", "check", str(dup))
    assert res.returncode == 0, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 21 and lines[-1] == "... and 3,978 more warnings"
    assert lines[0] == f"{dup}:3: warning: duplicate of line 1"
    test = _write(tmp_path / "test.tsv", [(0, "很差的一次"), (1, "很好的一次")])
    desc = load_bundle(DataConfig(train=str(dup), test=test, dev_fraction=0)).describe()
    assert len(desc["warnings"]) == 21 and desc["warnings"][-1].startswith("... and ")


@pytest.mark.parametrize(
    ("sep", "name"),
    [
        ("\u2028", "line separator (U+2028)"),
        ("\x0c", "form feed (\\x0c)"),
        ("\x1c", "file separator (\\x1c)"),
    ],
)
def test_a_file_of_odd_line_separators_is_named(
    cli, tiny_data, tiny_teacher_dir, tmp_path, sep, name
):
    path = tmp_path / "odd.tsv"
    path.write_text(sep.join(f"{i % 2}\t第{i}条评论" for i in range(60)) + "\n", encoding="utf-8")
    res = cli("data", "check", str(path))
    assert res.returncode == 2
    assert f"the file is one line with 60 tabs and 59 {name} characters" in res.stderr
    assert "only one class" not in res.stderr
    flags = tiny_run_flags(tiny_data, tiny_teacher_dir)[:-2]
    flags[flags.index("--train") + 1] = str(path)
    res = cli("teacher", *flags, "-q", home=tmp_path / "h")
    assert res.returncode == 2 and "one line with 60 tabs" in res.stderr
    assert _n_runs(tmp_path / "h") == 0


def test_data_check_warns_on_a_very_long_field(cli, tmp_path):
    path = _write(tmp_path / "long.tsv", [("0", "差评"), ("1", "x" * 200_000), ("1", "好评")])
    res = cli("data", "check", path)
    assert res.returncode == 0, res.stderr
    assert (
        "long.tsv:2: warning: 1 text longer than 20,000 characters (line 2, the longest 200,000)"
        in res.stderr
    )


# -- 11, 14: refused before a run exists ---------------------------------------------------------
def test_label_mismatch_with_teacher_run_exits_2_before_a_run(cli, homes, tiny_data, tmp_path):
    home, tid, _ = homes
    rows = tiny_data.train_rows[:60] + [(2, t) for _, t in tiny_data.train_rows[60:90]]
    train = _write(tmp_path / "three.tsv", rows)
    test = _write(
        tmp_path / "three_test.tsv", [(i % 3, t) for i, (_, t) in enumerate(tiny_data.test_rows)]
    )
    before = _n_runs(home)
    res = cli(
        "distill", "--train", train, "--test", test, "--teacher-run", str(tid), "-q", home=home
    )
    assert res.returncode == 2, res.stderr
    assert (
        f"the teacher of run {tid} was trained on the labels ['0', '1'], but these data have ['0', '1', '2']"
        in res.stderr
    )
    assert "Traceback" not in res.stderr and _n_runs(home) == before


def test_too_few_training_rows_are_refused(cli, tiny_data, tiny_teacher_dir, tmp_path):
    train = _write(tmp_path / "three_rows.tsv", [(0, "差评一条"), (0, "差评两条"), (1, "好评一条")])
    flags = tiny_run_flags(tiny_data, tiny_teacher_dir)[:-2]
    flags[flags.index("--train") + 1] = train
    res = cli("teacher", *flags, "-q", home=tmp_path / "h")
    assert res.returncode == 2, res.stderr
    assert (
        "too few training rows: '0' 2, '1' 1" in res.stderr
        and "at least 2 rows of every class" in res.stderr
    )
    assert _n_runs(tmp_path / "h") == 0


# -- 15, 16: predict, the exported predict.py, export --out --------------------------------------
def test_predict_says_when_a_text_was_truncated(cli, homes):
    home, _, did = homes
    res = cli("predict", "--run", str(did), "--json", LONG, "好", home=home)
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert {r["model"] for r in rows} == {"teacher", "textcnn_char_distilled"}
    assert all(r["truncated"] == (r["text"] == LONG) for r in rows)
    assert (
        f"note: text 1 ({len(LONG):,} characters) was scored on its first tokens only by teacher, textcnn_char_distilled"
        in res.stderr
    )
    assert "text 2" not in res.stderr


def test_export_refuses_a_non_empty_folder_and_its_predict_py_says_truncated(cli, homes, tmp_path):
    home, _, did = homes
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = (
        "export",
        "--run",
        str(did),
        "--model",
        "textcnn_char_distilled",
        "--out",
        str(out),
        "--check",
        "0",
    )
    res = cli(*args, home=home)
    assert res.returncode == 2
    assert f"--out {out} is a folder that is not empty" in res.stderr and "--force" in res.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    res = cli(*args, "--force", home=home)
    assert res.returncode == 0, res.stderr
    assert (out / "predict.py").is_file() and (out / "notes.txt").read_text() == "mine"
    res = cli(*args, home=home)  # now it holds an export: refused again without --force
    assert res.returncode == 2
    p = subprocess.run(
        [sys.executable, str(out / "predict.py"), "--json", LONG, "好"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["truncated"] for r in rows] == [True, False]
    assert f"note: text 1 ({len(LONG):,} characters) is longer than the model reads" in p.stderr


def test_benchmark_flags_build_the_run_config_under_new_and_old_names():
    """The benchmarks take the CLI's flags (generated from the configs): renamed flags and their
    old aliases both reach the run's config."""
    from benchmarks.common import base_parser, pipeline_config
    from core.config import DataConfig

    p = base_parser("test")
    new = p.parse_args(["--students", "bilstm", "--teacher-model", "m", "--augment-n-iter", "3"])
    old = p.parse_args(["--students", "bilstm", "--teacher", "m", "--augment-iters", "3"])
    for a in (new, old):
        cfg = pipeline_config(a, "b", DataConfig())
        assert (cfg.teacher.model, cfg.augment.n_iter) == ("m", 3)
        assert [s.method for s in cfg.students] == ["bilstm"]
    assert pipeline_config(p.parse_args([]), "b", DataConfig()).augment.n_iter == 10  # its own


def run_in_benchmarks(probe: str) -> str:
    """`probe`'s stdout, run where the benchmark scripts run: they import their siblings as
    scripts do (`from common import ...`), so only from benchmarks/."""
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT / "benchmarks",
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_pair_benchmarks_keep_their_own_augmentation_default():
    """set_defaults must name the flag's dest: after a rename, `augment_iters` set nothing and
    snli_zh silently augmented with n_iter 10 (113,816 pairs to label instead of 30,187). The
    pair scripts import their siblings as scripts do, so this runs in benchmarks/."""
    probe = textwrap.dedent(
        """
        from common import pipeline_config
        from pair_bench import PAIR_N_ITER, pair_parser
        from core.config import DataConfig
        p = pair_parser("test", "dev")
        n = pipeline_config(p.parse_args([]), "b", DataConfig()).augment.n_iter
        m = pipeline_config(p.parse_args(["--augment-n-iter", "5"]), "b", DataConfig()).augment.n_iter
        print(n, m, PAIR_N_ITER)
        """
    )
    n, m, want = run_in_benchmarks(probe).split()
    assert (n, m) == (want, "5") and want == "2"


def test_newsbert_benchmark_flags_one_class_by_macro_f1_not_accuracy():
    """On water_heater (83% one class) a weak NewsBERT seed at 0.757 accuracy answered both
    classes (macro-F1 about 0.7) yet the old accuracy rule flagged it COLLAPSED, while vanilla
    KD at exactly the majority share is the real collapse. The rule reads macro-F1 against the
    majority answer's own macro-F1 (2m / (1 + m) / classes)."""
    probe = textwrap.dedent(
        """
        from newsbert_ablation import one_class_f1, row
        floor = one_class_f1(0.826, 2)
        def summary(acc, f1):
            return {"models": {"teacher": {"accuracy": 0.9, "f1": 0.8},
                               "x_distilled": {"accuracy": acc, "f1": f1},
                               "x_plain": {"accuracy": 0.8, "f1": 0.6}}}
        weak = row("weak", [summary(0.757, 0.70), summary(0.87, 0.74)], "x_distilled", floor)
        one = row("one", [summary(0.826, 0.4524), summary(0.87, 0.74)], "x_distilled", floor)
        print(round(floor, 4), round(one_class_f1(0.5, 2), 4), weak["collapsed"], one["collapsed"])
        """
    )
    assert run_in_benchmarks(probe).split() == ["0.4524", "0.3333", "False", "True"]
