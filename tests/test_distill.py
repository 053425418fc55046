"""Distillation losses by hand, and real BiLSTM / TextCNN students trained on a toy task."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from core.data.text import Vocab, tokenize
from core.methods._word_config import StudentConfig
from core.methods._word_fit import distill_loss, train_student
from core.methods._word_models import load_student

# -- losses -----------------------------------------------------------------------------------

S = torch.tensor([[2.0, -1.0], [0.5, 0.3], [-1.5, 1.0], [0.0, 2.5]])
T = torch.tensor([[3.0, -2.0], [1.0, 0.0], [-2.0, 2.0], [0.5, 1.5]])
NO_GOLD = torch.tensor([-1, -1, -1, -1])


def test_mse_equals_f_mse_loss():
    got = distill_loss(S, T, NO_GOLD, "mse")
    assert torch.allclose(got, F.mse_loss(S, T))
    by_hand = sum((s - t) ** 2 for s, t in zip(S.flatten(), T.flatten(), strict=True)) / S.numel()
    assert math.isclose(got.item(), by_hand.item(), rel_tol=1e-6)


def _soft_ce_by_hand(student: torch.Tensor, teacher: torch.Tensor, t: float) -> float:
    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist(), strict=True):
        zt = sum(math.exp(v / t) for v in t_row)
        zs = sum(math.exp(v / t) for v in s_row)
        p = [math.exp(v / t) / zt for v in t_row]
        log_q = [v / t - math.log(zs) for v in s_row]
        total += -sum(pi * lq for pi, lq in zip(p, log_q, strict=True))
    return total / len(student)


@pytest.mark.parametrize("temp", [1.0, 2.0, 4.0])
def test_soft_ce_is_cross_entropy_of_softened_targets_times_t_squared(temp):
    got = distill_loss(S, T, NO_GOLD, "soft_ce", temperature=temp).item()
    ce = _soft_ce_by_hand(S, T, temp)
    assert math.isclose(got, ce * temp * temp, rel_tol=1e-5)
    torch_ce = F.cross_entropy(S / temp, F.softmax(T / temp, dim=-1)).item()
    assert math.isclose(got, torch_ce * temp * temp, rel_tol=1e-5)


def test_hard_ignores_unlabelled_rows():
    labels = torch.tensor([0, -1, 1, -1])
    got = distill_loss(S, None, labels, "hard")
    assert torch.allclose(got, F.cross_entropy(S[[0, 2]], labels[[0, 2]]))
    other = S.clone()
    other[[1, 3]] = torch.tensor([[9.0, -9.0], [-7.0, 7.0]])
    assert torch.allclose(distill_loss(other, None, labels, "hard"), got)
    assert torch.allclose(distill_loss(S, T, labels, "hard"), got)  # teacher ignored
    with pytest.raises(ValueError, match="no gold labels"):
        distill_loss(S, None, NO_GOLD, "hard")


def _ce_by_hand(row: list[float], y: int) -> float:
    return math.log(sum(math.exp(v) for v in row)) - row[y]


def test_alpha_mixes_per_labelled_row_by_hand():
    """alpha * distill + (1 - alpha) * CE on gold rows, distill alone on unlabelled rows,
    averaged over all rows; computed here without torch."""
    labels = [0, 1, -1, 1]
    alpha = 0.3
    rows = []
    for s_row, t_row, y in zip(S.tolist(), T.tolist(), labels, strict=True):
        mse = sum((a - b) ** 2 for a, b in zip(s_row, t_row, strict=True)) / len(s_row)
        rows.append(mse if y < 0 else alpha * mse + (1 - alpha) * _ce_by_hand(s_row, y))
    by_hand = sum(rows) / len(rows)
    got = distill_loss(S, T, torch.tensor(labels), "mse", alpha=alpha)
    assert math.isclose(got.item(), by_hand, rel_tol=1e-6)
    # alpha = 1: the distillation loss alone; alpha = 0: gold rows CE only, the rest distil
    assert torch.allclose(
        distill_loss(S, T, torch.tensor(labels), "mse", alpha=1.0), F.mse_loss(S, T)
    )
    zero = distill_loss(S, T, torch.tensor(labels), "mse", alpha=0.0).item()
    mse_row2 = F.mse_loss(S[2], T[2]).item()
    ce = [_ce_by_hand(S[i].tolist(), labels[i]) for i in (0, 1, 3)]
    assert math.isclose(zero, (sum(ce) + mse_row2) / 4, rel_tol=1e-6)
    # a batch with no gold label has nothing to mix in
    assert torch.allclose(distill_loss(S, T, NO_GOLD, "mse", alpha=0.3), F.mse_loss(S, T))


def test_alpha_mix_does_not_depend_on_gold_share():
    """A gold row weighs the same in a batch of 1 gold + 3 unlabelled as in an all-gold batch:
    the loss of a batch equals the mean of its rows' losses taken one at a time."""
    labels = torch.tensor([0, -1, -1, -1])
    whole = distill_loss(S, T, labels, "soft_ce", alpha=0.5, temperature=2.0)
    one_by_one = [
        distill_loss(S[i : i + 1], T[i : i + 1], labels[i : i + 1], "soft_ce", 0.5, 2.0)
        for i in range(4)
    ]
    assert torch.allclose(whole, torch.stack(one_by_one).mean())


def test_unknown_loss_is_rejected():
    with pytest.raises(ValueError, match="unknown loss"):
        distill_loss(S, T, NO_GOLD, "kl")


def test_losses_have_gradients():
    s = S.clone().requires_grad_(True)
    distill_loss(s, T, torch.tensor([0, 1, -1, 1]), "soft_ce", alpha=0.5).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0


# -- students on a separable toy task -----------------------------------------------------------

POS = ["good", "great", "excellent", "lovely", "superb"]
NEG = ["bad", "awful", "poor", "terrible", "dreadful"]
FILLER = (
    "the room staff hotel bed view pool food was is and a very at in of with our stay night "
    "service breakfast location price desk floor window"
).split()


def _toy(n: int, seed: int) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        y = i % 2
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 9))]
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(POS if y else NEG))
        texts.append(" ".join(words))
        labels.append(y)
    return texts, labels


@pytest.fixture(scope="module")
def toy():
    train_x, train_y = _toy(400, 1)
    test_x, test_y = _toy(200, 2)
    toks = [tokenize(t, "en") for t in train_x]
    vocab = Vocab.build(toks, "en")
    seqs = [vocab.encode(t, 40) for t in toks]
    return train_x, train_y, test_x, test_y, vocab, seqs


def _cfg(arch: str, loss: str = "hard", **kw) -> StudentConfig:
    base = dict(
        method=arch,
        loss=loss,
        epochs=6,
        batch_size=32,
        embed_dim=32,
        hidden_dim=32,
        dense_dim=32,
        num_filters=16,
        max_len=40,
        lr=5e-3,
        dropout=0.1,
        seed=3,
    )
    base.update(kw)
    return StudentConfig(**base)


def _accuracy(student, texts, labels) -> float:
    pred = student.logits(texts).argmax(-1)
    return float((pred == torch.tensor(labels)).float().mean())


@pytest.fixture(scope="module")
def trained(toy):
    """Each architecture trained twice: on hard labels, and distilled from teacher logits only."""
    train_x, train_y, _, _, vocab, seqs = toy
    teacher = torch.tensor([[2.0, -2.0] if y == 0 else [-2.0, 2.0] for y in train_y])
    out = {}
    for arch in ("bilstm", "textcnn"):
        out[f"{arch}_plain"] = train_student(
            f"{arch}_plain", _cfg(arch), vocab, ["neg", "pos"], seqs, train_y
        )
        # distilled: no gold label at all, only the teacher's logits
        out[f"{arch}_distilled"] = train_student(
            f"{arch}_distilled",
            _cfg(arch, "mse"),
            vocab,
            ["neg", "pos"],
            seqs,
            [-1] * len(seqs),
            teacher_logits=teacher,
        )
    return out


@pytest.mark.parametrize(
    "name", ["bilstm_plain", "bilstm_distilled", "textcnn_plain", "textcnn_distilled"]
)
def test_students_learn_the_toy_task(trained, toy, name):
    _, _, test_x, test_y, _, _ = toy
    student = trained[name]
    assert student.method == name.split("_")[0]
    assert _accuracy(student, test_x, test_y) >= 0.95


def test_untrained_student_is_at_chance(toy):
    train_x, train_y, test_x, test_y, vocab, seqs = toy
    s = train_student("x", _cfg("bilstm", epochs=0), vocab, ["neg", "pos"], seqs, train_y)
    assert _accuracy(s, test_x, test_y) < 0.8  # so the 0.95 above is learnt, not given


def test_soft_ce_student_learns_too(toy):
    train_x, train_y, test_x, test_y, vocab, seqs = toy
    teacher = torch.tensor([[2.0, -2.0] if y == 0 else [-2.0, 2.0] for y in train_y])
    s = train_student(
        "cnn",
        _cfg("textcnn", "soft_ce", temperature=2.0, alpha=0.5),
        vocab,
        ["neg", "pos"],
        seqs,
        train_y,
        teacher_logits=teacher,
    )
    assert _accuracy(s, test_x, test_y) >= 0.95


def test_training_is_reproducible(toy):
    train_x, train_y, test_x, _, vocab, seqs = toy
    cfg = _cfg("textcnn", epochs=1)
    a = train_student("a", cfg, vocab, ["neg", "pos"], seqs, train_y)
    b = train_student("b", cfg, vocab, ["neg", "pos"], seqs, train_y)
    assert torch.equal(a.logits(test_x[:20]), b.logits(test_x[:20]))


@pytest.mark.parametrize("name", ["bilstm_distilled", "textcnn_plain"])
def test_save_load_round_trip_gives_identical_logits(trained, toy, tmp_path, name):
    _, _, test_x, _, _, _ = toy
    student = trained[name]
    folder = student.save(tmp_path / name)
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "vocab.json", "student.json"}
    loaded = load_student(folder)
    assert loaded.method == student.method and loaded.label_names == ["neg", "pos"]
    assert loaded.cfg == student.cfg and loaded.vocab.itos == student.vocab.itos
    assert loaded.num_params() == student.num_params()
    assert torch.equal(loaded.logits(test_x), student.logits(test_x))
    for t in test_x[:10]:
        assert torch.equal(loaded.predict_logits(t), student.predict_logits(t))


def test_textcnn_handles_one_word_inputs(trained):
    student = trained["textcnn_plain"]
    assert max(student.cfg.kernel_sizes) == 5
    for word, y in (("excellent", 1), ("terrible", 0)):
        logits = student.predict_logits(word)
        assert logits.shape == (2,) and torch.isfinite(logits).all()
        assert int(logits.argmax()) == y
    batch = student.logits(["good", "awful", "", "zzz-unknown"])
    assert batch.shape == (4, 2) and torch.isfinite(batch).all()
    assert batch[:2].argmax(-1).tolist() == [1, 0]


def test_bilstm_batched_logits_match_single_calls(trained, toy):
    """Padding in a batch must not change a text's logits (packed sequences)."""
    _, _, test_x, _, _, _ = toy
    student = trained["bilstm_plain"]
    texts = sorted(test_x[:16], key=len) + ["good"]
    batch = student.logits(texts)
    single = torch.stack([student.predict_logits(t) for t in texts])
    assert torch.allclose(batch, single, atol=1e-5)


@pytest.mark.parametrize("pair", [False, True])
def test_bilstm_padded_batch_equals_packed_sequence(pair):
    """The training path runs each direction over a padded batch (faster on the CPU than a
    packed sequence): its states and gradients must be those of the packed LSTM."""
    from torch.nn.utils.rnn import pack_padded_sequence

    from core.methods._word_models import BiLSTM, final_states

    torch.manual_seed(0)
    model = BiLSTM(50, 2, StudentConfig(method="bilstm", embed_dim=8, hidden_dim=6), pair=pair)
    lengths = torch.tensor([7, 1, 4, 7, 2, 5])
    ids = torch.randint(1, 50, (6, 7)) * (torch.arange(7) < lengths.unsqueeze(1))
    x = model.embed(ids).detach().requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)

    ours = final_states(model.lstm, x, lengths)
    packed = pack_padded_sequence(x2, lengths, batch_first=True, enforce_sorted=False)
    _, (h, _) = model.lstm(packed)
    theirs = torch.cat([h[0], h[1]], dim=-1)
    assert torch.allclose(ours, theirs, atol=1e-6)

    weights = torch.linspace(-1, 1, ours.shape[-1])
    model.zero_grad()
    (ours * weights).sum().backward()
    ours_grads = [p.grad.clone() for p in model.lstm.parameters()]
    model.zero_grad()
    (theirs * weights).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-6)
    for a, b in zip(ours_grads, model.lstm.parameters(), strict=True):
        assert torch.allclose(a, b.grad, atol=1e-5)
    # and the model reads a batch through this path: row 1 (one token) as if alone
    model.eval()
    with torch.no_grad():
        batch = model.encode(ids, lengths)
        alone = model.encode(ids[1:2, :1])
    assert torch.allclose(batch[1], alone[0], atol=1e-6)
