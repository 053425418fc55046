"""The downloadable report: one self-contained HTML file (plotly.js inlined once) and a CSV."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from dashboard.labels import run_label
from dashboard.pareto import budget_sentence, default_budget, pareto_points
from dashboard.pareto_chart import pareto_chart
from dashboard.report_text import report_sentences
from dashboard.result_charts import latency_bars, metric_bars
from dashboard.result_tables import results_frame, summary_rows

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans SC", sans-serif;
       max-width: 1100px; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { color: #6f42c1; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1.5rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; }
th { background: #f4f0fa; } td:first-child, th:first-child { text-align: left; }
.muted { color: #777; font-size: .85rem; }
"""


def report_table(results: list[Mapping[str, Any]]) -> pd.DataFrame:
    """The table behind the CSV download: one row per evaluated model."""
    return results_frame(results)


def _fmt_table(df: pd.DataFrame) -> str:
    shown = df.copy()
    for c in shown.columns:
        if c in ("accuracy", "f1") or c.endswith(("acc", "F1")) or c == "gap closed":
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
        elif c.startswith(("speed-up", "x smaller")):
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.1f}x")
        elif c == "params":
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}")
        elif shown[c].dtype.kind == "f":
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
        elif shown[c].dtype.kind == "O":
            shown[c] = shown[c].map(lambda v: "" if v is None or v is pd.NA else v)
    return shown.to_html(index=False, escape=True, border=0)


def build_report_html(
    runs: list[Mapping[str, Any]],
    results: list[Mapping[str, Any]],
    title: str = "Distillery report",
    budget_ms: float | None = None,
) -> str:
    """A single HTML file that opens offline: the sentences, the tables and the charts (the
    Pareto chart with `budget_ms`, by default half the teacher's median latency)."""
    ids = {r["id"] for r in runs}
    results = [r for r in results if r["run_id"] in ids]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">Generated {time.strftime("%Y-%m-%d %H:%M")} from '
        f"{len(runs)} run(s): {html.escape(', '.join(run_label(r) for r in runs))}.</p>",
    ]
    for run in runs:
        parts.append(f"<h2>{html.escape(run_label(run))}</h2><ul>")
        parts += [f"<li>{html.escape(s)}</li>" for s in report_sentences(run, results)]
        parts.append("</ul>")
    summary = summary_rows(results)
    if not summary.empty:
        parts.append("<h2>Teacher vs plain vs distilled</h2>")
        parts.append(_fmt_table(summary))
    df = results_frame(results)
    if not df.empty:
        parts.append("<h2>Every model</h2>")
        parts.append(_fmt_table(df))
        points = pareto_points(results)
        budget = budget_ms if budget_ms else default_budget(points)
        parts.append("<h2>Latency budget</h2>")
        parts.append(f"<p>{html.escape(budget_sentence(points, budget))}</p>")
        figs = [
            pareto_chart(points, budget),
            metric_bars(df),
            latency_bars(df),
        ]
        parts.append("<h2>Charts</h2>")
        for i, fig in enumerate(figs):
            # plotly.js goes in once, inline, with the first figure: the file works offline.
            parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append("</body></html>")
    return "\n".join(parts)


def report_csv(results: list[Mapping[str, Any]]) -> str:
    return report_table(results).to_csv(index=False)
