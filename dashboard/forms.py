"""The generic form renderer: one widget per config field, its kind, range, default and help all
generated from the field's `opt(...)` definition (see dashboard/knobs.py and core/cli/fields.py),
laid out in rows; and the Train page's generated per-family student section built from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from core import methods
from core.cli.fields import meta
from dashboard import knobs, ui_state


def knob_widget(p: str, k: knobs.Knob, where: Any = st, fmt: str | None = None) -> object:
    """One generated widget for a config field, keyed `f"{p}-{k.key}"`: bool -> checkbox,
    choices -> select box, text / int lists -> text input, a 0..1 float -> slider, other numbers
    -> number input (`fmt` overrides the number format the knob would pick)."""
    key = f"{p}-{k.key}"
    label, helptext = k.label, knobs.help_text(k)
    if k.widget == "bool":
        return where.checkbox(
            label, ui_state.initial(key, knobs.initial(k)), key=key, help=helptext
        )
    if k.widget == "choice":
        options = meta(k.cls, k.name)["choices"]
        return where.selectbox(
            label,
            options,
            index=ui_state.initial_index(key, options, knobs.initial(k)),
            key=key,
            help=helptext,
        )
    if k.widget in ("text", "ints"):
        placeholder = meta(k.cls, k.name).get("none", "")
        return where.text_input(
            label,
            str(ui_state.initial(key, knobs.initial(k))),
            key=key,
            help=helptext,
            placeholder=placeholder,
        )
    # the kept value: what the user set before leaving the page, else the saved one
    kw = {**ui_state.initial_number(key, knobs.number_kwargs(k)), "help": helptext}
    if fmt:
        kw["format"] = fmt
    if knobs.is_slider(k):
        kw.pop("format", None)
        return where.slider(label, **kw, key=key)
    return where.number_input(label, **kw, key=key)


def knob_width(k: knobs.Knob) -> int:
    """Places a knob's widget takes in a row: a text field two, anything else one."""
    return 2 if k.widget in ("text", "ints") else 1


def knob_rows(p: str, ks: list[knobs.Knob], per_row: int = 4) -> dict[str, object]:
    """Widgets for `ks`, `per_row` places to a row (a text field takes two)."""
    rows: list[list[knobs.Knob]] = [[]]
    for k in ks:
        if sum(map(knob_width, rows[-1])) + knob_width(k) > per_row:
            rows.append([])
        rows[-1].append(k)
    raw: dict[str, object] = {}
    for row in rows:
        widths = [knob_width(k) for k in row]
        cols = st.columns(widths + ([per_row - sum(widths)] if sum(widths) < per_row else []))
        for k, col in zip(row, cols, strict=False):
            raw[k.key] = knob_widget(p, k, col)
    return raw


def laid_out_rows(
    p: str, rows: Sequence[tuple[int, Sequence[knobs.Knob]]], formats: dict[str, str]
) -> dict[str, Any]:
    """Widgets for a form that lays its knobs out itself: each row is (columns, knobs), the
    knobs filling the first columns; `formats` maps a knob's field to its number format.
    Returns field name -> the value in the field's type (`knobs.value`)."""
    values: dict[str, Any] = {}
    for n_cols, ks in rows:
        cols = st.columns(n_cols)
        for k, col in zip(ks, cols, strict=False):
            values[k.name] = knobs.value(k, knob_widget(p, k, col, formats.get(k.name)))
    return values


FAMILY_EVERYONE = {"char": "every character student", "transformer": "every transformer student"}


def generated_section(p: str, seed: int, picked: list[str], family: str) -> list:
    """Generated from the config dataclasses of one family's methods (character students,
    transformer students): the knobs several picked methods share once (grouped by the methods
    they apply to), then each method's own in its expander. Returns one config per picked
    method."""
    names = [n for n in methods.names() if methods.get(n).family == family]
    ks = knobs.knobs(names)
    raw: dict[str, object] = {}
    groups: dict[tuple[str, ...], list[knobs.Knob]] = {}
    for k in knobs.shared_knobs(names, picked):
        groups.setdefault(tuple(u for u in k.users if u in picked), []).append(k)
    for users, group in groups.items():
        if len(users) < 2:
            continue  # shared with methods not picked: it goes in its one user's expander
        who = (
            FAMILY_EVERYONE[family]
            if set(users) == set(picked)
            else ", ".join(methods.title(u) for u in users)
        )
        st.caption(f"For {who}:")
        raw.update(knob_rows(p, group))
    for n in picked:
        m = methods.get(n)
        with st.expander(f"{m.title} settings", icon=":material/tune:"):
            if m.paper:
                st.caption(f"After {m.paper}.")
            own = groups.get((n,), []) + knobs.own_knobs(names, n)
            if own:
                raw.update(knob_rows(p, own))
            else:
                st.caption("No settings of its own: the ones above apply.")
    return [knobs.config_for(n, ks, raw, seed) for n in picked]
