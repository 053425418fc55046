"""The Train forms' student part: which methods to train, then their knobs: the word students'
(BiLSTM / TextCNN share them) laid out as they always were, the character and transformer
students' grouped per family; all generated from the config dataclasses by dashboard/forms.py."""

from __future__ import annotations

import streamlit as st

from core import methods
from core.cli.fields import help_of
from core.methods._word_config import StudentConfig
from core.runs.config import PipelineConfig
from dashboard import knobs, ui_state
from dashboard.forms import generated_section, laid_out_rows


def students_picker(p: str) -> list[str]:
    """Which student methods to train: every registered one is offered. Outside the form, so
    that picking one shows its settings at once; returned in the registry's order."""
    names = methods.names()
    picked = st.multiselect(
        "students",
        names,
        [
            n
            for n in ui_state.initial(f"{p}-archs", [s.method for s in PipelineConfig().students])
            if n in names
        ],
        format_func=methods.title,
        key=f"{p}-archs",
        help=help_of(PipelineConfig, "students"),
    )
    return [n for n in names if n in picked]


# The word students' form as it always was: (columns, fields) per row, each field with the label
# and widget key suffix the form has always had (saved form values and the tests know them).
WORD_ROWS: tuple[tuple[int, tuple[tuple[str, str, str], ...]], ...] = (
    (
        3,
        (
            ("loss", "distillation loss", "loss"),
            ("temperature", "temperature T", "temp"),
            ("alpha", "alpha", "alpha"),
        ),
    ),
    (
        4,
        (
            ("epochs", "student epochs", "s-epochs"),
            ("lr", "student lr", "s-lr"),
            ("batch_size", "student batch size", "s-batch"),
            ("max_len", "max words", "s-maxlen"),
        ),
    ),
    (
        3,
        (
            ("embed_dim", "embedding dim", "embed"),
            ("hidden_dim", "hidden dim (BiLSTM)", "hidden"),
        ),
    ),
)
WORD_FORMATS = {"lr": "%.0e"}


def word_section(p: str, seed: int, picked: list[str]) -> list:
    """The word students' knobs (BiLSTM / TextCNN share them), one config per picked one; the
    one hidden width sets the BiLSTM's hidden size and the TextCNN's dense layer alike."""
    rows = [
        (n_cols, [knobs.field_knob(StudentConfig, f, key, label) for f, label, key in fields])
        for n_cols, fields in WORD_ROWS
    ]
    values = laid_out_rows(p, rows, WORD_FORMATS)
    return [
        methods.default_config(a, **values, dense_dim=values["hidden_dim"], seed=seed)
        for a in picked
    ]


def students_section(p: str, seed: int, picked: list[str]) -> tuple[list, bool]:
    """The picked methods in plain words, then their knobs: the word students' as always, the
    transformer students' generated from their configs."""
    for n in picked:
        st.caption(f"**{methods.title(n)}**: {methods.get(n).summary}")
    if not picked:
        st.caption("Pick the students to train above the form.")
    word = [n for n in picked if methods.get(n).family == "word"]
    students: list = []
    if word:
        st.markdown("*Word students* (" + ", ".join(methods.title(n) for n in word) + ")")
        students += word_section(p, seed, word)
    for family, title in (("char", "Character students"), ("transformer", "Transformer students")):
        these = [n for n in picked if methods.get(n).family == family]
        if these:
            st.markdown(f"*{title}* (" + ", ".join(methods.title(n) for n in these) + ")")
            # widget keys: the transformer block keeps the page's prefix, others get their own
            prefix = p if family == "transformer" else f"{p}-{family}"
            students += generated_section(prefix, seed, these, family)
    plain = st.checkbox(
        "also train plain baselines (labels only)",
        ui_state.initial(f"{p}-plain", PipelineConfig().plain_baseline),
        key=f"{p}-plain",
        help=help_of(PipelineConfig, "plain_baseline"),
    )
    order = {n: i for i, n in enumerate(picked)}
    return sorted(students, key=lambda c: order[c.method]), plain
