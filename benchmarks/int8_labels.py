"""Does the int8 copy of a teacher label like the teacher? fp32 against int8 (the copy
core.teacher.logits.quantized makes for `--label-int8`) on the first N labelled rows of a file:
accuracy of each against the gold labels, how often they pick the same class, which classes
each predicts, and the mean absolute logit difference. Runs check a 256-text sample the same
way before labelling (`int8_agreement`); this script shows what lies behind that figure.

    python benchmarks/int8_labels.py --teacher-dir HOME/runs/1/teacher \\
        --data ../shared/data/snli_zh/test.txt --n 400
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import ROOT, save_and_print, setup_logging

from core.data.load import load_labelled
from core.teacher.logits import quantized
from core.teacher.model import load_teacher
from core.train.device import cpu_model


def measure(teacher_dir: str, data: str, n: int) -> dict:
    teacher = load_teacher(teacher_dir, device="cpu")
    rows = load_labelled(data)
    names = list(teacher.label_names)
    texts = rows.texts[:n]
    gold = torch.tensor([names.index(rows.label_names[y]) for y in rows.labels[:n]])
    out: dict = {"teacher": teacher_dir, "data": data, "n": len(gold), "labels": names}
    out["gold_counts"] = torch.bincount(gold, minlength=len(names)).tolist()
    logits = {}
    for name, model in (("fp32", teacher), ("int8", quantized(teacher))):
        t0 = time.perf_counter()
        logits[name] = model.logits(texts, 32)
        pred = logits[name].argmax(-1)
        out[name] = {
            "accuracy": round((pred == gold).float().mean().item(), 4),
            "pred_counts": torch.bincount(pred, minlength=len(names)).tolist(),
            "mean_max_prob": round(logits[name].softmax(-1).max(-1).values.mean().item(), 4),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    same = logits["fp32"].argmax(-1) == logits["int8"].argmax(-1)
    out["argmax_agreement"] = round(same.float().mean().item(), 4)
    out["mean_abs_logit_diff"] = round((logits["fp32"] - logits["int8"]).abs().mean().item(), 4)
    out["cpu"] = cpu_model()
    return out


def render(r: dict) -> str:
    lines = [
        f"{r['teacher']} on {r['data']} ({r['n']} rows, gold {r['gold_counts']} of {r['labels']})",
        "| labels | accuracy | predicted per class | mean max prob | s |",
        "|---|---|---|---|---|",
    ]
    for k in ("fp32", "int8"):
        m = r[k]
        lines.append(
            f"| {k} | {m['accuracy']:.3f} | {m['pred_counts']} | {m['mean_max_prob']:.3f} "
            f"| {m['seconds']} |"
        )
    lines.append(
        f"argmax agreement {r['argmax_agreement']:.1%}, mean |logit difference| "
        f"{r['mean_abs_logit_diff']:.3f} ({r['cpu']})"
    )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher-dir", required=True, help="a run's teacher folder")
    p.add_argument("--data", required=True, help="a labelled file (text or pair rows)")
    p.add_argument("--n", type=int, default=400, help="rows compared")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "int8_labels.json"))
    a = p.parse_args()
    setup_logging()
    save_and_print(measure(a.teacher_dir, a.data, a.n), Path(a.out), render)


if __name__ == "__main__":
    main()
