"""The teacher-logits cache: keyed by teacher, length and texts; safe with concurrent writers."""

from __future__ import annotations

import threading

import pytest
import torch

from core.teacher.logits import cache_path, label_precision, quantized, teacher_logits
from core.teacher.model import Teacher, batched_logits


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


def test_int8_labels_are_close_keyed_apart_and_leave_the_teacher_alone(teacher, tmp_path):
    """--label-int8: a quantised copy labels (its Linear layers int8), the teacher stays fp32."""
    fp32, _ = teacher_logits(teacher, TEXTS, tmp_path)
    int8, cached = teacher_logits(teacher, TEXTS, tmp_path, int8=True)
    assert not cached  # the fp32 entry is not served to an int8 run, nor the other way round
    assert cache_path(tmp_path, teacher, TEXTS, int8=True) != cache_path(tmp_path, teacher, TEXTS)
    assert "cpu-int8" in cache_path(tmp_path, teacher, TEXTS, int8=True).name
    assert not torch.equal(int8, fp32)  # really computed in int8
    assert (int8 - fp32).abs().max() < 0.1 * fp32.abs().max() + 0.05
    assert label_precision(teacher, int8=True) == "int8" and label_precision(teacher) == "fp32"
    assert isinstance(teacher.model.classifier, torch.nn.Linear)  # not quantised in place
    assert torch.equal(teacher.logits(TEXTS), fp32)
    assert not isinstance(quantized(teacher).model.classifier, torch.nn.Linear)
    again, cached = teacher_logits(teacher, TEXTS, tmp_path, int8=True)
    assert cached and torch.equal(again, int8)


def test_label_batches_are_by_length_but_visited_in_a_shuffled_order(teacher):
    """The label pass pads each batch to texts of about one length, and visits those batches
    in a fixed shuffled order (so its progress steps cost alike, for the ETA; in length order
    the long batches all came last): the logits stay those of the texts, in their order."""
    texts = [t * k for k in range(1, 6) for t in TEXTS]  # 20 texts of many lengths
    widths: list[int] = []

    def prepare(enc):
        widths.append(enc["input_ids"].shape[1])
        return enc

    out = batched_logits(teacher.model, teacher.tokenizer, texts, 32, 2, 4, prepare=prepare)
    assert len(widths) == 5 and widths != sorted(widths)
    single = torch.stack([teacher.predict_one(t) for t in texts])
    assert torch.allclose(out, single, atol=1e-5)
