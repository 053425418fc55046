"""The stakeholder summary of a run as plain sentences with the numbers in them (the Report page
and the HTML report). Plain functions, no Streamlit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.evaluate.sanity import flags_from_results
from dashboard.formatting import fmt_ms, fmt_score, fmt_times, human_bytes, human_count, pct
from dashboard.labels import arch_name, data_source
from dashboard.result_tables import plain_twins, speed_figure, summary_records


def report_sentences(run: Mapping[str, Any], results: list[Mapping[str, Any]]) -> list[str]:
    """The stakeholder summary of one run, as plain sentences with the numbers in them."""
    rs = [r for r in results if r["run_id"] == run["id"]]
    if not rs:
        return [f"Run #{run['id']} has no evaluated models yet."]
    out = []
    d = run.get("data") or {}
    if d:
        what = "sentence pairs" if d.get("task") == "pair" else "texts"
        out.append(
            f"Data: {data_source(run)} with {d.get('train', '?')} labelled training {what}, "
            f"{d.get('transfer', '?')} unlabelled transfer {what} and {d.get('test', '?')} "
            f"test {what} (classes: {', '.join(d.get('labels') or []) or '?'})."
        )
    t = next((r for r in rs if r.get("role") == "teacher"), None)
    if t:
        out.append(
            f"The teacher ({teacher_words(run, t)}, {human_count(t.get('params'))} "
            f"parameters, {human_bytes(t.get('size_bytes'))}) reaches {pct(t.get('accuracy'))} "
            f"accuracy (F1 {fmt_score(t.get('f1'))}) and answers one sentence in "
            f"{teacher_speed(t)}."
        )
    selection = selection_sentence(d, rs)
    if selection:
        out.append(selection)
    for flag in flags_from_results(rs).get(run["id"], []):
        out.append(f"Warning: {flag.text}")
    out += twin_sentences(rs)
    for row in summary_records(rs):
        out += student_sentences(row)
    return out


def teacher_words(run: Mapping[str, Any], t: Mapping[str, Any]) -> str:
    """The teacher's name; an ensemble as its members (their logits averaged)."""
    members = (t.get("detail") or {}).get("members")
    if members:
        return f"an ensemble of {' and '.join(members)}, logits averaged"
    return run.get("teacher") or "BERT"


METRIC_WORDS = {"accuracy": "accuracy", "macro_f1": "macro-F1"}


def selection_sentence(data: Mapping[str, Any], rs: list[Mapping[str, Any]]) -> str:
    """Which dev metric picked the models' best epochs (and why, when `auto` chose it)."""
    used = sorted({m for r in rs if (m := (r.get("detail") or {}).get("select_metric"))})
    if not used:
        return ""
    words = " or ".join(METRIC_WORDS.get(m, m) for m in used)
    sel = data.get("selection") or {}
    why = ""
    if sel.get("auto") in used:
        counts = "/".join(str(c) for c in sel.get("class_counts") or [])
        state = "imbalanced" if sel.get("imbalanced") else "balanced"
        why = f" (auto: the training labels are {state}, {counts} rows per class)"
    return f"Each model's best dev epoch was picked on {words}{why}."


def teacher_speed(t: Mapping[str, Any]) -> str:
    """The teacher's median latency as deployed (ONNX) when measured, else in PyTorch, with a
    warning when it was measured under contention."""
    onnx = bool((t.get("detail") or {}).get("onnx_latency_ms_p50"))
    ms, why = speed_figure(t, onnx)
    text = f"{fmt_ms(ms)} (median{', as deployed (ONNX)' if onnx else ''})"
    return f"{text}, measured under contention ({why})" if why else text


def student_sentences(row: Mapping[str, Any]) -> list[str]:
    """The sentences of one student row of `summary_records`: what the distilled student
    reaches, how much faster and smaller it is, and what the distillation bought over the
    plain student (the share of the teacher's lead it closed)."""
    out: list[str] = []
    arch = row["student"]
    if row["distilled acc"] is None:
        if row["plain acc"] is not None:
            out.append(f"The plain {arch} reaches {pct(row['plain acc'])} accuracy.")
        return out
    s = (
        f"The distilled {arch} reaches {pct(row['distilled acc'])} accuracy "
        f"(F1 {fmt_score(row['distilled F1'])})"
    )
    ratio, on = row["speed-up vs teacher"], row.get("latency used") or "PyTorch"
    if ratio and not row.get("latency contended"):
        deployed = " as deployed (ONNX)" if on == "ONNX" else ""
        s += (
            f", is {ratio:.1f}x faster than the teacher{deployed} "
            f"({fmt_ms(row['distilled latency p50 (ms)'])} per sentence)"
        )
    if row["x smaller than teacher"]:
        s += f" and {fmt_times(row['x smaller than teacher'], 'smaller')}"
    out.append(s + ".")
    if ratio and row.get("latency contended"):
        # a ratio on a figure taken while other work ran says more about the machine than the
        # models: no headline, the reason instead
        out.append(
            f"Its speed-up over the teacher is not stated: a {on} latency it would compare was "
            f"measured under contention ({row['latency contended']}); time both again on a quiet "
            "machine."
        )
    if row["plain acc"] is not None and row["teacher acc"] is not None:
        diff = row["distilled acc"] - row["plain acc"]
        trend = "higher" if diff > 0 else "lower"
        base = (
            f"Trained on the labels alone, the plain {arch} reaches {pct(row['plain acc'])}, "
            f"so the distilled {arch} scores {abs(100 * diff):.1f} points {trend}"
            if diff
            else f"Trained on the labels alone, the plain {arch} also reaches "
            f"{pct(row['plain acc'])}, so distillation makes no difference"
        )
        g = row["gap closed"]
        if g is not None and g >= 0:
            out.append(
                f"{base}; it closes {100 * g:.0f}% of the accuracy gap between "
                f"the plain {arch} ({pct(row['plain acc'])}) and the teacher "
                f"({pct(row['teacher acc'])})."
            )
        elif g is not None:
            out.append(
                f"{base}; it closes none of the accuracy gap between the plain {arch} "
                f"({pct(row['plain acc'])}) and the teacher ({pct(row['teacher acc'])}): "
                f"the share closed is {100 * g:.0f}%."
            )
        else:
            out.append(
                f"{base}; the plain {arch} is already level with or ahead of the teacher "
                f"({pct(row['teacher acc'])}), so there is no teacher-vs-plain gap to close "
                "(a teacher that a label-trained student matches has little to teach: see "
                "the warnings above)."
            )
    return out


def twin_sentences(results: list[Mapping[str, Any]]) -> list[str]:
    """One sentence per group of plain twins that are one model."""
    arch = {(r["run_id"], r["model"]): r.get("arch") for r in results}
    out = []
    for (run_id, host), twins in plain_twins(results).items():
        names = [arch_name(arch.get((run_id, t))) for t in twins]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        verb = "is" if len(names) == 1 else "are"
        out.append(
            f"The plain {listed} {verb} the same model as the plain "
            f"{arch_name(arch.get((run_id, host)))} (the same student trained on the labels "
            "alone), trained once and reported under each name."
        )
    return out
