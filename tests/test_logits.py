"""The teacher-logits cache: keyed by teacher, length and texts; safe with concurrent writers."""

from __future__ import annotations

import threading

import pytest
import torch

from core.teacher.logits import cache_path, teacher_logits
from core.teacher.model import Teacher


@pytest.fixture(scope="module")
def teacher(tiny_teacher_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher_dir).eval()
    return Teacher(tok, model, 32, torch.device("cpu"), ["0", "1"], fingerprint="tiny")


TEXTS = ["房间很干净", "服务太差了", "早餐一般", "位置很好，交通方便"]


def test_logits_keep_input_order(teacher):
    batched = teacher.logits(TEXTS, batch_size=2)  # length-sorted inside, original order out
    single = torch.stack([teacher.predict_one(t) for t in TEXTS])
    assert batched.shape == (4, 2) and batched.dtype == torch.float32
    assert torch.allclose(batched, single, atol=1e-5)


def test_second_call_comes_from_cache(teacher, tmp_path):
    first, cached = teacher_logits(teacher, TEXTS, tmp_path)
    assert not cached
    path = cache_path(tmp_path, teacher, TEXTS)
    assert path.is_file() and path.suffix == ".safetensors"
    mtime = path.stat().st_mtime_ns
    again, cached = teacher_logits(teacher, TEXTS, tmp_path)
    assert cached and torch.equal(again, first)
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_cache_key_depends_on_texts_length_and_teacher(teacher, tmp_path):
    base = cache_path(tmp_path, teacher, TEXTS)
    assert cache_path(tmp_path, teacher, TEXTS[::-1]) != base
    assert cache_path(tmp_path, teacher, TEXTS[:3]) != base
    other = Teacher(teacher.tokenizer, teacher.model, 16, teacher.device, ["0", "1"], "tiny")
    assert cache_path(tmp_path, other, TEXTS) != base
    retrained = Teacher(teacher.tokenizer, teacher.model, 32, teacher.device, ["0", "1"], "new")
    assert cache_path(tmp_path, retrained, TEXTS) != base


def test_concurrent_writers_of_one_entry_all_succeed(teacher, tmp_path):
    """Two runs sharing a teacher label the same texts at the same moment."""
    texts = TEXTS[:2]
    path = cache_path(tmp_path, teacher, texts)
    expected = teacher.logits(texts)
    errors: list[str] = []
    results: list[torch.Tensor] = []
    for _ in range(30):
        path.unlink(missing_ok=True)
        barrier = threading.Barrier(4)

        def work(barrier=barrier):
            barrier.wait()
            try:
                results.append(teacher_logits(teacher, texts, tmp_path)[0])
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(exc))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len(results) == 120 and all(torch.allclose(r, expected, atol=1e-6) for r in results)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
