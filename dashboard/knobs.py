"""The Train page's knobs of the student methods, generated from their config dataclasses
(core.methods): which widget each field gets, which knobs several methods share, and how a
widget's value goes back into the config. Plain functions (no Streamlit), so they unit-test.

A knob is one field with one CLI flag and one default. Methods whose configs declare the same
field with the same flag and default share it (the teacher-bottom-layer methods' `--tf-layers`,
every transformer's `--student-epochs`): the page shows it once, in the transformer block, and
applies it to each; a field only one method has (or one whose default differs, as TinyBERT's
learning rate does) sits in that method's own expander.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any

from core import methods
from core.cli.fields import default_of, help_of, meta, widget_kwargs

SKIP = ("method", "seed")  # the method's name; the seed comes from the data section's


@dataclass(frozen=True)
class Knob:
    name: str  # the config field
    cls: type  # a config class that declares it (ranges, default and help come from it)
    widget: str  # bool | choice | text | ints | int | optional_int | float | optional_float
    users: tuple[str, ...]  # the methods it applies to (registry order)
    key: str  # widget key suffix, unique on the page: f"{prefix}-{key}"
    title: str = ""  # the widget's label where a form names it itself (else from the name)

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ")

    @property
    def shared(self) -> bool:
        return len(self.users) > 1


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def field_widget(cls: type, name: str) -> str:
    """The widget a field gets, from its type: bool -> checkbox, str (with choices) -> select,
    str / str | None -> text, tuple[int, ...] -> comma list, numbers -> number inputs (an
    optional number shows 0 for None)."""
    t = _hints(cls)[name]
    optional = False
    if isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union:
        args = [a for a in typing.get_args(t) if a is not type(None)]
        optional = len(args) < len(typing.get_args(t))
        t = args[0]
    if t is bool:
        return "bool"
    if t is str:
        return "choice" if "choices" in meta(cls, name) and not optional else "text"
    if typing.get_origin(t) is tuple:
        return "ints"
    if t is int:
        return "optional_int" if optional else "int"
    if t is float:
        return "optional_float" if optional else "float"
    raise TypeError(f"{cls.__name__}.{name}: no widget for type {t!r}")


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name not in SKIP]


def knobs(names: list[str] | None = None) -> list[Knob]:
    """Every knob of the registered methods (or of `names`), in the order of the methods and
    of their fields; a knob several methods share comes once, at its first user's place."""
    names = list(methods.names() if names is None else names)
    groups: dict[tuple, list[str]] = {}
    owner: dict[tuple, tuple[type, str]] = {}
    for n in names:
        cls = methods.get(n).config
        for f in _fields(cls):
            g = (f, meta(cls, f).get("flag"), repr(default_of(cls, f)), field_widget(cls, f))
            groups.setdefault(g, []).append(n)
            owner.setdefault(g, (cls, f))
    out: list[Knob] = []
    taken: set[str] = set()
    for g, users in groups.items():
        cls, f = owner[g]
        base = f"shared-{f}" if len(users) > 1 else f"{users[0]}-{f}"
        key, i = base.replace("_", "-"), 2
        while key in taken:  # the same field shared twice with two defaults
            key, i = f"{base}-{i}".replace("_", "-"), i + 1
        taken.add(key)
        out.append(Knob(f, cls, field_widget(cls, f), tuple(users), key))
    return out


def field_knob(cls: type, name: str, key: str, title: str = "") -> Knob:
    """A knob for one field of `cls` that a form lays out itself (the word students' form): the
    generated widget, under the form's own label and key suffix; it names no methods, so its
    help is the field's own, without an "Applies to" list."""
    return Knob(name, cls, field_widget(cls, name), (), key, title)


def shared_knobs(names: list[str], picked: list[str]) -> list[Knob]:
    """The knobs of `names` that several of them share and at least one picked method uses."""
    return [k for k in knobs(names) if k.shared and set(k.users) & set(picked)]


def own_knobs(names: list[str], method: str) -> list[Knob]:
    """The knobs only `method` has (among `names`)."""
    return [k for k in knobs(names) if not k.shared and k.users == (method,)]


def initial(k: Knob) -> Any:
    """The widget's starting value (an unset optional number shows as 0)."""
    v = default_of(k.cls, k.name)
    if k.widget == "ints":
        return ",".join(str(x) for x in v)
    if k.widget == "text":
        return v or ""
    if k.widget in ("int", "optional_int", "float", "optional_float"):
        return widget_kwargs(k.cls, k.name)["value"]
    return v


def number_kwargs(k: Knob) -> dict[str, Any]:
    """st.number_input / st.slider arguments, help included, plus `format` for tiny floats
    (a learning rate shows as 5.0e-05, not 0.00)."""
    kw = widget_kwargs(k.cls, k.name)
    if k.widget in ("float", "optional_float"):
        tiny = 0 < abs(kw["value"]) < 0.01 or 0 < kw.get("step", 1) < 0.001
        if tiny:
            kw["format"] = "%.1e"
    return kw


def is_slider(k: Knob) -> bool:
    """A float between 0 and 1 (a weight, a probability) is a slider."""
    if k.widget != "float":
        return False
    m = meta(k.cls, k.name)
    return m.get("min") == 0 and m.get("max") == 1


def help_text(k: Knob) -> str:
    text = help_of(k.cls, k.name)
    if k.widget in ("optional_int", "optional_float") and meta(k.cls, k.name).get("none"):
        text = widget_kwargs(k.cls, k.name)["help"]  # "0: <what unset means>."
    if k.shared:
        text += " Applies to: " + ", ".join(methods.title(n) for n in k.users) + "."
    return text


def value(k: Knob, raw: Any) -> Any:
    """A widget's value back into the config field's type (0 -> None for optional numbers,
    an empty text -> None for optional texts)."""
    if k.widget == "bool":
        return bool(raw)
    if k.widget == "choice":
        return str(raw)
    if k.widget == "text":
        text = str(raw or "").strip()
        t = _hints(k.cls)[k.name]
        optional = type(None) in typing.get_args(t)
        return (text or None) if optional else text
    if k.widget == "ints":
        return tuple(int(x) for x in str(raw).split(",") if x.strip())
    if k.widget == "int":
        return int(raw)
    if k.widget == "optional_int":
        return int(raw) or None
    if k.widget == "float":
        return float(raw)
    return float(raw) or None


def config_for(name: str, ks: list[Knob], raw: dict[str, Any], seed: int) -> Any:
    """The config of method `name` from the page's widget values (`raw`: knob key -> value)
    of the knobs `ks` it uses: `methods.default_config(name, seed=seed, **fields)`; a knob
    without a value keeps the config's default."""
    fields = {k.name: value(k, raw[k.key]) for k in ks if name in k.users and k.key in raw}
    return methods.default_config(name, seed=seed, **fields)
