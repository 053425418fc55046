"""NewsBERT learns: on a task a tiny teacher masters, its 2-layer student does not fall back to
answering one class (issue #22: it sat at the majority class on shopping/books).

The task is synthetic so that a 4-layer, 32-wide BERT learns it in seconds: a few filler
characters around one marker character that carries the label. Everything else is real: the
teacher is trained here by hand, the student trains through `core.methods` and the one loop.
"""

from __future__ import annotations

import random

import pytest
import torch
from conftest import fine_tuned_deep_bert, shared_inputs

from core import methods
from core.methods._base import StudentJob
from core.methods.newsbert import relative_mse
from core.teacher.model import Teacher

LABELS = ["neg", "pos"]
MARKERS = {0: "差烂坏糟", 1: "好棒赞爱"}
FILLER = "我们你他这那是的了在有个一不人来到说要就会对也能书买看"


def _rows(n: int, rng: random.Random) -> list[tuple[int, str]]:
    rows = []
    for i in range(n):
        y = i % 2
        chars = [rng.choice(FILLER) for _ in range(rng.randint(4, 10))]
        chars.insert(rng.randint(0, len(chars)), rng.choice(MARKERS[y]))
        rows.append((y, "".join(chars)))
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def marker_data(tmp_path_factory):
    from types import SimpleNamespace

    rng = random.Random(7)
    return SimpleNamespace(
        train_rows=_rows(160, rng),
        test_rows=_rows(60, rng),
        transfer_texts=[t for _, t in _rows(100, rng)],
    )


@pytest.fixture(scope="module")
def marker_teacher(tiny_teacher_dir, marker_data) -> Teacher:
    """A 4-layer, 32-wide BERT fine-tuned here on the marker task (100% on its test rows
    after 4 epochs)."""
    tok, model = fine_tuned_deep_bert(tiny_teacher_dir, marker_data.train_rows, 6, 0.02)
    return Teacher(tok, model.eval(), 32, torch.device("cpu"), LABELS)


def _accuracy(pred: torch.Tensor, rows) -> float:
    return (pred == torch.tensor([y for y, _ in rows])).float().mean().item()


def test_newsbert_student_learns_the_task_rather_than_one_class(marker_teacher, marker_data):
    texts = [t for _, t in marker_data.test_rows]
    assert _accuracy(marker_teacher.logits(texts).argmax(-1), marker_data.test_rows) >= 0.9
    shared = shared_inputs(marker_teacher, marker_data, LABELS, n_dev=30)
    cfg = methods.default_config(
        "newsbert", epochs=3, batch_size=16, lr=1e-3, max_length=32, max_texts=200, seed=13
    )  # NewsBERT's own defaults: beta 0.5, hidden weight 1
    job = StudentJob("newsbert_distilled", "distilled", cfg, methods.get("newsbert"))
    student = job.method.train(job, shared, None)
    pred = student.logits(texts).argmax(-1)
    share = torch.bincount(pred, minlength=2).max().item() / len(pred)
    assert share < 0.8, f"the student answers one class for {share:.0%} of the test rows"
    assert _accuracy(pred, marker_data.test_rows) >= 0.8
    # the student reads its own head: the joint teacher's learning does not move it
    joint = student.extras["teacher"].model
    for s_mod, t_mod in (
        (student.model.classifier, joint.classifier),
        (student.model.bert.pooler, joint.bert.pooler),
    ):
        ptrs = {p.data_ptr() for p in t_mod.parameters()}
        assert s_mod is not t_mod and not any(p.data_ptr() in ptrs for p in s_mod.parameters())
        assert not torch.equal(next(s_mod.parameters()), next(t_mod.parameters()))


def test_hidden_term_is_relative_to_the_teachers_scale():
    """A BERT's hidden states run to tens in a few dimensions: the raw MSE then outweighs the
    soft labels. Relative to the target's mean square, scaling both changes nothing, and a
    student that outputs zeros scores 1."""
    torch.manual_seed(0)
    a, b = torch.randn(4, 7, 16), torch.randn(4, 7, 16)
    mask = torch.ones(4, 7)
    mask[0, 5:] = 0
    assert relative_mse(10 * a, 10 * b, mask).item() == pytest.approx(
        relative_mse(a, b, mask).item(), rel=1e-5
    )
    assert relative_mse(torch.zeros_like(b), 30 * b, mask).item() == pytest.approx(1.0)
    assert relative_mse(b, b, mask).item() == 0.0
    assert relative_mse(a[:, 0], b[:, 0]).item() == pytest.approx(
        ((a[:, 0] - b[:, 0]) ** 2).mean().item() / (b[:, 0] ** 2).mean().item(), rel=1e-5
    )
