"""Time that holds: a whole-run ETA over every stage (evaluation and the stages not yet started
included), calibrated by earlier finished runs on this machine; bounded latency timings that say
how many calls each median rests on; a queued run that says when it will likely start."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import to_dict
from core.evaluate.metrics import MIN_CALLS, MIN_CALLS_OVER_BUDGET, latency_stats, time_calls
from core.runs.config import PipelineConfig
from core.runs.context import RunContext
from core.runs.eta import ETA_SERIES, eta_errors, queue_starts, remaining_s
from core.runs.execute import execute
from core.runs.store import Store

ROOT = Path(__file__).resolve().parent.parent
PLAN = {"data": 1, "teacher": 4, "evaluate": 2}


def _stage(ctx: RunContext, name: str, steps: int, step_s: float) -> None:
    ctx.stage(name, steps)
    for _ in range(steps):
        time.sleep(step_s)
        ctx.step()


def _finish(store: Store, rid: int, ctx: RunContext) -> None:
    store.update_run(rid, status="done", finished=time.time(), timings=ctx.finish())


def test_eta_counts_the_stages_not_yet_started_and_evaluation(tmp_path):
    store = Store(tmp_path / "home")
    rid = store.create_run("teacher", {"name": "a"}, status="running")
    ctx = RunContext(store, rid, flush_every_s=0.0)
    ctx.plan(PLAN)
    _stage(ctx, "data", 2, 0.05)  # 0.1 s for weight 1
    ctx.stage("teacher", 4)
    time.sleep(0.1)
    ctx.step()
    eta = store.run(rid)["eta_s"]
    this_stage = 0.1 * 3  # what the old per-stage ETA said: the teacher's 3 steps to go
    # + the evaluate stage, not started: weight 2 at this run's measured ~0.1 s per weight
    assert eta > this_stage + 0.1, eta
    assert eta < (this_stage + 0.2) * 2.5, eta  # (slack for a loaded test machine)
    for _ in range(3):
        time.sleep(0.1)
        ctx.step()
    ctx.stage("evaluate", 2)  # the last stage: its estimate is all that is left
    assert store.run(rid)["eta_s"] > 0.1
    time.sleep(0.1)
    ctx.step()
    time.sleep(0.1)
    ctx.step()
    assert store.run(rid)["eta_s"] < 0.05
    _finish(store, rid, ctx)
    assert [m for m in store.metrics(rid) if m["series"] == ETA_SERIES]  # recorded as it went


def test_a_second_run_is_estimated_from_the_first_ones_stage_times(tmp_path):
    store = Store(tmp_path / "home")
    first = store.create_run("teacher", {"name": "a", "x": 1}, status="running")
    ctx = RunContext(store, first, flush_every_s=0.0)
    ctx.plan(PLAN)
    _stage(ctx, "data", 1, 0.05)
    _stage(ctx, "teacher", 2, 0.3)  # the teacher costs far more than its weight says
    _stage(ctx, "evaluate", 1, 0.05)
    _finish(store, first, ctx)
    took = sum(store.run(first)["timings"].values())

    second = store.create_run("teacher", {"name": "b", "x": 1}, status="running")
    ctx2 = RunContext(store, second, flush_every_s=0.0)
    ctx2.plan(PLAN)
    ctx2.stage("data", 1)  # nothing measured in this run yet: the first run's times say
    eta = store.run(second)["eta_s"]
    assert abs(eta - took) < 0.15, (eta, took)
    # the weights alone (no history) would have said far less for the teacher stage
    no_history = remaining_s(PLAN, {"data": 0.05}, "", 0, 0, 0.0)
    assert no_history < 0.6 * (took - 0.05)


def test_a_stage_whose_weight_is_wrong_is_estimated_from_its_own_steps_early():
    """The first run's default students stage: its weight said twice what it took (the plan's
    guess), and the ETA kept most of that guess until late in the stage (+75% at three quarters
    of the run). After a tenth of its steps the stage's own step times alone say what is left."""
    plan = {"teacher": 40, "students": 24, "evaluate": 8}
    done = {"teacher": 160.0}  # 4 s per weight: the plan says 96 s for the students
    # the students really take 48 s: 0.1 s a step over 480 steps; 10% and 20% done
    at10 = remaining_s(plan, done, "students", 48, 480, 4.8)
    at20 = remaining_s(plan, done, "students", 96, 480, 9.6)
    # evaluate, not started: its weight at the seconds per weight measured so far
    assert at10 == pytest.approx(43.2 + 8 * 164.8 / 42.4)
    assert at20 == pytest.approx(38.4 + 8 * 169.6 / 44.8)
    # before a tenth, the plan's guess still weighs in (noisy first steps): in between
    at5 = remaining_s(plan, done, "students", 24, 480, 2.4)
    evaluate = 8 * 162.4 / 41.2
    assert 45.6 + evaluate < at5 < 96 - 2.4 + evaluate


def test_eta_errors_at_quarters_of_a_finished_run(tmp_path):
    store = Store(tmp_path / "home")
    rid = store.create_run("teacher", {}, status="running")
    store.update_run(rid, started=1000.0, finished=1100.0, status="done")
    # an ETA that said 80 s left at 20 s (actual 80) and 40 s left at 50 s (actual 50)
    store.log_metrics(rid, ETA_SERIES, [(20, 80.0), (50, 40.0), (70, 30.0)])
    errs = eta_errors(store, rid)
    assert errs["at"]["25%"]["error"] == 0.0
    assert errs["at"]["50%"]["error"] == -0.2  # promised 20% too little
    assert errs["at"]["75%"]["elapsed_s"] == 70


def test_timing_loops_stop_at_a_stable_median_or_their_budget():
    texts = [str(i) for i in range(200)]
    fast = time_calls(lambda t: sum(range(200)), texts, budget_s=5.0)
    assert MIN_CALLS <= len(fast) < 200  # a steady call: the median is known long before 200
    slow = time_calls(lambda t: time.sleep(0.02), texts, warmup=2, budget_s=0.05)
    assert len(slow) == MIN_CALLS_OVER_BUDGET  # past its budget, but never below the minimum
    stats = latency_stats(lambda t: time.sleep(0.02), texts, budget_s=0.05)
    assert stats["latency_calls"] == MIN_CALLS_OVER_BUDGET
    assert len(time_calls(len, texts)) == 200  # no budget: every text, as before


def test_pipeline_results_record_the_calls_each_median_rests_on(tmp_path, tiny_cfg):
    store = Store(tmp_path / "home")
    cfg = tiny_cfg(latency_samples=60)
    rid = store.create_run("pipeline", {"name": ""})
    execute(store, rid, "pipeline", cfg, RunContext(store, rid))
    assert store.run(rid)["status"] == "done", store.run(rid)["error"]
    rows = {r["model"]: r["detail"] for r in store.results(rid)}
    assert "teacher" in rows and len(rows) > 1
    for name, m in rows.items():
        for prefix in ("latency", "tokenize", "onnx_latency", "onnx_model"):
            assert MIN_CALLS_OVER_BUDGET <= m[f"{prefix}_calls"] <= 60, (name, prefix, m)
        assert m["latency_n"] == m["latency_calls"]
        assert 2 <= m["throughput_batches"] <= 8 and m["evaluate_s"] >= 0
    errs = eta_errors(store, rid)  # the helper benchmarks/first_run.py uses
    assert set(errs["at"]) == {"25%", "50%", "75%"}


def _queue_home(home: Path) -> tuple[Store, int, int]:
    """A store with a finished run (the calibration), a running one 2 minutes from its end and
    two queued behind it, served by a live one-slot worker."""
    store = Store(home)
    cfg = {"name": "", "kind_of": "same"}
    old = store.create_run("teacher", cfg, status="running")
    store.update_run(
        old, status="done", finished=time.time(), timings={"data": 5, "teacher": 50, "evaluate": 5}
    )
    running = store.create_run("teacher", cfg, status="running")
    store.update_run(running, worker="w1", stage="teacher", eta_s=120.0, progress=0.3)
    store.heartbeat(running)
    first = store.create_run("teacher", cfg)
    second = store.create_run("teacher", cfg)
    default = store.create_run("pipeline", to_dict(PipelineConfig()), status="running")
    stages = {"data": 2, "teacher": 60, "augment": 1, "label": 40, "tokenize": 1}
    timings = stages | {"students": 40, "evaluate": 6}  # 150 s in all
    store.update_run(default, status="done", finished=time.time(), timings=timings)
    store.register_worker("w1", "local", 1)
    store.worker_beat("w1", [running])
    return store, first, second


def test_queued_runs_start_after_the_running_ones_eta_and_the_ones_ahead(tmp_path):
    store, first, second = _queue_home(tmp_path / "home")
    starts = queue_starts(store)
    assert starts[first] == 120.0  # when the running run ends
    assert starts[second] == 120.0 + 60.0  # then the first queued run's calibrated 60 s


def test_train_page_says_when_a_queued_run_will_likely_start(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DISTILLERY_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    store, first, _ = _queue_home(home)
    at = AppTest.from_file(str(ROOT / "pages/train.py"), default_timeout=120).run()
    assert not at.exception
    shown = "\n".join(str(p.proto.text) for p in at.get("progress"))
    assert "likely starts in about 2m 00s" in shown, shown
    assert "likely starts in about 3m 00s" in shown, shown
    captions = "\n".join(str(c.value) for c in at.caption)
    assert "left for the whole run (evaluation included)" in captions, captions
    # the promise comes from the finished default run's timings, not a fixed sentence
    assert "should take about 2m 30s" in captions, captions
    if os.cpu_count() and os.cpu_count() >= 4:
        assert "second slot" in captions


def test_runs_list_shows_the_eta_and_when_queued_runs_start(tmp_path):
    from conftest import run_cli

    store, first, second = _queue_home(tmp_path / "home")
    out = run_cli("runs", "list", "--home", str(store.home), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ETA 2m00s (whole run)" in out.stdout
    assert "starts in ~2m00s" in out.stdout and "starts in ~3m00s" in out.stdout


def test_first_run_estimate_scales_the_reference_run_by_the_speed_probe():
    """Before any run has finished, the untouched default run is the reference run's time
    times (this probe / the reference probe); any other settings get no promise at all, since
    the stage weights do not know how cost grows with data or methods."""
    import dataclasses

    from core.runs.eta import REFERENCE_PROBE_S, REFERENCE_RUN_S, first_run_estimate
    from core.train.device import speed_probe_s

    cfg = PipelineConfig()
    assert first_run_estimate(cfg, REFERENCE_PROBE_S) == pytest.approx(REFERENCE_RUN_S)
    assert first_run_estimate(cfg, 2 * REFERENCE_PROBE_S) == pytest.approx(2 * REFERENCE_RUN_S)
    renamed = dataclasses.replace(cfg, name="my first run")
    assert first_run_estimate(renamed, REFERENCE_PROBE_S) == pytest.approx(REFERENCE_RUN_S)
    one_method = dataclasses.replace(cfg, students=cfg.students[:1])
    assert first_run_estimate(one_method, REFERENCE_PROBE_S) is None
    assert first_run_estimate(cfg, 0.0) is None
    probe = speed_probe_s()
    assert 0.0005 < probe < 5.0  # a real product was timed: well under a second on any CPU


def test_the_cli_says_before_a_default_run_how_long_it_should_take(tmp_path):
    """`python -m core pipeline` with no flags writes the embedded set's row cap into its config
    (the page leaves it None): still the untouched run, so the CLI says the probe's estimate;
    other settings get no promise until a finished run calibrates them, and once a run has
    finished, its timings speak instead."""
    from core.cli.foreground import expected_note
    from core.cli.parser import build_parser
    from core.cli.run_flags import config_from_args

    store = Store(tmp_path / "home")
    cfg = config_from_args(build_parser().parse_args(["pipeline"]))
    first = store.create_run("pipeline", to_dict(cfg), status="running")
    assert "expected to take roughly" in expected_note(store, first, "pipeline", cfg)
    other = config_from_args(build_parser().parse_args(["pipeline", "--max-train", "300"]))
    second = store.create_run("pipeline", to_dict(other), status="running")
    assert expected_note(store, second, "pipeline", other) is None  # no promise it cannot keep
    took = {"data": 5, "teacher": 100, "augment": 5, "label": 60, "tokenize": 5}
    took |= {"students": 60, "evaluate": 5}  # 240 s
    store.update_run(first, status="done", finished=time.time(), timings=took)
    third = store.create_run("pipeline", to_dict(PipelineConfig()), status="running")
    note = expected_note(store, third, "pipeline", PipelineConfig())
    assert note == "expected to take about 4m00s (earlier finished runs here)", note
