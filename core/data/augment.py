"""Data augmentation of Tang et al. 2019, section 3.3, for a transfer set the teacher labels.

Per word: with probability p_mask replace it by the mask token; else with probability p_pos by
a word of the same part of speech, drawn by its frequency in the training set (jieba.posseg).
Then, with probability p_ng, keep only a random n-gram (n in 1..max_ngram). Each example yields
up to `n_iter` distinct synthetic sentences, none equal to an original.
"""

from __future__ import annotations

import bisect
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from core.config import AugmentConfig
from core.data import pairs
from core.data.text import MASK, detect_lang, get_jieba, tokenize

log = logging.getLogger(__name__)


def pos_tag(text: str, lang: str) -> list[tuple[str, str]]:
    """(word, POS) pairs; English words get a coarse shape tag since jieba only says 'eng'."""
    get_jieba()
    import jieba.posseg as pseg

    if lang == "zh":
        return [(p.word, p.flag) for p in pseg.lcut(text, HMM=False) if p.word.strip()]
    out = []
    for w in tokenize(text, "en"):
        tag = "num" if w.isdigit() else ("punct" if not w[0].isalnum() else f"w{min(len(w), 8)}")
        out.append((w, tag))
    return out


@dataclass
class PosTable:
    """Cumulative frequency tables per POS tag, for O(log n) frequency-weighted draws."""

    words: dict[str, list[str]]
    cum: dict[str, list[int]]

    @classmethod
    def build(cls, tagged: list[list[tuple[str, str]]]) -> PosTable:
        counts: dict[str, Counter] = defaultdict(Counter)
        for sent in tagged:
            for w, t in sent:
                counts[t][w] += 1
        words, cum = {}, {}
        for t, c in counts.items():
            items = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
            words[t] = [w for w, _ in items]
            acc, run = [], 0
            for _, n in items:
                run += n
                acc.append(run)
            cum[t] = acc
        return cls(words, cum)

    def sample(self, tag: str, rng: random.Random) -> str | None:
        acc = self.cum.get(tag)
        if not acc:
            return None
        return self.words[tag][bisect.bisect_right(acc, rng.randrange(acc[-1]))]


def one_variant(
    sent: list[tuple[str, str]],
    cfg: AugmentConfig,
    table: PosTable,
    rng: random.Random,
    mask: str,
) -> list[str]:
    """One synthetic variant of a tagged sentence (its words): the unit every augmentation and
    preview mode repeats, public so its per-word probabilities can be tested directly."""
    words = []
    for w, t in sent:
        x = rng.random()
        if x < cfg.p_mask:
            words.append(mask)
        elif x < cfg.p_mask + cfg.p_pos:
            words.append(table.sample(t, rng) or w)
        else:
            words.append(w)
    if rng.random() < cfg.p_ng and len(words) > 1:
        n = rng.randint(1, min(cfg.max_ngram, len(words)))
        start = rng.randrange(len(words) - n + 1)
        words = words[start : start + n]
    return words


def _tag_all(
    texts: list[str], lang: str, mask_token: str, progress: Callable[[int], None] | None = None
) -> list[list[tuple[str, str]]]:
    """(word, POS) lists of every text, the mask token kept whole by jieba. A teacher's own mask
    token (`<mask>`) is tagged as our MASK, which jieba already keeps whole, and put back: adding
    it to jieba's dictionary would change how every later text of the process is segmented (the
    dictionary's total weighs every word), so a run's augmentation would depend on the runs before
    it in the same process."""
    tagged = []
    for t in texts:
        if mask_token != MASK and mask_token in t:
            sent = pos_tag(t.replace(mask_token, MASK), lang)
            tagged.append([(mask_token if w == MASK else w, tag) for w, tag in sent])
        else:
            tagged.append(pos_tag(t, lang))
        if progress:
            progress(1)
    return tagged


def augment(
    texts: list[str],
    cfg: AugmentConfig,
    mask_token: str = MASK,
    lang: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Synthetic sentences for `texts`, deduplicated across the whole set, originals excluded.
    Sentence pairs get pair variants (see `augment_pairs`)."""
    if pairs.task_of(texts) == "pair":
        return augment_pairs(texts, cfg, mask_token, lang, progress)
    lang = lang or detect_lang(texts)
    tagged = _tag_all(texts, lang, mask_token, progress)
    rng = random.Random(cfg.seed)
    table = PosTable.build(tagged)
    joiner = "" if lang == "zh" else " "
    # an unchanged sentence re-joined from its words (lower case, spaced punctuation) is no new text
    seen = set(texts) | {joiner.join(w for w, _ in sent) for sent in tagged}
    out: list[str] = []
    cap = cfg.max_per_example or cfg.n_iter
    for sent in tagged:
        if not sent:
            continue
        made = 0
        for _ in range(cfg.n_iter):
            s = joiner.join(one_variant(sent, cfg, table, rng, mask_token)).strip()
            if s and s not in seen:
                seen.add(s)
                out.append(s)
                made += 1
                if made >= cap:
                    break
    log.info("augmented %d texts into %d synthetic sentences", len(texts), len(out))
    return out


PAIR_MODES = ("a_only", "b_only", "both")  # which side(s) of a pair a variant changes


def augment_pairs(
    texts: list[str],
    cfg: AugmentConfig,
    mask_token: str = MASK,
    lang: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Pair variants after Tang et al. 2019, 3.3: for each pair, `n_iter` variants changing
    text_a only, `n_iter` changing text_b only and `n_iter` changing both (3·n_iter at most),
    each side with the same mask / POS / n-gram rules as single texts, the POS table built from
    both sides. Deduplicated across the set; a variant equal to an original pair is dropped."""
    sides = [pairs.split(t) for t in texts]
    lang = lang or detect_lang([a for a, _ in sides])
    done = [0]

    def side(n: int) -> None:  # the stage counts pairs: one step per two sides
        done[0] += n
        if progress and done[0] % 2 == 0:
            progress(1)

    flat = _tag_all([s for pair in sides for s in pair], lang, mask_token, side)
    tagged = list(zip(flat[::2], flat[1::2], strict=True))
    rng = random.Random(cfg.seed)
    table = PosTable.build(flat)
    joiner = "" if lang == "zh" else " "
    seen = set(texts)
    out: list[str] = []
    cap = cfg.max_per_example or cfg.n_iter
    for (a, b), (ta, tb) in zip(sides, tagged, strict=True):
        if not ta or not tb:
            continue
        for mode in PAIR_MODES:
            made = 0
            for _ in range(cfg.n_iter):
                new_a = joiner.join(one_variant(ta, cfg, table, rng, mask_token)).strip()
                new_b = joiner.join(one_variant(tb, cfg, table, rng, mask_token)).strip()
                va = a if mode == "b_only" else new_a
                vb = b if mode == "a_only" else new_b
                if not va or not vb:
                    continue
                v = pairs.join(va, vb)
                if v not in seen:
                    seen.add(v)
                    out.append(v)
                    made += 1
                    if made >= cap:
                        break
    log.info("augmented %d pairs into %d synthetic pairs", len(texts), len(out))
    return out


def preview_pair(
    text: str, cfg: AugmentConfig, context: list[str] | None = None, n: int = 3
) -> dict[str, list[str]]:
    """One pair in, up to `n` variants per mode out (text_a changed, text_b changed, both),
    each a `text_a<TAB>text_b` string; `context` (training pairs) supplies the POS table."""
    a, b = pairs.split(text)
    lang = detect_lang([a])
    ta, tb = pos_tag(a, lang), pos_tag(b, lang)
    sides = [s for t in (context or [])[:2000] if pairs.is_pair(t) for s in pairs.split(t)]
    table = PosTable.build([pos_tag(s, lang) for s in sides] + [ta, tb])
    joiner = "" if lang == "zh" else " "
    rng = random.Random(cfg.seed)
    out: dict[str, list[str]] = {}
    for mode in PAIR_MODES:
        found: list[str] = []
        for _ in range(n * 10):
            va = a if mode == "b_only" else joiner.join(one_variant(ta, cfg, table, rng, MASK))
            vb = b if mode == "a_only" else joiner.join(one_variant(tb, cfg, table, rng, MASK))
            v = pairs.join(va, vb)
            if va and vb and v != text and v not in found:
                found.append(v)
            if len(found) >= n:
                break
        out[mode] = found
    return out


def preview(
    text: str, cfg: AugmentConfig, context: list[str] | None = None, n: int = 3
) -> dict[str, list[str]]:
    """One sentence in, its masked / POS-replaced / n-gram / combined variants out.

    `context` (e.g. the training texts) supplies the POS frequency table; without it the
    sentence itself does, so replacements can only come from its own words.
    """
    lang = detect_lang([text])
    sent = pos_tag(text, lang)
    table = PosTable.build([pos_tag(t, lang) for t in (context or [])] + [sent])
    joiner = "" if lang == "zh" else " "
    rng = random.Random(cfg.seed)
    kinds = {
        "masked": AugmentConfig(p_mask=max(cfg.p_mask, 0.01), p_pos=0, p_ng=0),
        "pos_replaced": AugmentConfig(p_mask=0, p_pos=max(cfg.p_pos, 0.01), p_ng=0),
        "ngram": AugmentConfig(p_mask=0, p_pos=0, p_ng=1.0, max_ngram=cfg.max_ngram),
        "combined": cfg,
    }
    out: dict[str, list[str]] = {"words": [f"{w}/{t}" for w, t in sent]}
    for name, k in kinds.items():
        variants: list[str] = []
        for _ in range(n * 10):
            s = joiner.join(one_variant(sent, k, table, rng, MASK))
            if s not in variants and s != text:
                variants.append(s)
            if len(variants) >= n:
                break
        out[name] = variants
    return out
