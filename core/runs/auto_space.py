"""The search space of `autodistill`: which method, and that method's key settings.

One Optuna space spans every student method: `method` is a choice, and each method's settings
are named `<method>.<field>` (so TPE keeps one distribution per name, as it must, while a
BiLSTM's width and a TextCNN's filters stay separate). `n_iter` (augmented variants per text)
is shared: trials with the same value share the augmented texts and the teacher's label cache.

The ranges are what each family can afford on a CPU: word and character students are cheap,
so their widths, lengths and epochs range widely; transformer students range over depth,
max length and the distillation knobs, with 1-3 epochs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from core import methods

# the settings each method searches over: name -> (kind, spec); kind "int" (low, high, log),
# "float" (low, high), "choice" (values). "layers" of bottom-cut students is filled in with the
# teacher's depth (see `space_for`).
WORD: dict[str, tuple[str, Any]] = {
    "embed_dim": ("choice", (32, 64, 128)),
    "alpha": ("float", (0.3, 1.0)),
    "epochs": ("int", (3, 12, False)),
}
PER_METHOD: dict[str, dict[str, tuple[str, Any]]] = {
    "bilstm": {**WORD, "hidden_dim": ("int", (32, 256, True)), "max_len": ("choice", (32, 64))},
    "textcnn": {**WORD, "num_filters": ("int", (16, 256, True)), "max_len": ("choice", (32, 64))},
    "bilstm_char": {
        **WORD,
        "hidden_dim": ("int", (32, 256, True)),
        "max_len": ("choice", (64, 128, 192)),
    },
    "textcnn_char": {
        **WORD,
        "num_filters": ("int", (16, 256, True)),
        "max_len": ("choice", (64, 128, 192)),
    },
    "kd": {
        "layers": ("layers", None),
        "alpha": ("float", (0.0, 1.0)),
        "temperature": ("float", (1.0, 8.0)),
        "epochs": ("int", (1, 3, False)),
        "max_length": ("choice", (32, 64, 128)),
    },
    "pkd_skip": {
        "layers": ("layers", None),
        "alpha": ("float", (0.0, 1.0)),
        "temperature": ("float", (1.0, 8.0)),
        "epochs": ("int", (1, 3, False)),
        "max_length": ("choice", (32, 64, 128)),
    },
    "pkd_last": {
        "layers": ("layers", None),
        "alpha": ("float", (0.0, 1.0)),
        "temperature": ("float", (1.0, 8.0)),
        "epochs": ("int", (1, 3, False)),
        "max_length": ("choice", (32, 64, 128)),
    },
    "theseus": {
        "layers": ("layers", None),
        "epochs": ("int", (1, 3, False)),
        "max_length": ("choice", (32, 64, 128)),
    },
    "tinybert": {
        "layers": ("int", (1, 4, False)),
        "hidden": ("choice", (128, 256, 312)),
        "epochs": ("int", (1, 3, False)),
        "max_length": ("choice", (32, 64, 128)),
    },
    "newsbert": {
        "layers": ("layers", None),
        "alpha": ("float", (0.0, 1.0)),
        "epochs": ("int", (1, 3, False)),
        "max_length": ("choice", (32, 64, 128)),
    },
}
N_ITER = (0, 4, 10)  # augmented variants per text: few values, so label caches are shared
SEARCHED = tuple(PER_METHOD)

# cheap before dear: the first trials, in this order, are small students at their defaults
CHEAP_FIRST = ("textcnn_char", "textcnn", "bilstm_char", "bilstm")


def check_methods(names: list[str]) -> list[str]:
    """The methods to search over, refused (ValueError) if one is unknown or not searchable."""
    if not names:
        raise ValueError("name at least one method")
    for n in names:
        methods.get(n)  # unknown: ValueError naming the known ones
        if n not in PER_METHOD:
            raise ValueError(f"{n} has no search space; choose from {', '.join(SEARCHED)}")
    return list(dict.fromkeys(names))


def suggest(trial, names: list[str], depth: int) -> dict[str, Any]:
    """Ask `trial` (an Optuna trial) for a method and its settings; the params as a dict."""
    method = trial.suggest_categorical("method", list(names))
    for field, (kind, spec) in PER_METHOD[method].items():
        key = f"{method}.{field}"
        if kind == "choice":
            trial.suggest_categorical(key, list(spec))
        elif kind == "float":
            trial.suggest_float(key, *spec)
        elif kind == "int":
            trial.suggest_int(key, spec[0], spec[1], log=spec[2])
        else:  # the teacher's bottom layers (PKD matches at least two)
            low = 2 if method.startswith("pkd") and depth >= 2 else 1
            trial.suggest_int(key, low, max(1, depth))
    trial.suggest_categorical("n_iter", list(N_ITER))
    return dict(trial.params)


def cheap_first(names: list[str]) -> list[dict[str, Any]]:
    """Fixed first trials: each small student of `names` at its defaults (the ones in range)."""
    out = []
    for m in CHEAP_FIRST:
        if m not in names:
            continue
        cfg = methods.default_config(m)
        params: dict[str, Any] = {"method": m}
        for field, (kind, spec) in PER_METHOD[m].items():
            value = getattr(cfg, field)
            if kind == "choice" and value in spec:
                params[f"{m}.{field}"] = value
            elif kind in ("float", "int") and spec[0] <= value <= spec[1]:
                params[f"{m}.{field}"] = value
        params["n_iter"] = 4 if 4 in N_ITER else N_ITER[0]
        out.append(params)
    return out


def student_config(params: dict[str, Any], seed: int | None = None) -> Any:
    """The student config of a trial's params (the method's defaults, the searched fields set;
    a TinyBERT's intermediate width follows its hidden width, 4x as in BERT)."""
    method = params["method"]
    prefix = f"{method}."
    fields = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
    if method == "tinybert" and "hidden" in fields:
        fields["intermediate"] = 4 * int(fields["hidden"])
    cfg = methods.default_config(method)
    if seed is not None:
        fields["seed"] = seed
    return dataclasses.replace(cfg, **fields)


def describe(params: dict[str, Any]) -> str:
    """A trial's student in words: "TextCNN on characters, 64 filters, max 128"."""
    method = params["method"]
    cfg = student_config(params)
    bits = [methods.title(method)]
    if hasattr(cfg, "num_filters") and method.startswith("textcnn"):
        bits.append(f"{cfg.num_filters} filters")
    if hasattr(cfg, "hidden_dim") and method.startswith("bilstm"):
        bits.append(f"{cfg.hidden_dim} hidden")
    if methods.get(method).family in ("word", "char"):
        bits.append(f"embed {cfg.embed_dim}")
        bits.append(f"alpha {cfg.alpha:.2f}")
    if method == "tinybert":
        bits.append(f"{cfg.layers} x {cfg.hidden}")
    elif getattr(cfg, "layers", None):
        bits.append(f"{cfg.layers} layer{'s' if cfg.layers > 1 else ''}")
    length = getattr(cfg, "max_len", None) or getattr(cfg, "max_length", None)
    if length:
        bits.append(f"max {length}")
    return ", ".join(bits)
