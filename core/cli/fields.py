"""Command-line flags, widget settings and the table of defaults (docs/defaults.md), all generated
from the config dataclasses (`core.config`, `core.methods`, `core.runs.config`), so a default or a
help text lives in one place only. `python -m core defaults` prints that table.

How a flag is named (the `flag` of a field's metadata), so that it says what it sets:

    --[SCOPE-]FIELD    FIELD: the dataclass field's name, underscores as hyphens
    --no-[SCOPE-]FIELD for a boolean that is on by default (the flag turns it off)

SCOPE names the configs the flag sets:

- none: the data (DataConfig), the run as a whole (PipelineConfig), its domains (DomainConfig)
  and the sweep (SweepConfig): `--max-train`, `--latency-samples`, `--target-domains`, `--trials`;
- `teacher-`: the teacher's fine-tuning (TeacherConfig): `--teacher-model`, `--teacher-epochs`;
- `augment-`: the augmentation (AugmentConfig): `--augment-p-mask`, `--augment-n-iter`;
- `student-`: the word and character students (StudentConfig): `--student-alpha`;
- `tf-`: every transformer student (TransformerConfig, BottomConfig): `--tf-lr`, `--tf-layers`;
- a method's name for the fields its own config adds: `char-` (the character students),
  `kd-` (kd, and pkd and newsbert, which extend its config), `pkd-`, `newsbert-`, `theseus-`,
  `tinybert-`: `--kd-alpha`, `--kd-temperature`, `--tinybert-temperature`.

A field a subclass declares again keeps its base class's flag when it means the same thing
(TinyBERT's `lr` is `--tf-lr`) and takes the subclass's scope when it does not (a character
student's `max_len` counts pieces, not words: `--char-max-len`).
One flag sets the same field in every config that has it: `--seed` every seed, and
`--student-epochs` every student's epochs, transformers' too. Two fields keep a word that tells
them from a namesake: StudentConfig.threads is `--student-train-threads` (`--student-threads` is
PipelineConfig.student_threads, the latency threads) and DomainConfig.intermediate_epochs is
`--meta-intermediate-epochs` (MetaKD's first stage; TinyBERT has its own).

A flag renamed to follow the rule keeps its old spelling in the field's `aliases`: both parse to
the same field, and `--help` lists both.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import types
import typing
from typing import Any

from core.config import AugmentConfig, DataConfig, DomainConfig, TeacherConfig
from core.methods._word_config import StudentConfig
from core.runs.config import PipelineConfig

# (prefix in the table of defaults, class), in the order docs/defaults.md lists them
SECTIONS: list[tuple[str, type]] = [
    ("data", DataConfig),
    ("teacher", TeacherConfig),
    ("augment", AugmentConfig),
    ("domains", DomainConfig),
    ("student", StudentConfig),
    ("", PipelineConfig),
]


# -- reading the dataclasses -------------------------------------------------------------------
def field_of(cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def meta(cls: type, name: str) -> dict[str, Any]:
    return dict(field_of(cls, name).metadata)


def default_of(cls: type, name: str) -> Any:
    f = field_of(cls, name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def help_of(cls: type, name: str) -> str:
    """The field's help text, plus what leaving it unset means for optional fields."""
    m = meta(cls, name)
    none = m.get("none")
    if not none:
        return m["help"]
    if default_of(cls, name) is None:
        return m["help"] + f" Unset: {none}."
    return m["help"] + f" None or 0: {none}."


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _base_type(cls: type, name: str) -> tuple[Any, bool]:
    """(type without `| None`, whether None is allowed)."""
    t = _hints(cls)[name]
    if isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union:
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(t))
    return t, False


def _is_list_of_configs(cls: type, name: str) -> bool:
    t, _ = _base_type(cls, name)
    return typing.get_origin(t) is list


# -- dashboard widgets ---------------------------------------------------------------------------
def widget_kwargs(cls: type, name: str, value: Any = None) -> dict[str, Any]:
    """`min_value`, `max_value`, `value`, `step` and `help` for st.number_input / st.slider.

    All numbers have the field's type (Streamlit insists). An optional number whose default is
    None starts at 0, which the forms read back as None.
    """
    m = meta(cls, name)
    t, _ = _base_type(cls, name)
    num = float if t is float else int
    if value is None:
        value = default_of(cls, name)
    out: dict[str, Any] = {"value": num(value or 0)}
    for key, arg in (("min", "min_value"), ("max", "max_value"), ("step", "step")):
        if key in m:
            out[arg] = num(m[key])
    none = m.get("none")
    out["help"] = m["help"] + (f" 0: {none}." if none else "")
    return out


# -- argparse ----------------------------------------------------------------------------------
def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _optional_int(s: str) -> int | None:
    if s.strip().lower() in ("none", "all", "0"):
        return None
    return int(s)


def _int_tuple(s: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in s.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {s!r}") from exc


def _comma_choices(choices: list[str]) -> Any:
    """A comma list of `choices`; "all" stands for every one of them."""

    def parse(s: str) -> list[str]:
        if s.strip().lower() == "all":
            return list(choices)
        items = list(dict.fromkeys(x.strip() for x in s.split(",") if x.strip()))
        bad = [x for x in items if x not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"expected a comma list of {', '.join(choices)}, got {s!r}"
            )
        return items

    return parse


def show_default(cls: type, name: str) -> str:
    """A default as a person would type it (the CLI's help, the table of defaults)."""
    v = default_of(cls, name)
    if _is_list_of_configs(cls, name):
        return ",".join(s.method for s in v)
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, tuple):
        return ",".join(str(x) for x in v)
    if v == "":
        return '""'
    return str(v)


def add_args(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    group: str | None = None,
) -> None:
    """Add a flag for every field of `cls` whose metadata names one (with `group`: only the
    fields of that CLI group). A flag already there (`--seed`, shared by four configs) is kept.
    """
    taken = parser._option_string_actions  # shared by a parser and its groups
    for f in dataclasses.fields(cls):
        flag = f.metadata.get("flag")
        if flag and f.metadata.get("group") == group and flag not in taken:
            add_field_arg(parser, cls, f.name)


def add_field_arg(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    name: str,
    default: Any = dataclasses.MISSING,
    note: str = "",
) -> None:
    """Add the flag of one field, with its help text and default (`default` overrides the
    dataclass's, for a caller with a documented reason of its own, given in `note`)."""
    f = field_of(cls, name)
    m = f.metadata
    flag = m["flag"]
    aliases = m.get("aliases", ())  # the flag's old names: they still work
    if default is dataclasses.MISSING:
        default = default_of(cls, name)
        shown = show_default(cls, name)
    else:
        shown = str(default)
    t, optional = _base_type(cls, name)
    text = m["help"]
    unset = default is None
    if m.get("none"):
        if t is int:
            text += f" {'Default (or 0 or none)' if unset else '0 or none'}: {m['none']}."
        else:
            text += f" Default: {m['none']}."
    text = (text + (f" {note}" if note else "")).replace("%", "%%")
    kw: dict[str, Any] = {"dest": _dest(flag)}
    if t is bool:
        if default is argparse.SUPPRESS:
            kw["default"] = argparse.SUPPRESS
        if f.default:  # on unless the --no-... flag is given
            text += " This flag turns it off (default: on)."
        else:
            text += " (default: off)"
        parser.add_argument(flag, *aliases, action="store_true", help=text, **kw)
        return
    if default is argparse.SUPPRESS:  # shared by several configs: each keeps its own default
        kw["default"] = argparse.SUPPRESS
    elif not unset:
        text += f" (default: {shown})".replace("%", "%%")
    if typing.get_origin(t) is list:
        choices = m.get("choices") or _methods().names()
        text += " (all: every one)"
        kw.update(type=_comma_choices(choices), default=shown, metavar=",".join(choices))
    elif typing.get_origin(t) is tuple:
        kw.update(type=_int_tuple, default=default, metavar="N,N,...")
    else:
        kw.setdefault("default", default)
        kw["type"] = _optional_int if (t is int and optional) else t
        if "choices" in m:
            kw["choices"] = m["choices"]
    parser.add_argument(flag, *aliases, help=text, **kw)


def add_several_arg(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    name: str,
    metavar: str,
    choices: list[str] | None = None,
    shown: str | None = None,
) -> None:
    """The flag of a list field that takes several values after it (`--space a=0:1 n=1:2`,
    `--methods kd pkd`), where add_args writes one comma list; its help says the default
    (`shown`, else its items)."""
    m = field_of(cls, name).metadata
    default = default_of(cls, name)
    parser.add_argument(
        m["flag"],
        nargs="+",
        default=default,
        choices=choices,
        metavar=metavar,
        help=m["help"] + f" (default: {shown or ' '.join(default)})",
    )


def _methods():
    from core import methods  # the registry imports core.config, which this module also reads

    return methods


def users_of(cls: type) -> list[str]:
    """The registered methods whose config is `cls`."""
    m = _methods()
    return [n for n in m.names() if m.get(n).config is cls]


def add_config_args(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, classes: list[type]
) -> None:
    """Flags of several config classes in one group (every student method's). A flag several
    classes declare with different defaults (`--student-epochs`: 6 for word students, 2 for
    transformers) sets them all when given and leaves each its own default when not."""
    owners: dict[str, list[tuple[type, str]]] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            flag = f.metadata.get("flag")
            if flag and not f.metadata.get("group"):
                owners.setdefault(flag, []).append((cls, f.name))
    taken = parser._option_string_actions
    for flag, own in owners.items():
        if flag in taken:
            continue
        shown = {show_default(c, n) for c, n in own}
        if len(shown) == 1:
            add_field_arg(parser, *own[0])
            continue
        by_value: dict[str, list[str]] = {}
        for c, n in own:
            by_value.setdefault(show_default(c, n), []).extend(users_of(c) or [c.__name__])
        per = "; ".join(f"{v} for {', '.join(who)}" for v, who in by_value.items())
        add_field_arg(parser, *own[0], default=argparse.SUPPRESS, note=f"Default: {per}.")


def from_args(cls: type, ns: argparse.Namespace, **overrides: Any) -> Any:
    """An instance of `cls` from parsed flags; fields without a flag on this parser keep their
    defaults. List fields (PipelineConfig.students) are left to the caller."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        flag = f.metadata.get("flag")
        if not flag or not hasattr(ns, _dest(flag)) or _is_list_of_configs(cls, f.name):
            continue
        value = getattr(ns, _dest(flag))
        if _base_type(cls, f.name)[0] is bool and f.default:
            value = not value  # --no-... given
        kwargs[f.name] = value
    kwargs.update(overrides)
    return cls(**kwargs)


# -- the table of defaults (docs/defaults.md) ----------------------------------------------------------------------
def sections() -> list[tuple[str, type]]:
    """SECTIONS with every transformer method's config after the word students'."""
    extra = [c for c in _methods().config_classes() if c is not StudentConfig]
    out = list(SECTIONS[:-1])
    out += [("/".join(users_of(c)), c) for c in extra]
    return out + [SECTIONS[-1]]


def defaults_markdown() -> str:
    """The table of defaults (docs/defaults.md): every config field, its default, CLI flag and meaning.
    A method config's field inherited with the same flag and default as a row above is not
    repeated."""
    lines = ["| field | default | CLI flag | meaning |", "| --- | --- | --- | --- |"]
    seen: set[tuple[str, str]] = set()
    for prefix, cls in sections():
        method_cfg = cls not in dict(SECTIONS).values()
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(_hints(cls)[f.name]):
                continue  # PipelineConfig.data / .teacher / .augment: their own rows above
            flag = f.metadata.get("flag")
            if method_cfg and (not flag or (flag, show_default(cls, f.name)) in seen):
                continue
            if flag:
                seen.add((flag, show_default(cls, f.name)))
            name = f"{prefix}.{f.name}" if prefix else f.name
            text = help_of(cls, f.name).replace("|", "\\|")
            lines.append(
                f"| `{name}` | `{show_default(cls, f.name)}` | "
                f"{f'`{flag}`' if flag else ''} | {text} |"
            )
    return "\n".join(lines) + "\n"
