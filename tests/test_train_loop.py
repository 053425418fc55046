"""The one training loop: dev selection by the metric a config names, max_steps, batching."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from core.train.batches import length_batches
from core.train.loop import fit
from core.train.select import score
from core.train.stage import DevCheck, OptimSettings, Stage


def test_macro_f1_counts_every_class_equally():
    pred, gold = [0, 0, 0, 0], [0, 0, 0, 1]
    assert score("accuracy", pred, gold, 2) == 0.75
    assert score("macro_f1", pred, gold, 2) == pytest.approx((2 * 0.75 / 1.75) / 2)
    with pytest.raises(ValueError, match="unknown dev metric"):
        score("auc", pred, gold, 2)


def test_length_batches_cover_every_row_once_in_a_seeded_order():
    lengths = [5, 1, 9, 3, 7, 2, 8]
    a = length_batches(lengths, 2, random.Random(1))
    assert sorted(i for b in a for i in b) == list(range(7))
    assert a == length_batches(lengths, 2, random.Random(1))


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_fit_logs_each_term_selects_on_the_named_metric_and_stops_at_max_steps(metric):
    torch.manual_seed(0)
    x, y = torch.randn(40, 4), torch.randint(0, 2, (40,))
    model = nn.Linear(4, 2)
    points: dict[str, list] = {}

    class Ctx:
        def log_point(self, series, step, value):
            points.setdefault(series, []).append(step)

        def step(self, loss=None):
            pass

    def loss(idx, progress):
        out = model(x[idx])
        return {"ce": nn.functional.cross_entropy(out, y[idx]), "l2": 0.0 * out.sum()}

    stage = Stage(
        "s", model, list(model.parameters()), loss, [1] * 40, 8, 3,
        OptimSettings(lr=0.1, warmup=0.1, clip=1.0),
        series="m",
        dev=DevCheck(lambda: model(x).argmax(-1), y.tolist(), 2, metric),
        max_steps=7,
    )  # fmt: skip
    result = fit([stage], random.Random(0), Ctx())
    assert result.step == 7
    assert points["m/ce"] == points["m/loss"] == list(range(1, 8))
    assert points[f"m/dev_{metric}"] == [5, 7]
    assert 0.0 <= result.best["s"] <= 1.0


def test_adam_and_adamw_are_fused_on_the_cpu_where_every_parameter_is_float32():
    """torch steps Adam / AdamW on the CPU one elementwise op at a time per tensor unless asked
    for its fused kernel (3.5x faster on m3e-small's update); a float64 parameter keeps the loop."""
    from core.train.optim import optimisers

    def stage(model: nn.Module, optimiser: str) -> Stage:
        return Stage(
            name="s",
            model=model,
            params=list(model.parameters()),
            loss=lambda b, p: {},
            lengths=[1, 2],
            batch_size=1,
            epochs=1,
            optim=OptimSettings(lr=1e-3, optimiser=optimiser, weight_decay=0.01),
        )

    for name in ("adam", "adamw"):
        (opt,), _ = optimisers(stage(nn.Linear(3, 2), name), total=2)
        assert opt.defaults["fused"] is True, name
    (opt,), _ = optimisers(stage(nn.Linear(3, 2).double(), "adamw"), total=2)
    assert not opt.defaults.get("fused")
    # and it steps: the fused update moves the weights as the loop's does
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3)
    loop = torch.optim.AdamW(b.parameters(), lr=1e-3, weight_decay=0.01)
    (fused,), _ = optimisers(stage(a, "adamw"), total=2)
    for m, o in ((a, fused), (b, loop)):
        m(x).sum().backward()
        o.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-6)
