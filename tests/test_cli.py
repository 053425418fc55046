"""`python -m core ...` run as a real subprocess, against real files and a real store."""

from __future__ import annotations

import json

import pytest

from core.store import Store

ALL_MODELS = {"teacher", "bilstm_plain", "bilstm_distilled", "textcnn_plain", "textcnn_distilled"}
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
    assert f"{tiny_data.train}: ok, 160 rows, encoding utf-8, classes 0: 80, 1: 80" in res.stdout


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
    assert "3 rows, encoding gb18030" in res.stdout
    assert f"{gbk}:3: warning: duplicate of line 1" in res.stderr


def test_data_check_labels_and_unlabelled(cli, tmp_path, tiny_data):
    res = cli("data", "check", str(tiny_data.transfer), "--unlabelled")
    assert res.returncode == 0 and "ok, 100 unlabelled texts" in res.stdout
    test = tmp_path / "test.tsv"
    test.write_text("0\t不好\n2\t还行\n", encoding="utf-8")
    res = cli("data", "check", str(test), "--labels", "0,1")
    assert res.returncode == 2 and f"{test}:2: error: unknown label '2'" in res.stderr


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
    assert summary["data"]["transfer"] == 140  # 100 transfer lines + 40 train leftovers
    assert "stage times (s):" in res.stdout
    assert all(name in res.stdout for name in ALL_MODELS)  # the printed table
    run = Store(home).run(summary["run_id"])
    assert run["status"] == "done" and run["name"] == "cli-tiny"


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
    res = cli("runs", "cancel", str(rid), home=tmp_path)
    assert res.returncode == 0 and store.cancel_requested(rid)
    res = cli("runs", "delete", str(rid), home=tmp_path)
    assert res.returncode == 0, res.stderr
    assert store.runs() == [] and store.metrics(rid) == [] and not folder.exists()
