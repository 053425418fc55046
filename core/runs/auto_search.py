"""The coordinator of one autodistill search in this process (`Search`): the Optuna study
rebuilt from the store, trials asked (pruned before training when their untrained student is
too slow, else queued as distill runs of the search's teacher), told when they finish, and
transformer trials cancelled when their dev curve falls behind (see core.runs.autodistill)."""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

from core import methods
from core.config import to_dict
from core.runs import auto_answer, auto_space
from core.runs.auto_config import AutoConfig
from core.runs.auto_probe import Prober
from core.runs.auto_trials import compared_on, curve_verdict, dev_curve, trial_rows
from core.runs.config import PipelineConfig, pipeline_from_dict
from core.runs.store import ACTIVE, FINAL
from core.runs.sweep import Coordinator
from core.runs.teacher_timing import TimingSource

log = logging.getLogger(__name__)

CALIBRATED_SAFETY = 1.25  # a calibrated prediction must be this far over the budget to prune
# an untrained student measured as deployed up to this far over the budget still trains, then
# judged by its trained, measured p50: probes run beside training trials, and beside one the
# deployed probe read a median 1.4-1.5x the quiet measurement (benchmarks/autodistill_probe.py)
DEPLOYED_TOLERANCE = 1.5
PROBES_PER_TRIAL = 6  # at most this many probes per trained trial (a space mostly over budget)


@dataclass
class Search:
    """One search's state in this process: the study, its trials in flight, its records."""

    co: Coordinator
    auto: AutoConfig
    base: PipelineConfig
    prober: Prober
    depth: int
    seed: int
    study: Any = None
    in_flight: dict[int, Any] = dataclasses.field(default_factory=dict)  # run -> trial | None
    probes: int = 0
    trained: int = 0
    numbers: int = 0  # the next trial number (ours: Optuna's restart from 0 on a rebuilt study)
    curves: dict[int, list[float]] = dataclasses.field(default_factory=dict)  # finished runs
    timing: TimingSource = dataclasses.field(init=False)  # the one teacher, timed once

    def __post_init__(self) -> None:
        self.timing = TimingSource(self.store, self.sid, "auto_trial")

    @property
    def store(self):
        return self.co.ctx.store

    @property
    def sid(self) -> int:
        return self.co.ctx.run_id

    def search_run(self) -> dict[str, Any]:
        return self.store.run(self.sid)

    def note(self, key: str, value: Any) -> None:
        """Append to a list in the search run's config (the store keeps the search's state)."""
        run = self.search_run()
        config = dict(run["config"])
        config[key] = [*config.get(key, []), value]
        self.store.update_run(self.sid, config=config)

    def trial_config(self, params: dict[str, Any], seed: int | None = None) -> PipelineConfig:
        cfg = pipeline_from_dict(to_dict(self.base))
        student = auto_space.student_config(params, seed)
        if self.auto.max_epochs and student.epochs > self.auto.max_epochs:
            student = dataclasses.replace(student, epochs=self.auto.max_epochs)
        cfg.students = [student]
        n_iter = int(params.get("n_iter", cfg.augment.n_iter))
        cfg.use_augmentation = cfg.use_augmentation and n_iter > 0
        if n_iter > 0:
            cfg.augment = dataclasses.replace(cfg.augment, n_iter=n_iter)
        cfg.teacher_timing_run = self.timing.run_for(cfg)
        return cfg

    # -- the study, rebuilt from the store ----------------------------------------------------
    def rebuild(self) -> None:
        import optuna
        from optuna.distributions import json_to_distribution
        from optuna.trial import TrialState, create_trial

        with warnings.catch_warnings():  # constraints_func: deprecated in 5.0, still supported
            warnings.simplefilter("ignore", FutureWarning)
            sampler = optuna.samplers.TPESampler(seed=self.seed, constraints_func=constraints)
        self.study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        run = self.search_run()
        records = {r["trial"]: r for r in trial_rows(self.store, run)}
        dists_of = {}
        for child in self.store.runs(parent=self.sid):
            info = child["config"].get("auto_trial")
            if info and info.get("role") == "trial":
                dists_of[info["number"]] = info["dists"]
        for p in run["config"].get("autodistill_pruned", []):
            dists_of[p["number"]] = p["dists"]
        self.numbers = 1 + max(records, default=-1)
        for number in sorted(records):
            r = records[number]
            if r["status"] in ACTIVE:
                self.in_flight[r["run"]] = None  # waited for, then added as finished
                self.co.mine.append(r["run"])  # and cancelled with the search
                self.trained += 1
                continue
            dists = {k: json_to_distribution(v) for k, v in dists_of[number].items()}
            if r["status"] == "pruned":
                self.probes += 1
                told = r.get("probe_deployed_ms") or r["probe_ms"]
                values, state = [0.0, told], TrialState.COMPLETE
                over = told - self.auto.budget_ms
            elif "score" in r:
                self.trained += 1
                values, state = [r["score"], r["p50_ms"]], TrialState.COMPLETE
                over = r["p50_ms"] - self.auto.budget_ms
            else:  # failed, cancelled or pruned on its dev curve
                self.trained += 1
                values, state, over = None, TrialState.PRUNED, 0.0
            self.study.add_trial(
                create_trial(
                    params=r["params"],
                    distributions=dists,
                    values=values,
                    state=state,
                    user_attrs={"run": r["run"], "constraint": [over]},
                )
            )
        if not records and self.auto.cheap_first:
            for params in auto_space.cheap_first(self.auto.methods):
                self.study.enqueue_trial(params)

    # -- asking ---------------------------------------------------------------------------------
    def ask_one(self) -> None:
        """Ask for a trial; prune it before training if its untrained student is too slow,
        else queue it as a distill run."""
        from optuna.distributions import distribution_to_json

        trial = self.study.ask()
        number = self.numbers
        self.numbers += 1
        params = auto_space.suggest(trial, self.auto.methods, self.depth)
        dists = {k: distribution_to_json(v) for k, v in trial.distributions.items()}
        scfg = auto_space.student_config(params)
        probe = self.prober.p50_ms(scfg)
        deployed = self.prober.deployed_ms(scfg)  # None for a transformer
        self.probes += 1
        if self.over_budget(params["method"], probe, deployed):
            told = probe if deployed is None else deployed
            trial.set_user_attr("constraint", [told - self.auto.budget_ms])
            self.study.tell(trial, [0.0, told])
            record = {"number": number, "params": params, "dists": dists, "probe_ms": probe}
            record["probe_deployed_ms"] = deployed
            self.note("autodistill_pruned", record)
            log.info(
                "autodistill %d: trial %d (%s) pruned before training: %.3f ms untrained%s",
                self.sid,
                number,
                auto_space.describe(params),
                probe,
                "" if deployed is None else f" ({deployed:.3f} ms as deployed)",
            )
            return
        cfg = dataclasses.replace(
            self.trial_config(params), name=f"autodistill {self.sid} trial {number}"
        )
        info = {
            "search": self.sid,
            "role": "trial",
            "number": number,
            "params": params,
            "dists": dists,
            "probe_ms": probe,
            "probe_deployed_ms": deployed,
        }
        rid = self.co.submit("distill", cfg, extra={"auto_trial": info})
        self.in_flight[rid] = trial
        self.trained += 1

    def over_budget(self, method: str, probe_ms: float, deployed_ms: float | None = None) -> bool:
        """Whether a trial whose untrained student timed `probe_ms` (PyTorch) cannot meet the
        budget as deployed: its untrained deployed figure where there is one (a word or
        character student) over the budget by more than timing noise; else predicted with the
        smallest deployed / probe ratio of its family's trained trials (with a safety factor),
        or, before any, over `probe_margin` x budget."""
        if deployed_ms is not None:
            return deployed_ms > DEPLOYED_TOLERANCE * self.auto.budget_ms
        family = methods.get(method).family
        ratios = [
            r["p50_ms"] / r["probe_ms"]
            for r in trial_rows(self.store, self.search_run())
            if "score" in r and r["probe_ms"] and methods.get(r["method"]).family == family
        ]
        if ratios:
            return probe_ms * min(ratios) > CALIBRATED_SAFETY * self.auto.budget_ms
        return probe_ms > self.auto.probe_margin * self.auto.budget_ms

    # -- telling --------------------------------------------------------------------------------
    def collect(self) -> None:
        """Tell the study about every trial run that has finished."""
        import optuna

        rows = {r["run"]: r for r in trial_rows(self.store, self.search_run()) if r["run"]}
        for rid in [r for r in self.in_flight if self.store.run(r)["status"] in FINAL]:
            trial = self.in_flight.pop(rid)
            r = rows[rid]
            if trial is None:  # a trial from before a resume: rebuilt with the others later
                self.rebuild_one(r)
            elif "score" in r:
                trial.set_user_attr("constraint", [r["p50_ms"] - self.auto.budget_ms])
                trial.set_user_attr("run", rid)
                self.study.tell(trial, [r["score"], r["p50_ms"]])
                told = {"number": r["trial"], "run": rid, "values": [r["score"], r["p50_ms"]]}
                self.note("autodistill_told", told)  # what the study compared, kept
            else:
                self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self.co.ctx.step()
            self.message()

    def rebuild_one(self, r: dict[str, Any]) -> None:
        from optuna.distributions import json_to_distribution
        from optuna.trial import TrialState, create_trial

        run = self.store.run(r["run"])
        dists = {
            k: json_to_distribution(v) for k, v in run["config"]["auto_trial"]["dists"].items()
        }
        done = "score" in r
        self.study.add_trial(
            create_trial(
                params=r["params"],
                distributions=dists,
                values=[r["score"], r["p50_ms"]] if done else None,
                state=TrialState.COMPLETE if done else TrialState.PRUNED,
                user_attrs={
                    "run": r["run"],
                    "constraint": [(r["p50_ms"] - self.auto.budget_ms) if done else 0.0],
                },
            )
        )

    def prune_curves(self) -> None:
        """Cancel a transformer trial whose dev curve is below that of a finished trial at
        least as fast (by the untrained probe) at the same dev check (see `curve_verdict`)."""
        rows = trial_rows(self.store, self.search_run())
        by_run = {r["run"]: r for r in rows if r["run"]}
        watched = [
            by_run[rid]
            for rid in self.in_flight
            if rid in by_run
            and by_run[rid]["status"] == "running"
            and methods.get(by_run[rid]["method"]).family == "transformer"
        ]
        if not watched:
            return
        finished = [r for r in rows if "score" in r and r["run"]]
        for r in finished:
            if r["run"] not in self.curves:
                self.curves[r["run"]] = dev_curve(self.store, r["run"])
        rivals = [(r["probe_ms"], self.curves[r["run"]]) for r in finished]
        for r in watched:
            verdict = curve_verdict(dev_curve(self.store, r["run"]), r["probe_ms"], rivals)
            if verdict is None:
                continue
            check, mine, best = verdict
            log.info(
                "autodistill %d: trial %d pruned at dev check %d (%.4f < %.4f)",
                self.sid,
                r["trial"],
                check,
                mine,
                best,
            )
            self.note("autodistill_curve_pruned", r["trial"])
            self.store.request_cancel(r["run"])

    def message(self) -> None:
        rows = trial_rows(self.store, self.search_run())
        best = auto_answer.winner_under([r for r in rows if "score" in r], self.auto.budget_ms)
        text = f"{self.trained}/{self.auto.trials} trials, {self.probes} probed"
        if best:
            split = compared_on(self.search_run())
            text += f"; best under budget: {best['description']} {split} {best['score']:.4f}"
        self.store.update_run(self.sid, message=text)

    def search(self, deadline: float | None) -> None:
        ctx = self.co.ctx
        while True:
            more = (
                self.trained < self.auto.trials
                and (deadline is None or time.monotonic() < deadline)
                and self.probes < PROBES_PER_TRIAL * self.auto.trials
            )
            while more and len(self.in_flight) < self.auto.parallel:
                self.ask_one()
                ctx.check_cancel()
                more = (
                    self.trained < self.auto.trials
                    and self.probes < PROBES_PER_TRIAL * self.auto.trials
                )
            if not more and not self.in_flight:
                return
            ctx.check_cancel()
            self.collect()
            self.prune_curves()
            if self.in_flight:
                self.co.keep_a_worker()
                time.sleep(0.5)


def constraints(trial) -> list[float]:
    """Optuna's constraint of a trial: its p50 over the budget (> 0: infeasible)."""
    return list(trial.user_attrs.get("constraint", [0.0]))
