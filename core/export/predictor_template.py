"""One-file predictor for a model exported by Distillery (`python -m core export`).

Needs only `onnxruntime` (or `torch` for a TorchScript export), numpy, and the tokeniser library
the model reads with: `jieba` for word students on Chinese text, `tokenizers` for character
students, transformer students and the teacher. It reads the files beside it:
meta.json (family, labels, lengths), model.onnx / model.pt, vocab.json and / or tokenizer.json.

    python predict.py "房间很干净" "服务太差"     # one line per text: label, probabilities
    echo "房间很干净" | python predict.py          # texts on stdin, one per line
    python predict.py --json "房间很干净"

A text longer than the model reads (`max_len` tokens) is scored on its beginning only: the
JSON says `"truncated": true` and a note goes to stderr.

A sentence-pair model (question matching, NLI) takes two texts per pair: arguments two at a
time, or `text_a<TAB>text_b` lines on stdin:

    python predict.py "花呗怎么还款" "花呗如何还钱"

This file is copied verbatim into every export; it never imports Distillery. It is a
command-line tool, not engine code: its answers are its output (stdout), never log lines.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_EN_WORD = re.compile(r"\[MASK\]|[\w']+|[^\w\s]")
CHARS_PER_WORD = {"zh": 2, "en": 10}  # as Distillery clips text before segmenting it
CHARS_PER_PIECE = 6


class Predictor:
    """Text in, probabilities out, batch 1, exactly as Distillery scores the model."""

    def __init__(self, folder: str | Path = HERE, threads: int = 1) -> None:
        folder = Path(folder)
        self.meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        self.family = self.meta.get("family") or self.meta["kind"]  # word | char | transformer
        self.labels = self.meta["labels"]
        self.max_len = int(self.meta["max_len"])
        self.task = self.meta.get("task", "single")  # single | pair
        if self.family in ("word", "char"):
            vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
            self.stoi = {w: i for i, w in enumerate(vocab["itos"])}
            self.lang = vocab["lang"]
        if self.family in ("char", "transformer"):
            from tokenizers import Tokenizer

            self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self.tok.no_padding()
            if self.family == "transformer":
                self.tok.enable_truncation(self.max_len)
            else:
                self.tok.no_truncation()
                # teacher piece id -> student id, so scoring never builds the piece strings
                self.id_map = np.ones(self.tok.get_vocab_size(), dtype=np.int64)  # 1: UNK
                for piece, sid in self.stoi.items():
                    tid = self.tok.token_to_id(piece)
                    if tid is not None and sid > 1:
                        self.id_map[tid] = sid
                self.fast = _bert_style(folder / "tokenizer.json")
                self._single: dict[str, list[int]] = {}  # a CJK / punctuation char -> ids
                self._runs: dict[str, list[int]] = {}  # a run of other characters -> ids
                self._kind: dict[str, int] = {}  # char -> 0 space, 1 on its own, 2 in a run
        if self.family == "word" and self.lang == "zh":
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            if "[MASK]" not in jieba.dt.FREQ:  # once per process: add_word grows the total
                jieba.add_word("[MASK]", freq=10**6)  # that segmentation weighs by
            self.jieba = jieba
        model = folder / self.meta["model_file"]
        if model.suffix == ".onnx":
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
            self.run = self._run_onnx
        else:
            import torch

            torch.set_num_threads(threads)
            self.module = torch.jit.load(str(model)).eval()
            self.run = self._run_torchscript

    # -- tokenisation: the same steps as Distillery's --------------------------------------------
    def inputs(self, text: str) -> dict[str, np.ndarray]:
        """The model's feeds for a text, or for a pair given as `text_a<TAB>text_b`."""
        sides = text.split("\t", 1) if self.task == "pair" else [text.replace("\t", " ")]
        if self.task == "pair" and len(sides) != 2:
            raise ValueError("a sentence-pair model needs two texts: text_a<TAB>text_b")
        if self.family == "transformer":
            enc = self.tok.encode(*sides)  # a pair: [CLS] a [SEP] b [SEP], segment ids 0 / 1
            ids = np.asarray([enc.ids], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            if "token_type_ids" in self.meta["inputs"]:
                feeds["token_type_ids"] = np.asarray([enc.type_ids], dtype=np.int64)
            return feeds
        if self.task == "pair":  # a Siamese student: each side on its own
            return {"ids_a": self._ids(sides[0]), "ids_b": self._ids(sides[1])}
        return {"ids": self._ids(text)}

    def _ids(self, text: str) -> np.ndarray:
        """A word or character student's ids for one text, shape (1, length)."""
        if self.family == "char":
            clipped = text[: self.max_len * CHARS_PER_PIECE]
            if self.fast:
                ids = np.asarray(self._fast_ids(clipped)[: self.max_len] or [1], dtype=np.int64)
            else:
                tids = self.tok.encode(clipped, add_special_tokens=False).ids[: self.max_len]
                ids = self.id_map[tids] if tids else np.ones(1, dtype=np.int64)
            pad = int(self.meta.get("min_len", 1)) - len(ids)
            if pad > 0:  # as the TextCNN pads
                ids = np.concatenate([ids, np.zeros(pad, dtype=np.int64)])
            return ids[None, :]
        if self.lang == "zh":
            clipped = text[: self.max_len * CHARS_PER_WORD["zh"]]
            tokens = [w for w in self.jieba.lcut(clipped, HMM=False) if w.strip()]
        else:
            clipped = text[: self.max_len * CHARS_PER_WORD["en"]]
            tokens = _EN_WORD.findall(clipped.lower())
        ids = [self.stoi.get(w, 1) for w in tokens[: self.max_len]] or [1]
        ids += [0] * (int(self.meta.get("min_len", 1)) - len(ids))  # as the TextCNN pads
        return np.asarray([ids], dtype=np.int64)

    # -- the fast path for BERT-style tokenizers (m3e, bert-base-chinese, ...) ----------------
    def _fast_ids(self, text: str) -> list[int]:
        """The student ids of `text`'s pieces, exactly as one tokenizer call gives them, without
        calling it per text. A BERT tokenizer puts every CJK character and every punctuation
        mark in a piece of its own and splits at whitespace, so a text's pieces are those of its
        characters and of the runs of other characters between them, each tokenised alone. Both
        are looked up in caches filled by the tokenizer itself the first time one is seen."""
        out: list[int] = []
        kinds, start = self._kind, -1
        for i, c in enumerate(text):
            k = kinds.get(c)
            if k is None:
                k = kinds[c] = _char_kind(c)
            if k == 2:
                if start < 0:
                    start = i
                continue
            if start >= 0:
                out += self._piece_ids(self._runs, text[start:i])
                start = -1
                if len(out) >= self.max_len:
                    return out
            if k == 1:
                out += self._piece_ids(self._single, c)
                if len(out) >= self.max_len:
                    return out
        if start >= 0:
            out += self._piece_ids(self._runs, text[start:])
        return out

    def _piece_ids(self, cache: dict[str, list[int]], s: str) -> list[int]:
        ids = cache.get(s)
        if ids is None:
            if len(cache) > 200_000:  # bounded: a long-running service sees endless runs
                cache.clear()
            tids = self.tok.encode(s, add_special_tokens=False).ids
            ids = cache[s] = self.id_map[tids].tolist() if tids else []
        return ids

    def truncated(self, text: str) -> bool:
        """Whether the model reads only the beginning of `text` (more than `max_len` tokens,
        or of a side of a pair): not on the scoring path, so latency figures stay as they are."""
        sides = text.split("\t", 1) if self.task == "pair" else [text.replace("\t", " ")]
        if self.family == "transformer":
            return bool(self.tok.encode(*sides).overflowing)
        return any(self._side_truncated(side) for side in sides)

    def _side_truncated(self, text: str) -> bool:
        per = CHARS_PER_PIECE if self.family == "char" else CHARS_PER_WORD[self.lang]
        if len(text) > self.max_len * per:
            return True
        if self.family == "char":
            return len(self.tok.encode(text, add_special_tokens=False).ids) > self.max_len
        if self.lang == "zh":
            return len([w for w in self.jieba.lcut(text, HMM=False) if w.strip()]) > self.max_len
        return len(_EN_WORD.findall(text.lower())) > self.max_len

    def _run_onnx(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feeds)[0][0]

    def _run_torchscript(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            args = [torch.from_numpy(feeds[k]) for k in self.meta["inputs"]]
            return self.module(*args)[0].float().numpy()

    def logits(self, text: str) -> np.ndarray:
        return self.run(self.inputs(text))

    def predict(self, text: str) -> tuple[str, dict[str, float]]:
        z = self.logits(text).astype(np.float64)
        p = np.exp(z - z.max())
        p /= p.sum()
        return self.labels[int(p.argmax())], dict(zip(self.labels, p.tolist(), strict=True))


def _char_kind(c: str) -> int:
    """What a BERT tokenizer does with a character. 0: whitespace, a split; 1: a piece of its
    own (a CJK character, punctuation); 2: part of a word (letters, digits, symbols, marks),
    tokenised with its run. Characters the normalizer deletes (control, format, unassigned,
    U+FFFD) are 2 as well: inside a run they vanish when the run is tokenised, as in the text."""
    if c in "\t\n\r":
        return 0
    cat = unicodedata.category(c)
    if cat[0] == "C" or c == "\ufffd":
        return 2
    if c.isspace():
        return 0
    o = ord(c)
    if (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x20000 <= o <= 0x2A6DF
        or 0x2A700 <= o <= 0x2CEAF
        or 0xF900 <= o <= 0xFAFF
        or 0x2F800 <= o <= 0x2FA1F
    ):
        return 1
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return 1
    return 1 if cat[0] == "P" else 2


def _bert_style(path: Path) -> bool:
    """Whether tokenizer.json is a BERT WordPiece tokenizer that splits CJK characters and
    punctuation (what `_fast_ids` reproduces); anything else takes the tokenizer per text."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    norm, pre, model = (
        spec.get("normalizer") or {},
        spec.get("pre_tokenizer") or {},
        spec.get("model") or {},
    )
    return (
        norm.get("type") == "BertNormalizer"
        and norm.get("handle_chinese_chars", False)
        and pre.get("type") == "BertPreTokenizer"
        and model.get("type") == "WordPiece"
    )


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    texts = [a for a in argv if a != "--json"]
    pred = Predictor()
    pair = pred.task == "pair"
    if pair and texts:  # arguments two at a time: text_a text_b
        if len(texts) % 2:
            sys.stderr.write("a sentence-pair model takes its texts two at a time: A B [A B ...]\n")
            return 2
        texts = [f"{a}\t{b}" for a, b in zip(texts[::2], texts[1::2], strict=True)]
    if not texts:
        texts = [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    if not texts:
        usage = (
            "TEXT_A TEXT_B [...]  (or text_a<TAB>text_b lines" if pair else "TEXT [...]  (or texts"
        )
        sys.stderr.write(f"usage: python predict.py [--json] {usage} on stdin)\n")
        return 2
    out = []
    for i, t in enumerate(texts, 1):
        label, probs = pred.predict(t)
        row = {"text": t, "label": label, "probabilities": probs, "truncated": pred.truncated(t)}
        if row["truncated"]:
            sys.stderr.write(
                f"note: text {i} ({len(t):,} characters) is longer than the model reads "
                f"({pred.max_len} tokens): it was scored on its beginning only\n"
            )
        if pair:
            row = {"text_a": t.split("\t", 1)[0], "text_b": t.split("\t", 1)[-1], **row}
            del row["text"]
        out.append(row)
        if not as_json:
            shown = "  ".join(f"{k} {v:.3f}" for k, v in probs.items())
            sys.stdout.write(f"{label}\t{shown}\t{t.replace(chr(9), '  ||  ')}\n")
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
