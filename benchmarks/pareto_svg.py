"""The accuracy-vs-latency chart of docs/benchmarks.md as a dependency-free SVG, drawn from a
benchmark's JSON.

    python benchmarks/pareto_svg.py benchmarks/results/hotel.json   # writes hotel_pareto.svg
    python benchmarks/pareto_svg.py A.json B.json --out C.svg       # rows of several runs

x: batch-1 p50 latency (ms, log scale), y: accuracy (mean over seeds) with a bar of +-1 sd
where a row has several seeds; filled marks are distilled students, hollow ones plain twins,
the square is the teacher; the dashed step line is the Pareto front (no other model is both
faster and more accurate). Several JSONs of the same teacher are drawn as one chart (the
teacher from the first; a model name already drawn is skipped): their latencies were timed in
different runs, which the title says.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

COLOURS = {
    "bilstm": "#1f77b4",
    "textcnn": "#ff7f0e",
    "kd": "#2ca02c",
    "pkd_skip": "#d62728",
    "pkd_last": "#9467bd",
    "theseus": "#8c564b",
    "tinybert": "#e377c2",
    "bilstm_char": "#17becf",
    "textcnn_char": "#bcbd22",
    "teacher": "#111111",
}


def front(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """(latency, accuracy, name) points no other point beats on both, fastest first."""
    out, best = [], -1.0
    for p in sorted(points, key=lambda p: (p[0], -p[1])):
        if p[1] > best:
            out.append(p)
            best = p[1]
    return out


def svg(rows: list[dict], title: str, width: int = 760, height: int = 440) -> str:
    pts = [(r["latency_ms_p50"], r["accuracy"], r["model"]) for r in rows]
    sds = {r["model"]: r.get("accuracy_sd") or 0.0 for r in rows}
    left, right, top, bottom = 60, 190, 40, 50
    xs = [math.log10(p[0]) for p in pts]
    lo_x, hi_x = math.floor(min(xs) * 2) / 2, math.ceil(max(xs) * 2) / 2
    lo_y = math.floor(min(p[1] - sds[p[2]] for p in pts) * 20) / 20
    hi_y = math.ceil(max(p[1] + sds[p[2]] for p in pts) * 20) / 20

    def X(ms: float) -> float:
        return left + (math.log10(ms) - lo_x) / (hi_x - lo_x) * (width - left - right)

    def Y(acc: float) -> float:
        return top + (hi_y - acc) / (hi_y - lo_y) * (height - top - bottom)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14" font-weight="bold">{title}</text>',
    ]
    for v in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500):
        if lo_x <= math.log10(v) <= hi_x:
            x = X(v)
            out.append(
                f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#eee"/>'
            )
            out.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{v:g}</text>'
            )
    y = lo_y
    while y <= hi_y + 1e-9:
        out.append(
            f'<line x1="{left}" y1="{Y(y):.1f}" x2="{width - right}" y2="{Y(y):.1f}" stroke="#eee"/>'
        )
        out.append(f'<text x="{left - 6}" y="{Y(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
        y += 0.05
    out.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">'
        "batch-1 p50 latency, ms (log scale)</text>"
    )
    out.append(
        f'<text x="16" y="{(top + height - bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {(top + height - bottom) / 2})">accuracy</text>'
    )
    f = front(pts)
    path = []
    for i, (ms, acc, _) in enumerate(f):
        if i:
            path.append(f"L{X(ms):.1f},{Y(f[i - 1][1]):.1f}")
        path.append(f"{'M' if not i else 'L'}{X(ms):.1f},{Y(acc):.1f}")
    out.append(f'<path d="{" ".join(path)}" fill="none" stroke="#555" stroke-dasharray="5,4"/>')
    for ms, acc, name in pts:
        method = name.rsplit("_", 1)[0] if name != "teacher" else "teacher"
        c = COLOURS.get(method, "#7f7f7f")
        sd = sds[name]
        if sd > 0:  # +-1 sd over seeds, with caps
            x, y0, y1 = X(ms), Y(acc - sd), Y(acc + sd)
            out.append(
                f'<path d="M{x:.1f},{y0:.1f} L{x:.1f},{y1:.1f} M{x - 4:.1f},{y0:.1f} '
                f'L{x + 4:.1f},{y0:.1f} M{x - 4:.1f},{y1:.1f} L{x + 4:.1f},{y1:.1f}" '
                f'stroke="{c}" stroke-width="1.2"/>'
            )
        if name == "teacher":
            out.append(
                f'<rect x="{X(ms) - 6:.1f}" y="{Y(acc) - 6:.1f}" width="12" height="12" fill="{c}"/>'
            )
        else:
            fill = c if name.endswith("_distilled") else "white"
            out.append(
                f'<circle cx="{X(ms):.1f}" cy="{Y(acc):.1f}" r="6" fill="{fill}" stroke="{c}" '
                f'stroke-width="2"><title>{name}: {acc:.3f} ± {sd:.3f} at {ms:.2f} ms</title>'
                "</circle>"
            )
    ly = top
    for method, c in COLOURS.items():
        if not any(p[2] == method or p[2].startswith(method + "_") for p in pts):
            continue
        out.append(f'<circle cx="{width - right + 20}" cy="{ly}" r="5" fill="{c}"/>')
        out.append(f'<text x="{width - right + 32}" y="{ly + 4}">{method}</text>')
        ly += 18
    out.append(f'<text x="{width - right + 14}" y="{ly + 8}" fill="#555">filled: distilled</text>')
    out.append(
        f'<text x="{width - right + 14}" y="{ly + 24}" fill="#555">hollow: plain twin</text>'
    )
    out.append(
        f'<text x="{width - right + 14}" y="{ly + 40}" fill="#555">dashed: Pareto front</text>'
    )
    out.append(f'<text x="{width - right + 14}" y="{ly + 56}" fill="#555">bar: ±1 sd, seeds</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", type=Path, help="benchmark JSONs (same teacher)")
    ap.add_argument("--out", type=Path, help="SVG path (default: <first>_pareto.svg)")
    args = ap.parse_args()
    rows, seeds = [], []
    for path in args.results:
        result = json.loads(path.read_text())
        seeds.append(str(len(result["run_ids"])))
        drawn = {r["model"] for r in rows}
        rows += [
            r for r in result["rows"] if not r.get("same_model_as") and r["model"] not in drawn
        ]
    first = args.results[0]
    out = args.out or first.with_name(first.stem + "_pareto.svg")
    runs = "" if len(args.results) == 1 else f", {len(args.results)} runs"
    title = f"{out.stem}: accuracy vs batch-1 latency ({'/'.join(seeds)} seed(s), mean{runs})"
    out.write_text(svg(rows, title))
    print(f"written {out}")


if __name__ == "__main__":
    main()
