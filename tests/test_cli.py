"""`python -m core ...` run as a real subprocess, against real files and a real store."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runs.eta import ETA_SERIES
from core.runs.store import Store

ROOT = Path(__file__).resolve().parent.parent

# the default students: character TextCNN and BiLSTM, each plain and distilled
ALL_MODELS = {
    "teacher",
    "bilstm_char_plain",
    "bilstm_char_distilled",
    "textcnn_char_plain",
    "textcnn_char_distilled",
}
TABLE_FIELDS = ("accuracy", "f1", "params", "latency_ms_p50", "latency_ms_p95")


def _data_flags(tiny_data) -> list[str]:
    return [
        "--train",
        str(tiny_data.train),
        "--test",
        str(tiny_data.test),
        "--transfer",
        str(tiny_data.transfer),
        "--max-train",
        "120",
        "--max-transfer",
        "200",
        "--max-test",
        "60",
        "--latency-samples",
        "10",
    ]


# -- data check ---------------------------------------------------------------------------------


def test_data_check_good_file(cli, tiny_data):
    res = cli("data", "check", str(tiny_data.train))
    assert res.returncode == 0, res.stderr
    assert (
        f"{tiny_data.train}: ok, 160 rows, task single texts, encoding utf-8, classes 0: 80, 1: 80"
        in res.stdout
    )


def test_data_check_bad_file_names_the_line(cli, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("0\t不好\n1\n1\t很好\n0\t\n", encoding="utf-8")
    res = cli("data", "check", str(bad))
    assert res.returncode == 2
    assert f"{bad}:2: error: missing tab separator" in res.stderr
    assert f"{bad}:4: error: empty text" in res.stderr
    assert "ok" not in res.stdout


def test_data_check_reports_encoding_and_warnings(cli, tmp_path):
    gbk = tmp_path / "gbk.tsv"
    gbk.write_bytes("0\t不好\n1\t很好\n0\t不好\n".encode("gb18030"))
    res = cli("data", "check", str(gbk))
    assert res.returncode == 0, res.stderr
    assert "3 rows, task single texts, encoding gb18030" in res.stdout
    assert f"{gbk}:3: warning: duplicate of line 1" in res.stderr


def test_data_check_labels_and_unlabelled(cli, tmp_path, tiny_data):
    res = cli("data", "check", str(tiny_data.transfer), "--unlabelled")
    assert res.returncode == 0 and "ok, 100 unlabelled texts" in res.stdout
    test = tmp_path / "test.tsv"
    test.write_text("0\t不好\n2\t还行\n", encoding="utf-8")
    res = cli("data", "check", str(test), "--labels", "0,1")
    assert res.returncode == 2 and f"{test}:2: error: unknown label '2'" in res.stderr


# -- store-only commands start without torch ----------------------------------------------------
HEAVY = ("torch", "transformers")


def _imported(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `python -X importtime -m core ARGS`; the process and every module it imported."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-X", "importtime", "-m", "core", *args]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    mods = {
        ln.rsplit("|", 1)[1].strip()
        for ln in res.stderr.splitlines()
        if ln.startswith("import time:") and ln.count("|") == 2
    }
    return res, mods


@pytest.mark.parametrize("command", ["runs list", "runs show", "data check"])
def test_store_only_commands_do_not_import_torch(command, tmp_path, tiny_data):
    """`runs list / show` and `data check` read the store or a file only: torch and
    transformers (seconds to import) must not be imported on the way."""
    store = Store(tmp_path)
    rid = store.create_run("pipeline", {"name": "x"})
    args = {
        "runs list": ["runs", "list", "--home", str(tmp_path)],
        "runs show": ["runs", "show", str(rid), "--home", str(tmp_path)],
        "data check": ["data", "check", str(tiny_data.train)],
    }[command]
    res, mods = _imported(*args)
    assert res.returncode == 0, res.stderr[-2000:]
    assert {"core.cli.main", "core.cli.parser"} <= mods  # -X importtime did report imports
    heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    assert not heavy, f"`{command}` imported {heavy[:5]}"


def test_run_command_still_builds_its_student_flags():
    """Only the invoked command's flags are built: a run command gets the registry's."""
    res, mods = _imported("distill", "--help")
    assert res.returncode == 0 and "--kd-alpha" in res.stdout and "torch" in mods


# -- flag names: one rule, old names as aliases --------------------------------------------------
# (old flag, new flag, args to give each, (config path, expected value))
RENAMED = [
    ("--alpha", "--student-alpha", ["0.3"], ("students.0.alpha", 0.3)),
    ("--temperature", "--student-temperature", ["5"], ("students.0.temperature", 5.0)),
    ("--latency-threads", "--student-threads", ["3"], ("student_threads", 3)),
    ("--loss", "--student-loss", ["soft_ce"], ("students.0.loss", "soft_ce")),
    ("--embed-dim", "--student-embed-dim", ["32"], ("students.0.embed_dim", 32)),
    ("--kernel-sizes", "--student-kernel-sizes", ["2,3"], ("students.0.kernel_sizes", (2, 3))),
    ("--vectors", "--student-vectors", ["v.txt"], ("students.0.vectors", "v.txt")),
    ("--teacher", "--teacher-model", ["x"], ("teacher.model", "x")),
    ("--teacher-patience", "--teacher-early-stop-patience", ["3"], ("teacher.early_stop_patience", 3)),
    ("--p-mask", "--augment-p-mask", ["0.2"], ("augment.p_mask", 0.2)),
    ("--augment-iters", "--augment-n-iter", ["7"], ("augment.n_iter", 7)),
    ("--no-augment", "--no-use-augmentation", [], ("use_augmentation", False)),
    ("--no-plain", "--no-plain-baseline", [], ("plain_baseline", False)),
    ("--no-leftover-transfer", "--no-leftover-as-transfer", [], ("data.leftover_as_transfer", False)),
    ("--target-domain", "--target-domains", ["a,b"], ("domains.target_domains", "a,b")),
    ("--newsbert-beta", "--newsbert-momentum", ["0.9"], ("students.2.momentum", 0.9)),
    ("--tinybert-stage1-epochs", "--tinybert-intermediate-epochs", ["0"], ("students.1.intermediate_epochs", 0)),
    ("--tinybert-prediction-texts", "--tinybert-prediction-max-texts", ["50"], ("students.1.prediction_max_texts", 50)),
    ("--tinybert-random-embeddings", "--no-tinybert-init-embeddings", [], ("students.1.init_embeddings", False)),
]  # fmt: skip


def _get(cfg, path: str):
    for part in path.split("."):
        cfg = cfg[int(part)] if part.isdigit() else getattr(cfg, part)
    return cfg


@pytest.mark.parametrize("old,new,values,expected", RENAMED, ids=[r[1] for r in RENAMED])
def test_renamed_flag_and_its_old_alias_set_the_same_field(old, new, values, expected):
    from core.cli.main import build_parser, config_from_args

    path, value = expected
    students = ["--students", "textcnn,tinybert,newsbert"]
    default = _get(config_from_args(build_parser().parse_args(["pipeline", *students])), path)
    assert default != value  # the flag really changes something
    for flag in (new, old):
        a = build_parser().parse_args(["pipeline", *students, flag, *values])
        assert _get(config_from_args(a), path) == value, flag


def test_old_flags_work_on_the_command_line(cli, tmp_path):
    """Through `python -m core`: an old and a new flag name in one call, checked before a run."""
    res = cli("distill", "--alpha", "0.5", "--student-temperature", "3", "-q", home=tmp_path)
    assert res.returncode == 2 and "needs --teacher-run" in res.stderr  # parsed, then refused


# the flag prefix of each config class, by the naming rule in core/cli/fields.py (a class not
# listed takes its nearest base's: KDConfig kd-, BottomConfig tf-; none for data, run, domains
# and sweep)
SCOPES = {
    "TeacherConfig": "teacher-",
    "AugmentConfig": "augment-",
    "StudentConfig": "student-",
    "CharStudentConfig": "char-",
    "TransformerConfig": "tf-",
    "LogitKDConfig": "kd-",
    "PKDConfig": "pkd-",
    "NewsBERTConfig": "newsbert-",
    "TheseusConfig": "theseus-",
    "TinyBERTConfig": "tinybert-",
}


def _scope(cls: type) -> str:
    return next((SCOPES[k.__name__] for k in cls.__mro__ if k.__name__ in SCOPES), "")


# the two fields the rule names as keeping a word that tells them from a namesake, and the
# flags one field shares across every config that has it
EXCEPTIONS = {
    ("StudentConfig", "threads"): "--student-train-threads",
    ("DomainConfig", "intermediate_epochs"): "--meta-intermediate-epochs",
    ("*", "seed"): "--seed",
    ("StudentConfig", "epochs"): "--student-epochs",
    ("TransformerConfig", "epochs"): "--student-epochs",
}


def test_every_flag_follows_the_naming_rule():
    from core.cli.fields import default_of, sections
    from core.runs.sweep import SweepConfig

    wrong = []
    for cls in [c for _, c in sections()] + [SweepConfig]:
        for f in dataclasses.fields(cls):
            flag = f.metadata.get("flag")
            if not flag:
                continue
            declared = [
                k for k in reversed(cls.__mro__) if f.name in vars(k).get("__annotations__", {})
            ]
            off = "--no-" if default_of(cls, f.name) is True else "--"
            field = f.name.replace("_", "-")
            allowed = {off + _scope(k) + field for k in declared}
            exc = EXCEPTIONS.get((declared[0].__name__, f.name)) or EXCEPTIONS.get(("*", f.name))
            if exc:
                allowed.add(exc)
            if flag not in allowed:
                wrong.append(
                    f"{cls.__name__}.{f.name}: {flag} (expected {' or '.join(sorted(allowed))})"
                )
    assert not wrong, "\n".join(wrong)


# -- a real pipeline through the CLI ------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(cli, tiny_data, tiny_teacher_dir, tmp_path_factory):
    home = tmp_path_factory.mktemp("cli_home")
    out = home.parent / "cli_out.json"
    res = cli(
        "pipeline",
        *_data_flags(tiny_data),
        "--teacher",
        str(tiny_teacher_dir),
        "--teacher-epochs",
        "1",
        "--teacher-max-length",
        "32",
        "--student-epochs",
        "1",
        "--augment-iters",
        "1",
        "--name",
        "cli-tiny",
        "--json",
        str(out),
        "-q",
        home=home,
    )
    assert res.returncode == 0, res.stderr
    return home, out, res


def test_pipeline_writes_json_with_every_model(cli_run):
    home, out, res = cli_run
    summary = json.loads(out.read_text())
    assert set(summary["models"]) == ALL_MODELS
    for name, m in summary["models"].items():
        for field in TABLE_FIELDS:
            assert isinstance(m[field], int | float), (name, field)
        assert 0 <= m["accuracy"] <= 1 and 0 <= m["f1"] <= 1 and m["params"] > 0
        assert 0 < m["latency_ms_p50"] <= m["latency_ms_p95"]
    assert summary["kind"] == "pipeline"
    assert summary["data"]["train"] == 120 and summary["data"]["test"] == 60
    # 100 transfer lines + the train rows left after carving dev and capping train at 120
    d = summary["data"]
    assert d["dev"] > 0 and d["dev_source"].startswith("carved")
    assert d["transfer"] == 100 + (160 - d["dev"] - 120)
    assert "stage times (s):" in res.stdout
    assert all(name in res.stdout for name in ALL_MODELS)  # the printed table
    run = Store(home).run(summary["run_id"])
    assert run["status"] == "done" and run["name"] == "cli-tiny"


def test_runs_list_into_a_closed_pipe_exits_quietly(tmp_path):
    """`runs list | head`: a reader that stops early is not an error (no traceback, exit 0)."""
    store = Store(tmp_path / "home")
    for _ in range(50):
        store.create_run("autodistill", {}, name="a search")
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "core", "runs", "list", "--home", str(store.home)]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # closed before the command writes a line
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    head, first = res.stdout.splitlines()[:2]
    assert head.split()[:3] == ["id", "kind", "status"]
    assert first.split()[1:3] == ["autodistill", "queued"]  # the kind no longer runs into it


def test_runs_list_and_show(cli, cli_run):
    home, out, _ = cli_run
    rid = json.loads(out.read_text())["run_id"]
    res = cli("runs", "list", home=home)
    assert res.returncode == 0, res.stderr
    row = next(ln for ln in res.stdout.splitlines()[1:] if ln.split()[0] == str(rid))
    assert row.split()[1:3] == ["pipeline", "done"] and "100%" in row
    res = cli("runs", "show", str(rid), home=home)
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    assert shown["id"] == rid and shown["status"] == "done"
    assert set(shown["results"]) == ALL_MODELS
    assert {a["name"] for a in shown["artifacts"]} >= ALL_MODELS - {"teacher"} | {"teacher"}
    assert shown["config"]["teacher"]["epochs"] == 1


def test_runs_show_unknown_or_missing_id(cli, cli_run):
    home, _, _ = cli_run
    res = cli("runs", "show", "9999", home=home)
    assert res.returncode == 2 and "no run 9999" in res.stderr
    res = cli("runs", "show", home=home)
    assert res.returncode == 2 and "give a run id" in res.stderr


def test_distill_reuses_an_earlier_teacher(cli, cli_run, tiny_data, tmp_path):
    home, out, _ = cli_run
    first = json.loads(out.read_text())
    out2 = tmp_path / "distill.json"
    res = cli(
        "distill",
        *_data_flags(tiny_data),
        "--teacher-run",
        str(first["run_id"]),
        "--students",
        "textcnn",
        "--no-plain",
        "--loss",
        "soft_ce",
        "--student-epochs",
        "1",
        "--augment-iters",
        "1",
        "--json",
        str(out2),
        "-q",
        home=home,
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(out2.read_text())
    assert summary["kind"] == "distill" and summary["run_id"] != first["run_id"]
    assert set(summary["models"]) == {"teacher", "textcnn_distilled"}
    assert summary["models"]["teacher"]["accuracy"] == first["models"]["teacher"]["accuracy"]
    assert "label" not in summary["timings"]  # same teacher, same texts: logits from the cache
    run = Store(home).run(summary["run_id"])
    assert run["teacher"] == f"run {first['run_id']} (teacher)"
    assert run["config"]["students"][0]["loss"] == "soft_ce"


def test_reusing_a_teacher_on_its_own_training_texts_is_refused(cli, cli_run, tiny_data):
    """The teacher of the first run trained on tiny train.tsv: scoring on that file drops every
    test row it saw (the one leakage rule, core.data.checks), which leaves none: refused before
    any run is created, with the count."""
    home, out, _ = cli_run
    first = json.loads(out.read_text())
    before = len(Store(home).runs())
    res = cli(
        "distill",
        "--train", str(tiny_data.train), "--test", str(tiny_data.train),
        "--teacher-run", str(first["run_id"]), "-q",
        home=home,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "test split (after dropping 160 rows the teacher saw) is empty" in res.stderr
    assert len(Store(home).runs()) == before


def test_distill_without_teacher_run_exits_2(cli, tiny_data, tmp_path):
    home = tmp_path / "home"
    res = cli("distill", *_data_flags(tiny_data), "-q", home=home)
    assert res.returncode == 2
    assert "needs --teacher-run" in res.stderr
    assert Store(home).runs() == []


def test_failed_run_exits_1_and_is_recorded(cli, tiny_data, tmp_path):
    home = tmp_path / "home"
    not_a_model = tmp_path / "empty-dir"
    not_a_model.mkdir()
    res = cli("teacher", *_data_flags(tiny_data), "--teacher", str(not_a_model), "-q", home=home)
    assert res.returncode == 1
    assert "failed" in res.stderr and "has no config.json" in res.stderr
    (run,) = Store(home).runs()
    assert run["status"] == "failed" and "has no config.json" in run["error"]


def test_runs_cancel_and_delete(cli, tmp_path):
    store = Store(tmp_path)
    rid = store.create_run("pipeline", {})
    folder = store.run_dir(rid)
    (folder / "x.txt").write_text("x")
    store.log_metrics(rid, "teacher/loss", [(1, 0.5)])
    store.update_run(rid, status="running", pid=os.getpid())  # as if this process ran it
    res = cli("runs", "cancel", str(rid), home=tmp_path)
    assert res.returncode == 0 and store.cancel_requested(rid)
    assert "stops at its next step" in res.stdout
    res = cli("runs", "delete", str(rid), home=tmp_path)  # still running: refused, with the reason
    assert res.returncode == 2 and f"run {rid} is running: cancel it first" in res.stderr
    assert store.run(rid)["status"] == "running" and folder.exists() and store.metrics(rid)
    store.update_run(rid, status="cancelled")  # what the run does at its next step
    res = cli("runs", "delete", str(rid), home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert store.runs() == [] and store.metrics(rid) == [] and not folder.exists()


def test_ctrl_c_during_students_cancels_cleanly(tiny_data, tiny_teacher_dir, tmp_path):
    """SIGINT while the students train: `cancelled` within seconds, the losses so far kept."""
    home = tmp_path / "home"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "core", "pipeline", *_data_flags(tiny_data)]
    cmd += ["--teacher", str(tiny_teacher_dir), "--teacher-epochs", "1"]
    cmd += ["--teacher-max-length", "32", "--augment-iters", "1", "--student-epochs", "500"]
    cmd += ["-q", "--home", str(home)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            runs = Store(home).runs() if (home / "distillery.db").exists() else []
            if runs and runs[0]["stage"] == "students":
                series = {m["series"] for m in Store(home).metrics(runs[0]["id"])}
                if any(s.endswith("_plain/loss") for s in series):  # a student is training
                    break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert took < 10 and "cancelling at the next step" in err
    (run,) = Store(home).runs()
    assert run["status"] == "cancelled" and "cancelled during students" in run["error"]
    assert run["finished"] is not None and run["cancel_requested"] == 1
    series = {m["series"] for m in Store(home).metrics(run["id"])}
    assert "teacher/loss" in series
    assert series - {"teacher/loss", "teacher/dev_accuracy", ETA_SERIES}  # a student's curve
    assert Store(home).results(run["id"]) == []


def test_exec_runs_only_queued_runs(cli, tmp_path):
    store = Store(tmp_path)
    res = cli("exec", "7", home=tmp_path)
    assert res.returncode == 2 and "no run 7" in res.stderr
    rid = store.create_run("teacher", {})
    store.update_run(rid, status="done")
    res = cli("exec", str(rid), home=tmp_path)
    assert res.returncode == 2 and f"run {rid} is done, not queued" in res.stderr
    assert store.run(rid)["status"] == "done"
    bad = store.create_run("nonsense", {})
    res = cli("exec", str(bad), home=tmp_path)
    assert res.returncode == 1
    assert store.run(bad)["status"] == "failed" and "unknown run kind" in store.run(bad)["error"]


SECOND_CTRL_C = """
import sys, time
from core.cli.foreground import cancel_on_signals
from core.runs.context import RunContext
from core.runs.store import Store
store = Store(sys.argv[1])
rid = store.create_run("teacher", {})
store.start_run(rid)
with cancel_on_signals(store, rid, RunContext(store, rid)):
    print("ready", flush=True)
    while True:  # a long stage that never reaches a step boundary
        time.sleep(0.05)
"""


def test_second_ctrl_c_exits_at_once(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", SECOND_CTRL_C, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)  # the first only asks the run to stop at its next step...
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)  # ...the second does not wait for it
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Ctrl-C again to quit at once" in err
    (run,) = Store(tmp_path).runs()
    assert run["status"] == "cancelled" and run["cancel_requested"] == 1
    assert "Ctrl-C twice" in run["error"]
