"""`python -m core autodistill`: the best student for these data under a latency budget.

A run of kind `autodistill` is a sweep (core.runs.sweep) across methods: it queues one teacher
run (or reuses `--teacher-run`), then asks a multi-objective Optuna study (score up, deployed
batch-1 p50 down, the budget as a constraint) for a method and its key settings
(core.runs.auto_space) and queues each trial as a `distill` child run of that teacher, so every
trial shares the teacher, its label cache and (per `n_iter`) the augmented texts.

Cheap before dear:
- a trial's student is first built untrained and timed (core.runs.auto_probe); over
  `probe_margin` x the budget it is pruned before it trains: no run, no artifact;
- the first trials are the small students at their defaults (auto_space.CHEAP_FIRST);
- a transformer trial whose dev curve falls below that of a finished trial at least as fast,
  at the same dev check, is cancelled (Optuna's pruners are single-objective, so the rule is
  ours; it reads the trial's dev points from the store as the training loop logs them).

The store stays the truth: each trial's parameters and distributions are in its run's config
(`auto_trial`), the trials pruned before training in the search run's config
(`autodistill_pruned`), so a killed search resumes (`--resume ID`) by rebuilding the study from
the store; finished trials are not repeated and trials still on the queue are waited for.

Then the winner (best score within the budget) is re-trained with more seeds (its first seed
is the trial itself), with its plain twin as a reference, and `results.json` holds the front,
the winner with its seed figures, the teacher and the plain twin, and the sentence.

The search lives in small modules: its settings (core.runs.auto_config), the space
(auto_space), the probe (auto_probe), the coordinator (auto_search), the trials read back from
the store (auto_trials), the winner's seeds and the answer (auto_confirm, auto_answer) and the
export (auto_export). This module runs one search from start to end.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

from core.data.bundle import load_bundle
from core.runs import auto_answer, auto_space
from core.runs.auto_config import auto_of
from core.runs.auto_confirm import answer, confirm
from core.runs.auto_probe import Prober
from core.runs.auto_search import Search
from core.runs.auto_trials import COMPARED_ON, trial_rows
from core.runs.config import PipelineConfig
from core.runs.stages import teacher_dir
from core.runs.store import ACTIVE
from core.runs.submit import JobManager
from core.runs.sweep import Coordinator, teacher_run_for
from core.teacher.model import load_teacher

log = logging.getLogger(__name__)


def run_autodistill(cfg: PipelineConfig, ctx) -> dict[str, Any]:
    """Execute a search run (kind `autodistill`): teacher, trials, the winner's seeds, answer."""
    import optuna  # lazily: only a search needs it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store, sid = ctx.store, ctx.run_id
    auto = auto_of(store.run(sid))
    auto_space.check_methods(auto.methods)
    co = Coordinator(ctx, JobManager(store, slots=auto.parallel, start_workers=False))
    base = dataclasses.replace(cfg, plain_baseline=False)
    ctx.plan({"teacher": 1.0, "trials": float(auto.trials), "confirm": float(auto.seeds)})
    deadline = time.monotonic() + 60 * auto.minutes if auto.minutes else None
    try:
        teacher_run = earlier_teacher(co, sid) or teacher_run_for(co, base, cfg)
        base = dataclasses.replace(base, teacher_run=teacher_run)
        teacher = load_teacher(teacher_dir(store, teacher_run), "cpu")
        bundle = load_bundle(cfg.data)
        settle_split(store, sid, bundle)
        prober = Prober.from_texts(
            teacher, bundle.train.texts, bundle.label_names, cfg.data.seed, cfg.student_threads
        )
        depth = int(teacher.model.config.num_hidden_layers)
        s = Search(co, auto, base, prober, depth, cfg.data.seed)
        ctx.stage("trials", auto.trials)
        s.rebuild()
        s.search(deadline)
        rows = trial_rows(store, store.run(sid))
        winner = auto_answer.winner_under([r for r in rows if "score" in r], auto.budget_ms)
        runs = confirm(s, winner) if winner is not None else []
    except BaseException:  # cancelled, Ctrl-C, or any failure: the search's runs stop with it
        co.cancel_all()
        raise
    finally:
        co.manager.close()
    out = answer(store, store.run(sid), runs)
    out["teacher_run"] = teacher_run
    out["timings"] = ctx.finish()
    (ctx.run_dir / "results.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))
    if out["winner"] is None:
        fastest = min((r for r in rows if "score" in r), key=lambda r: r["p50_ms"], default=None)
        why = f"no student met {auto.budget_ms:g} ms"
        if fastest:
            why += f"; the fastest was {fastest['description']} at {fastest['p50_ms']:.3f} ms"
        raise RuntimeError(why)
    store.update_run(sid, message=out["sentence"][:500])
    return out


def settle_split(store, sid: int, bundle) -> str:
    """Record which split the search's trials compete on (kept across a resume): the dev rows
    when the data have a dev set, so choosing a trial never looks at the test rows; else the
    test rows, said loudly (the winner's trial figure is then optimistic)."""
    run = store.run(sid)
    split = run["config"].get(COMPARED_ON)
    if split is None:
        older = any(c["config"].get("auto_trial") for c in store.runs(parent=sid))
        split = "dev" if bundle.dev and not older else "test"  # older: searched before dev
        store.update_run(sid, config={**run["config"], COMPARED_ON: split})
    if split == "test":
        why = (
            "its first trials were scored before dev scores were recorded"
            if bundle.dev
            else "the data have no dev set (give --dev, or a --dev-fraction of train)"
        )
        log.warning(
            "autodistill %d: %s: trials are compared on their TEST score, which makes the "
            "choice optimistic",
            sid,
            why,
        )
        store.update_run(sid, message="no dev set: trials compared on the test set")
    else:
        log.info("autodistill %d: trials compared on the dev set (%d rows)", sid, len(bundle.dev))
    return split


def earlier_teacher(co: Coordinator, sid: int) -> int | None:
    """The teacher run this search queued before it was killed (resume), waited for if it is
    still on the queue; None if there is none that finished."""
    for child in co.ctx.store.runs(parent=sid, kind="teacher"):
        if child["status"] in ACTIVE:
            co.wait([child["id"]])
        if co.ctx.store.run(child["id"])["status"] == "done":
            return child["id"]
    return None
