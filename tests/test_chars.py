"""Character students: BiLSTM / TextCNN on the teacher tokenizer's pieces, trained for real.

The teacher is the tiny 2-layer BERT of conftest (real m3e-small tokenizer, so Chinese text
splits into characters); students train through `core.methods` and a real pipeline / CLI.
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import fast_char_students, shared_inputs

from core import methods
from core.methods._base import Shared, StudentJob
from core.methods._word import initial_embeddings
from core.teacher.model import Teacher

LABELS = ["0", "1"]


class Sink:
    def log_point(self, *a, **k) -> None: ...

    def step(self, *a, **k) -> None: ...


@pytest.fixture(scope="module")
def shared(tiny_teacher_dir, tiny_data) -> Shared:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher_dir).eval()
    teacher = Teacher(tok, model, 32, torch.device("cpu"), LABELS)
    return shared_inputs(teacher, tiny_data, LABELS)


def _cfg(name: str, **kw):
    return next(c for c in fast_char_students(epochs=2, **kw) if c.method == name)


def _train(name: str, shared: Shared, role: str = "distilled", **kw):
    job = StudentJob(f"{name}_{role}", role, _cfg(name, **kw), methods.get(name))
    return job.method.train(job, shared, Sink())


def test_pieces_are_the_teachers_characters(shared):
    toks, _ = shared.piece_tokens(40)
    assert len(toks) == len(shared.texts)
    want = shared.teacher.tokenizer.tokenize(shared.texts[0])[:40]
    assert toks[0] == want
    assert shared.pieces().pieces("房间很干净", 40) == ["房", "间", "很", "干", "净"]
    assert shared.pieces().pieces("房间很干净", 3) == ["房", "间", "很"]


def test_plain_vocabulary_is_gold_pieces_only(shared):
    plain = shared.vocab("plain", 40, 1, "pieces")
    full = shared.vocab("distilled", 40, 1, "pieces")
    gold = {p for toks in shared.piece_tokens(40)[0][: shared.n_gold] for p in toks}
    assert set(plain.itos[2:]) == gold
    assert len(plain) < len(full)


def test_teacher_pca_embeddings_are_the_teachers_rows(shared):
    cfg = _cfg("textcnn_char")
    vocab = shared.vocab("distilled", 40, 1, "pieces")
    init = initial_embeddings(cfg, vocab, shared)
    assert init.shape == (len(vocab), cfg.embed_dim)
    table, t_vocab = shared.teacher_embedding_pca(cfg.embed_dim)
    piece = vocab.itos[5]
    assert torch.equal(init[5], table[t_vocab[piece]])
    assert abs(float(table.std()) - 1.0) < 1e-4  # as wide as a random N(0, 1) embedding
    assert initial_embeddings(_cfg("textcnn_char", embed_init="random"), vocab, shared) is None
    # a student wider than the (32-wide) tiny teacher: every principal direction, then random
    full, _ = shared.teacher_embedding_pca(32)
    wide, _ = shared.teacher_embedding_pca(48)
    assert wide.shape[1] == 48 and torch.equal(wide[:, :32], full)


@pytest.mark.parametrize("name", ["textcnn_char", "bilstm_char"])
def test_char_student_trains_saves_and_reloads(name, shared, tmp_path, tiny_data):
    student = _train(name, shared)
    assert student.info["train_texts"] == len(shared.texts)
    assert student.info["vocab_size"] == len(shared.vocab("distilled", 40, 1, "pieces"))
    assert student.tokenize("房间很干净") == ["房", "间", "很", "干", "净"]
    folder = student.save(tmp_path / name)
    assert (folder / "tokenizer.json").is_file() and (folder / "model.safetensors").is_file()
    back = methods.load_student(folder)
    texts = [t for _, t in tiny_data.test_rows]
    assert torch.equal(back.logits(texts), student.logits(texts))
    assert back.cfg == student.cfg and type(back.cfg).__name__ == "CharStudentConfig"
    # batch-1 scoring equals batched scoring (padding does not leak into the result)
    one = torch.stack([back.predict_logits(t) for t in texts[:8]])
    assert torch.allclose(one, back.logits(texts[:8]), atol=1e-5)


def test_the_embedding_choice_changes_the_student(shared, tiny_data):
    texts = [t for _, t in tiny_data.test_rows]
    pca = _train("textcnn_char", shared).logits(texts)
    rnd = _train("textcnn_char", shared, embed_init="random").logits(texts)
    again = _train("textcnn_char", shared).logits(texts)
    assert torch.equal(pca, again)  # same seed, same student
    assert not torch.equal(pca, rnd)


def test_cli_pipeline_with_character_students(cli, tiny_data, tiny_teacher_dir, tmp_path):
    out = tmp_path / "out.json"
    r = cli(
        "pipeline",
        "--train", str(tiny_data.train),
        "--test", str(tiny_data.test),
        "--transfer", str(tiny_data.transfer),
        "--teacher", str(tiny_teacher_dir),
        "--teacher-epochs", "1",
        "--teacher-max-length", "32",
        "--student-epochs", "1",
        "--augment-iters", "1",
        "--embed-dim", "16",
        "--students", "textcnn_char,bilstm_char",
        "--latency-samples", "5",
        "--json", str(out),
        home=tmp_path / "home",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    models = json.loads(out.read_text())["models"]
    for name in ("textcnn_char", "bilstm_char"):
        plain, dist = models[f"{name}_plain"], models[f"{name}_distilled"]
        assert dist["family"] == "char"
        assert plain["vocab_size"] < dist["vocab_size"]
        assert plain["train_texts"] < dist["train_texts"]
        assert dist["params"] < models["teacher"]["params"]
        for k in ("accuracy", "f1", "latency_ms_p50", "tokenize_ms_p50"):
            assert k in dist
