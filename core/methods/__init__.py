"""The registry of student methods: one module per method, each registering itself by name.

A method says what it is (`title`, `summary`), which config dataclass holds its knobs (the only
home of their defaults), what it needs from the teacher, whether its students are small enough
to train side by side on one thread each, and how to train and load a student. The pipeline,
the CLI, the pages and the report iterate over this registry; none of them names a method, so
adding one is one new module here plus its tests (its place in lists, whether MetaKD can
distil it and any extra model it reports are attributes of its `Method`) (TextBrewer keeps its losses, matches and
schedulers in string-keyed registries the same way).

Modules are found by walking this package: every module not starting with "_" is imported and
registers what it defines. Helpers shared by several methods live in "_" modules.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAMILIES = ("word", "char", "transformer")


@dataclass(frozen=True)
class Method:
    name: str  # the key: `--students NAME`, result rows `NAME_plain` / `NAME_distilled`
    title: str  # how people call it: "PKD-Skip (Sun et al. 2019)"
    # "word" (Tang et al. students on jieba words) | "char" (the same on the teacher's pieces)
    # | "transformer"
    family: str
    config: type  # its config dataclass; `method` names the method
    summary: str  # one plain-language paragraph for the Train page and `--help`
    # what it takes from the teacher: "logits" (cached once per text), "hidden", "attention",
    # "embeddings" (computed online per batch, teacher frozen)
    needs: tuple[str, ...]
    # train(job, shared, ctx) -> a student; steps(job) -> progress steps it will report
    train: Callable[..., Any]
    steps: Callable[..., int]
    load: Callable[[Path], Any]  # a saved student folder -> a student
    # small students train side by side, one torch thread each; big ones one at a time
    parallel: bool = False
    # plain twins with equal keys are the same model: trained once, reported under each name
    plain_key: Callable[[Any], Hashable] | None = None
    supports: tuple[str, ...] = ("single", "pair")  # single texts, sentence pairs
    paper: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    rank: int = 100  # its place within its family in every list (lower first, then by name)
    # MetaKD may distil it from the meta-teacher (per-row weights, hidden-state stage first)
    meta_distil: bool = False
    # extra models its distilled students carry (`student.extras[key]`), reported as
    # `<method>_<key>` with the role given: NewsBERT's {"teacher": "joint_teacher"}
    reports: dict[str, str] = field(default_factory=dict)


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.family not in FAMILIES:
        raise ValueError(f"{method.name}: family {method.family!r} not in {FAMILIES}")
    if "method" not in {f.name for f in dataclasses.fields(method.config)}:
        raise TypeError(f"{method.config.__name__} needs a `method` field naming its method")
    REGISTRY[method.name] = method
    return method


_loaded = False


def _discover() -> None:
    global _loaded
    if _loaded:
        return
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    _loaded = True


def names() -> list[str]:
    """Every method, word students first, then by each method's `rank` within a family."""
    _discover()
    return sorted(REGISTRY, key=lambda n: (FAMILIES.index(REGISTRY[n].family), REGISTRY[n].rank))


def get(name: str) -> Method:
    _discover()
    if name not in REGISTRY:
        raise ValueError(f"unknown student method {name!r}; expected one of {', '.join(names())}")
    return REGISTRY[name]


def config_classes() -> list[type]:
    """Each method's config dataclass once, in the order of `names()`."""
    return list(dict.fromkeys(get(n).config for n in names()))


def default_config(name: str, **overrides: Any) -> Any:
    return get(name).config(method=name, **overrides)


def config_from_dict(d: dict[str, Any]) -> Any:
    """A saved student config (from a run's config.json or a student.json) back into its
    dataclass; unknown keys (from newer or older versions) are dropped."""
    d = dict(d)
    d.setdefault("method", d.pop("arch", "bilstm"))  # runs saved before the rename say "arch"
    method = get(d["method"])
    fields = {f.name: f for f in dataclasses.fields(method.config)}
    kwargs = {k: v for k, v in d.items() if k in fields}
    for k, v in kwargs.items():
        if isinstance(v, list) and "tuple" in str(fields[k].type):
            kwargs[k] = tuple(v)
    return method.config(**kwargs)


def method_of_folder(folder: str | Path) -> Method:
    meta = json.loads((Path(folder) / "student.json").read_text())
    return get(meta.get("method") or meta.get("arch", "bilstm"))


def load_student(folder: str | Path) -> Any:
    """Any saved student, whatever its method: the folder's student.json names it. Loads take
    turns: `from_pretrained` patches torch process-wide while it builds a model, so two at once
    (two Predict sessions) would get each other's empty meta tensors."""
    from core.teacher.hf import LOAD_LOCK

    with LOAD_LOCK:
        return method_of_folder(folder).load(Path(folder))


def title(name: str) -> str:
    try:
        return get(name).title
    except ValueError:
        return name
