"""The students: BiLSTM (Tang et al. 2019) and TextCNN (Kim 2014), on jieba words or on the
teacher tokenizer's pieces (the `_char` methods).

Saved as safetensors + a JSON config + the vocabulary, so loading never unpickles anything.

Reproducibility: a student draws every random number (initial weights, dropout masks) from a
`torch.Generator` of its own, seeded from its config, never from torch's process-wide generator.
Two students training side by side in threads, or two runs at once, therefore cannot shift each
other's random streams, and the same seed gives the same model whatever else is running.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.data import pairs
from core.data.text import PieceTokenizer, Vocab, tokenize, words_truncated
from core.methods._word_config import StudentConfig

log = logging.getLogger(__name__)


class Dropout(nn.Module):
    """Inverted dropout whose masks come from `self.generator` (set by the trainer).

    `nn.Dropout` always uses the process-wide generator; with no generator set this behaves the
    same way, and in eval mode it is the identity, so loading a saved student needs nothing.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p <= 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep / (1.0 - self.p)


class Siamese(nn.Module):
    """What a student does with a sentence pair (Tang et al. 2019, 3.2): one shared encoder
    reads each side, u and v, and a ReLU dense layer over [u; v; u∘v; |u−v|] gives the logits.

    Pairs arrive stacked: rows [0, B) of `ids` are the text_a sides, rows [B, 2B) the text_b
    sides (see `pad_batch`), so one encoder call covers both; `forward_pair` takes the two sides
    as separate unpadded tensors (the batch-1 path, and what an ONNX export runs)."""

    pair: bool = False

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def head(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pair_head(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        f = torch.cat([u, v, u * v, (u - v).abs()], dim=-1)
        return self.out(self.dropout(torch.relu(self.dense(self.dropout(f)))))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = self.encode(ids, lengths)
        if not self.pair:
            return self.head(h)
        u, v = h.chunk(2, dim=0)
        return self.pair_head(u, v)

    def forward_pair(self, ids_a: torch.Tensor, ids_b: torch.Tensor) -> torch.Tensor:
        return self.pair_head(self.encode(ids_a), self.encode(ids_b))


class BiLSTM(Siamese):
    """Embedding, one bidirectional LSTM layer, concatenated final states, ReLU dense, logits.
    For pairs the dense layer reads the pair features of the two final states."""

    def __init__(self, vocab_size: int, num_labels: int, cfg: StudentConfig, pair: bool = False):
        super().__init__()
        self.pair = pair
        self.embed = nn.Embedding(vocab_size, cfg.embed_dim, padding_idx=0, sparse=True)
        self.lstm = nn.LSTM(cfg.embed_dim, cfg.hidden_dim, batch_first=True, bidirectional=True)
        self.dense = nn.Linear((8 if pair else 2) * cfg.hidden_dim, cfg.dense_dim)
        self.dropout = Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.dense_dim, num_labels)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(ids)
        if lengths is not None and ids.shape[0] > 1:
            return final_states(self.lstm, x, lengths)
        _, (h, _) = self.lstm(x)  # one unpadded text (batch 1, what an export runs)
        return torch.cat([h[0], h[1]], dim=-1)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(torch.relu(self.dense(self.dropout(h)))))


def final_states(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's last forward and last backward state of the one-layer bidirectional `lstm`
    over right-padded `x`, as a packed sequence would give them, without packing.

    Why: on the CPU, training through a packed sequence cost about twice as much per step
    (backward above all) as the same LSTM over a padded batch. Each direction runs here as a
    one-way LSTM with the module's own weights (its state_dict is unchanged): the forward one
    over `x`, the backward one over every row's tokens reversed (then its padding), and the
    state after each row's last real token is read off its output. Padding comes after the real
    tokens in both, so it never reaches a state that is read: the result equals the packed one
    up to float rounding (tests/test_distill.py checks it, gradients included)."""
    b, width, dim = x.shape
    lengths = lengths.to(x.device)
    t = torch.arange(width, device=x.device)
    src = (lengths.unsqueeze(1) - 1 - t).clamp(min=0)
    x_rev = x.gather(1, src.unsqueeze(-1).expand(-1, -1, dim))
    h0 = x.new_zeros(1, b, lstm.hidden_size)
    last = (lengths - 1).view(b, 1, 1).expand(b, 1, lstm.hidden_size)
    states = []
    for inputs, suffix in ((x, ""), (x_rev, "_reverse")):
        weights = [
            getattr(lstm, f"{name}_l0{suffix}")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
        out, _, _ = torch.lstm(inputs, (h0, h0), weights, True, 1, 0.0, lstm.training, False, True)
        states.append(out.gather(1, last).squeeze(1))
    return torch.cat(states, dim=-1)


class TextCNN(Siamese):
    """Parallel convolutions (kernels 3/4/5), max-pool over time, dropout, logits. For pairs a
    ReLU dense layer (dense_dim) reads the pair features of the two pooled vectors."""

    def __init__(self, vocab_size: int, num_labels: int, cfg: StudentConfig, pair: bool = False):
        super().__init__()
        self.pair = pair
        self.min_len = max(cfg.kernel_sizes)
        self.embed = nn.Embedding(vocab_size, cfg.embed_dim, padding_idx=0, sparse=True)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.embed_dim, cfg.num_filters, k) for k in cfg.kernel_sizes
        )
        self.dropout = Dropout(cfg.dropout)
        width = cfg.num_filters * len(cfg.kernel_sizes)
        if pair:
            self.dense = nn.Linear(4 * width, cfg.dense_dim)
        self.out = nn.Linear(cfg.dense_dim if pair else width, num_labels)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(h))

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if ids.shape[1] < self.min_len:
            ids = nn.functional.pad(ids, (0, self.min_len - ids.shape[1]))
        x = self.embed(ids).transpose(1, 2)
        pooled = []
        for conv in self.convs:
            h = torch.relu(conv(x))
            if lengths is not None and ids.shape[0] > 1:
                # windows that run into batch padding are zeroed (ReLU output is >= 0, so a zero
                # never beats a real maximum): a text scores the same alone or in a batch
                k = conv.kernel_size[0]
                valid = lengths.clamp(min=self.min_len) - k + 1
                mask = torch.arange(h.shape[-1]) < valid.unsqueeze(1)
                h = h * mask.unsqueeze(1)
            pooled.append(h.amax(dim=-1))
        return torch.cat(pooled, dim=-1)


ARCHS = {"bilstm": BiLSTM, "textcnn": TextCNN}


def build_model(
    arch: str,
    vocab_size: int,
    num_labels: int,
    cfg: StudentConfig,
    generator: torch.Generator | None = None,
    pair: bool = False,
) -> nn.Module:
    """Build a student; with a generator, its weights and dropout masks come from it alone.

    The modules are created on the meta device (no memory, no random numbers drawn from torch's
    process-wide generator), then materialised and initialised from `generator` with PyTorch's
    own default schemes, so a seeded student equals an unseeded one in distribution.
    """
    arch = arch.removesuffix("_char")  # a character student is the same network
    if arch not in ARCHS:
        raise ValueError(f"unknown student {arch!r}; expected one of {', '.join(ARCHS)}")
    if generator is None:
        return ARCHS[arch](vocab_size, num_labels, cfg, pair)
    with torch.device("meta"):
        model = ARCHS[arch](vocab_size, num_labels, cfg, pair)
    model = model.to_empty(device="cpu")
    init_weights(model, generator)
    for m in model.modules():
        if isinstance(m, Dropout):
            m.generator = generator
    return model


@torch.no_grad()
def init_weights(model: nn.Module, g: torch.Generator) -> None:
    """PyTorch's default initialisations, drawn from `g` (module order fixes the stream)."""
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, generator=g)
            if m.padding_idx is not None:
                m.weight[m.padding_idx].zero_()
        elif isinstance(m, (nn.Linear, nn.Conv1d)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
            if m.bias is not None:
                fan_in = m.weight[0].numel()
                bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
                nn.init.uniform_(m.bias, -bound, bound, generator=g)
        elif isinstance(m, nn.LSTM):
            bound = 1.0 / math.sqrt(m.hidden_size)
            for w in m.parameters():
                nn.init.uniform_(w, -bound, bound, generator=g)


def load_vectors(path: str | Path, vocab: Vocab, embed: nn.Embedding) -> int:
    """Fill embedding rows from a word2vec text file; returns how many words were found."""
    found = 0
    dim = embed.embedding_dim
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline().split()
        if len(first) != 2:  # no "count dim" header line
            f.seek(0)
        with torch.no_grad():
            for line in f:
                parts = line.rstrip().split(" ")
                if len(parts) != dim + 1:
                    continue
                i = vocab.stoi.get(parts[0])
                if i is not None:
                    embed.weight[i] = torch.tensor([float(v) for v in parts[1:]])
                    found += 1
    log.info("pretrained vectors: %d of %d vocabulary words found", found, len(vocab))
    return found


Ids = list[int] | tuple[list[int], list[int]]  # one text's ids, or a pair's (a, b)


def pad_batch(seqs: list[Ids]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and lengths; pairs stacked, all text_a sides then all text_b sides."""
    if seqs and isinstance(seqs[0], tuple):
        seqs = [s[0] for s in seqs] + [s[1] for s in seqs]
    lengths = torch.tensor([len(s) for s in seqs])
    out = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out, lengths


def encode_tokens(vocab: Vocab, tokens, max_len: int) -> Ids:
    """Ids of a text's tokens, or of each side's for a pair (tokens as a tuple of two lists)."""
    if isinstance(tokens, tuple):
        return vocab.encode(tokens[0], max_len), vocab.encode(tokens[1], max_len)
    return vocab.encode(tokens, max_len)


@dataclass
class Student:
    method: str
    model: nn.Module
    vocab: Vocab
    cfg: StudentConfig
    label_names: list[str]
    pieces: PieceTokenizer | None = None  # a character student's (the teacher tokenizer's)

    @property
    def task(self) -> str:
        return "pair" if getattr(self.model, "pair", False) else "single"

    def _tokens(self, text: str) -> list[str]:
        if self.pieces is not None:
            return self.pieces.pieces(text, self.cfg.max_len)
        return tokenize(text, self.vocab.lang, self.cfg.max_len)

    def tokenize(self, text: str) -> list[str] | tuple[list[str], list[str]]:
        """Words (or pieces) of a text; of each side of a pair."""
        if self.task == "pair":
            a, b = pairs.split(text)
            return self._tokens(a), self._tokens(b)
        return self._tokens(text)

    def truncated(self, text: str) -> bool:
        """Whether the student reads only the first `max_len` words (pieces) of `text` or of
        a side of the pair."""
        n = self.cfg.max_len
        sides = pairs.split(text) if self.task == "pair" else (text,)
        if self.pieces is not None:
            return any(self.pieces.truncated(s, n) for s in sides)
        return any(words_truncated(s, self.vocab.lang, n) for s in sides)

    def ids(self, text: str) -> Ids:
        return encode_tokens(self.vocab, self.tokenize(text), self.cfg.max_len)

    @torch.inference_mode()
    def predict_logits(self, text: str) -> torch.Tensor:
        """Text (or pair) in, logits out, batch 1: the path the latency figures time."""
        ids = self.ids(text)
        if isinstance(ids, tuple):
            return self.model.forward_pair(torch.tensor([ids[0]]), torch.tensor([ids[1]]))[0]
        return self.model(torch.tensor([ids]))[0]

    @torch.inference_mode()
    def logits(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        self.model.eval()
        seqs = [self.ids(t) for t in texts]
        out = []
        for s in range(0, len(seqs), batch_size):
            ids, lengths = pad_batch(seqs[s : s + batch_size])
            out.append(self.model(ids, lengths))
        return torch.cat(out) if out else torch.empty(0, len(self.label_names))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.contiguous() for k, v in self.model.state_dict().items()},
            str(folder / "model.safetensors"),
        )
        self.vocab.save(folder / "vocab.json")
        if self.pieces is not None:
            self.pieces.save(folder / "tokenizer.json")
        meta = {
            "method": self.method,
            "config": asdict(self.cfg),
            "label_names": self.label_names,
            "task": self.task,
        }
        (folder / "student.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
        return folder


def load_student(folder: str | Path, config_cls: type = StudentConfig) -> Student:
    folder = Path(folder)
    meta = json.loads((folder / "student.json").read_text())
    c = meta["config"]
    c["kernel_sizes"] = tuple(c["kernel_sizes"])
    names = {f.name for f in dataclasses.fields(config_cls)}
    cfg = config_cls(**{k: v for k, v in c.items() if k in names})
    vocab = Vocab.load(folder / "vocab.json")
    pair = meta.get("task") == "pair"
    method = meta.get("method") or meta["arch"]  # "arch" before the rename
    model = build_model(method, len(vocab), len(meta["label_names"]), cfg, pair=pair)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    model.eval()
    tok = folder / "tokenizer.json"
    pieces = PieceTokenizer.load(tok) if tok.exists() else None
    return Student(method, model, vocab, cfg, meta["label_names"], pieces)
