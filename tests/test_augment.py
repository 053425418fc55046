"""Augmentation of Tang et al. 2019 (3.3): masking, POS-guided replacement, n-gram sampling."""

from __future__ import annotations

import random
import re

import pytest

from core.config import AugmentConfig
from core.data.augment import PosTable, augment, pos_tag, preview
from core.data.augment import one_variant as _one
from core.data.text import MASK

ZH = [
    "这家酒店的服务很好",
    "房间太小了而且很吵",
    "早餐不错，下次还来",
    "前台态度非常差",
    "位置方便，交通便利",
    "床很舒服，睡得很好",
    "卫生间有异味，不推荐",
    "价格便宜，性价比高",
    "空调坏了也没人修",
    "服务员热情周到",
    "隔音效果太差了",
    "环境优雅，设施齐全",
]
EN = [
    "the room was very clean and quiet",
    "terrible service and a dirty bathroom",
    "great breakfast and friendly staff",
    "the bed was too small and hard",
    "we loved the pool and the view",
    "noisy street and thin walls",
    "staff were rude at the front desk",
    "excellent location near the station",
]
NOTHING = dict(p_mask=0.0, p_pos=0.0, p_ng=0.0)


def test_reproducible_with_a_fixed_seed():
    cfg = AugmentConfig(n_iter=5, seed=7)
    first = augment(ZH, cfg)
    assert len(first) > len(ZH)
    assert augment(ZH, cfg) == first
    assert augment(ZH, AugmentConfig(n_iter=5, seed=8)) != first


@pytest.mark.parametrize("n_iter", [1, 3, 10])
def test_originals_excluded_no_duplicates_and_n_iter_bound(n_iter):
    texts = ZH + ZH[:3]  # repeated originals in the input do not change the rules
    out = augment(texts, AugmentConfig(p_mask=0.3, p_pos=0.3, p_ng=0.5, n_iter=n_iter, seed=1))
    assert out
    assert not set(out) & set(texts)
    assert len(out) == len(set(out))
    assert len(out) <= n_iter * len(texts)


def test_max_per_example_caps_each_sentence():
    cfg = AugmentConfig(p_mask=0.5, n_iter=10, max_per_example=1, seed=1)
    out = augment(ZH, cfg)
    assert 0 < len(out) <= len(ZH)
    assert len(augment(ZH, AugmentConfig(p_mask=0.5, n_iter=10, seed=1))) > len(out)


def test_no_operation_means_no_synthetic_sentences():
    assert augment(ZH, AugmentConfig(n_iter=5, **NOTHING)) == []
    assert augment(EN, AugmentConfig(n_iter=5, **NOTHING)) == []


def test_unchanged_english_sentence_is_not_passed_off_as_new():
    """Re-joining tokens changes case and punctuation spacing; that is still the original."""
    texts = ["Great breakfast, friendly staff!", "The room was NOT clean."]
    assert augment(texts, AugmentConfig(n_iter=5, **NOTHING)) == []


def test_full_masking_gives_all_mask_outputs():
    cfg = AugmentConfig(p_mask=1.0, p_pos=0.0, p_ng=0.0, n_iter=5, seed=3)
    out = augment(ZH, cfg)
    assert out and all(re.fullmatch(r"(\[MASK\])+", s) for s in out)
    word_counts = {len(pos_tag(t, "zh")) for t in ZH}
    assert {s.count(MASK) for s in out} <= word_counts
    en = augment(EN, cfg)
    assert en and all(set(s.split(" ")) == {MASK} for s in en)


def test_full_masking_with_the_teachers_mask_token():
    out = augment(ZH, AugmentConfig(p_mask=1.0, p_pos=0.0, p_ng=0.0, n_iter=2), "<mask>")
    assert out and all(re.fullmatch(r"(<mask>)+", s) for s in out)


def _table(texts: list[str], lang: str) -> tuple[list[list[tuple[str, str]]], PosTable]:
    tagged = [pos_tag(t, lang) for t in texts]
    return tagged, PosTable.build(tagged)


def test_pos_replacement_uses_same_pos_words_from_training_set():
    tagged, table = _table(ZH, "zh")
    train_words: dict[str, set[str]] = {}
    for sent in tagged:
        for w, t in sent:
            train_words.setdefault(t, set()).add(w)
    cfg = AugmentConfig(p_mask=0.0, p_pos=1.0, p_ng=0.0)
    rng = random.Random(5)
    changed = 0
    for sent in tagged:
        for _ in range(20):
            words = _one(sent, cfg, table, rng, MASK)
            assert len(words) == len(sent)
            for new, (old, tag) in zip(words, sent, strict=True):
                assert new in train_words[tag], (new, old, tag)
                changed += new != old
    assert changed > 50  # replacement really happens, not only identity draws


def test_pos_replacement_end_to_end_english():
    out = augment(EN, AugmentConfig(p_mask=0.0, p_pos=1.0, p_ng=0.0, n_iter=5, seed=2))
    assert out
    vocab = {w for t in EN for w, _ in pos_tag(t, "en")}
    shapes = {tuple(tag for _, tag in pos_tag(t, "en")) for t in EN}
    for s in out:
        words = s.split(" ")
        assert set(words) <= vocab
        assert tuple(tag for _, tag in pos_tag(s, "en")) in shapes


def test_pos_table_draws_by_frequency():
    table = PosTable.build([[("好", "a")] * 9 + [("差", "a")]])
    rng = random.Random(0)
    draws = [table.sample("a", rng) for _ in range(2000)]
    assert 0.85 < draws.count("好") / len(draws) < 0.95
    assert table.sample("no-such-tag", rng) is None


def test_ngram_sampling_keeps_at_most_max_ngram_words():
    tagged, table = _table(ZH, "zh")
    cfg = AugmentConfig(p_mask=0.0, p_pos=0.0, p_ng=1.0, max_ngram=3)
    rng = random.Random(9)
    for sent in tagged:
        words = [w for w, _ in sent]
        for _ in range(10):
            gram = _one(sent, cfg, table, rng, MASK)
            assert 1 <= len(gram) <= 3
            n = len(gram)
            assert any(words[i : i + n] == gram for i in range(len(words) - n + 1))


def test_ngram_end_to_end_english():
    out = augment(EN, AugmentConfig(p_mask=0.0, p_pos=0.0, p_ng=1.0, max_ngram=2, n_iter=6))
    assert out
    for s in out:
        words = s.split(" ")
        assert 1 <= len(words) <= 2
        assert any(s in t for t in EN)


def test_english_text_works():
    out = augment(EN, AugmentConfig(n_iter=6, seed=4))
    assert len(out) > len(EN)
    assert not set(out) & set(EN)
    assert not any(re.search(r"[\u3400-\u9fff]", s) for s in out)
    assert all(s == s.strip() and "  " not in s for s in out)
    assert any(MASK in s.split(" ") for s in out)


def test_preview_returns_the_four_variant_kinds():
    text = "这家酒店的服务很好"
    p = preview(text, AugmentConfig(seed=1), context=ZH, n=3)
    assert set(p) == {"words", "masked", "pos_replaced", "ngram", "combined"}
    assert p["words"] == [f"{w}/{t}" for w, t in pos_tag(text, "zh")]
    for kind in ("masked", "pos_replaced", "ngram", "combined"):
        assert 1 <= len(p[kind]) <= 3, kind
        assert text not in p[kind]
        assert len(set(p[kind])) == len(p[kind])
    assert all(MASK in s for s in p["masked"])
    assert all(MASK not in s for s in p["pos_replaced"] + p["ngram"])
    assert all(s in text for s in p["ngram"])
    assert preview(text, AugmentConfig(seed=1), context=ZH, n=3) == p


def test_a_run_with_another_mask_token_does_not_change_the_next_runs_augmentation(tiny_data):
    """jieba's dictionary is process-wide: an augmentation with a teacher's own mask token must
    leave it as it was, or every later run in the process would segment (and augment) otherwise."""
    texts = [t for _, t in tiny_data.train_rows]
    cfg = AugmentConfig(n_iter=4, seed=13)
    before = augment(texts, cfg)
    augment(["<mask>" + t for t in ZH], cfg, "<mask>")
    assert augment(texts, cfg) == before
