"""The Data page's look at an accepted training set: figures, class balance and lengths, domains,
the first rows, and the augmentation preview whose sliders become the Train page's defaults."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pandas as pd
import streamlit as st

from core.cli.fields import widget_kwargs
from core.config import AugmentConfig
from core.data import pairs
from core.data.augment import preview, preview_pair
from core.data.labelled import class_counts, domain_class_counts
from dashboard import ui_state, widgets
from dashboard.data_charts import class_balance, domain_balance, length_histogram


def words_only(text: str) -> str:
    """The text without punctuation, spaces and symbols: what a variant must change to be one."""
    return re.sub(r"[\W_]+", "", text).lower()


def new_variants(variants: list[str], source: str) -> list[str]:
    """Variants that change a word of the source (one that differs only by punctuation or
    spacing, "good phone" -> "good phone ,", teaches nothing and reads as a bug), once each."""
    seen = {words_only(source)}
    out = []
    for v in variants:
        w = words_only(v)
        if w and w not in seen:
            seen.add(w)
            out.append(v)
    return out


@st.cache_data(show_spinner="Augmenting…", max_entries=64)
def cached_preview(
    text: str, p_mask: float, p_pos: float, p_ng: float, n: int, context: tuple[str, ...]
):
    """The augmentation of one sentence (or pair), cached per text, settings and context."""
    cfg = AugmentConfig(p_mask=p_mask, p_pos=p_pos, p_ng=p_ng, n_iter=n)
    if pairs.is_pair(text):
        return preview_pair(text, cfg, context=list(context), n=n)
    return preview(text, cfg, context=list(context), n=n)


def data_overview(train_ds: Any, names: list[str] | None = None) -> None:
    """Figures, warnings, class balance and lengths, the domains and the first 500 rows, the
    classes called by `names` (the label names typed on the page) where given."""
    if names and list(names) != list(train_ds.label_names):
        train_ds = dataclasses.replace(train_ds, label_names=list(names))  # the cached set stays
    counts = class_counts(train_ds)
    is_pairs = train_ds.task == "pair"
    # a pair's length: both sentences together (what the teacher reads, side by side)
    lengths = [len(t) - is_pairs for t in train_ds.texts]
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Labelled pairs" if is_pairs else "Labelled texts", f"{len(train_ds):,}")
    m2.metric("Task", "sentence pairs" if is_pairs else "single texts")
    m3.metric("Classes", len(counts))
    m4.metric("Median length (chars)", int(pd.Series(lengths).median()))
    m5.metric("Encoding", train_ds.encoding)
    if train_ds.warnings:
        lines = widgets.problem_lines(train_ds.warnings)
        st.warning(
            f"{len(lines)} warning(s) (the file is usable):\n\n"
            + "\n".join(f"- `{s}`" for s in lines[:10])
            + (f"\n- … and {len(lines) - 10} more" if len(lines) > 10 else "")
        )
    g1, g2 = st.columns(2)
    g1.plotly_chart(class_balance(counts), key="class-balance")
    g2.plotly_chart(length_histogram(lengths), key="length-hist")
    if train_ds.domains is not None:
        per = domain_class_counts(train_ds)
        st.markdown(
            f"**{len(per)} domains**: the Train page can distil students per target domain "
            "(and a MetaKD meta-teacher across them)."
        )
        d1, d2 = st.columns([3, 2])
        d1.plotly_chart(domain_balance(per), key="domain-balance")
        table = pd.DataFrame.from_dict(per, orient="index")
        table.insert(0, "rows", table.sum(axis=1))
        d2.dataframe(table, key="domain-table")
    shown = {"label": [train_ds.label_names[y] for y in train_ds.labels[:500]]}
    if is_pairs:  # both sides, each in its own column
        sides = [pairs.split(t) for t in train_ds.texts[:500]]
        shown.update(text_a=[a for a, _ in sides], text_b=[b for _, b in sides])
    else:
        shown["text"] = train_ds.texts[:500]
    st.dataframe(pd.DataFrame(shown), height=260, hide_index=True, key="data-preview")
    st.caption(f"First {min(500, len(train_ds))} of {len(train_ds):,} rows.")


def augment_preview(train_ds: Any) -> None:
    """Tang et al. 2019's augmentation of one sentence (or pair), with its sliders."""
    is_pairs = train_ds.task == "pair"
    st.subheader("Augmentation preview")
    st.caption(
        "Tang et al. 2019: each word is masked with p_mask, else swapped for a word of the same "
        "part of speech with p_pos; then with p_ng only an n-gram is kept. The teacher labels "
        "these synthetic sentences for the students."
    )
    params = ui_state.augment_params()
    if is_pairs:
        st.caption(
            "For sentence pairs (section 3.3) every synthetic pair changes text_a only, text_b "
            "only, or both, n_iter of each."
        )
        sample = next((t for t in train_ds.texts if 16 <= len(t) <= 80), train_ds.texts[0])
        a0, b0 = pairs.split(sample)
        t1, t2 = st.columns(2)
        text_a = t1.text_input("text_a", value=a0, key="aug-text-a")
        text_b = t2.text_input("text_b", value=b0, key="aug-text-b")
        text = (
            pairs.join(text_a.strip(), text_b.strip()) if text_a.strip() and text_b.strip() else ""
        )
    else:
        sample = next((t for t in train_ds.texts if 8 <= len(t) <= 60), train_ds.texts[0])
        text = st.text_input("Sentence", value=sample, key="aug-text")
    s1, s2, s3, s4 = st.columns(4)
    # ranges, help and (through ui_state.augment_params) initial values from AugmentConfig
    p_mask = s1.slider(
        "p_mask", **widget_kwargs(AugmentConfig, "p_mask", value=params["p_mask"]), key="aug-p-mask"
    )
    p_pos = s2.slider(
        "p_pos", **widget_kwargs(AugmentConfig, "p_pos", value=params["p_pos"]), key="aug-p-pos"
    )
    p_ng = s3.slider(
        "p_ng", **widget_kwargs(AugmentConfig, "p_ng", value=params["p_ng"]), key="aug-p-ng"
    )
    n_iter = s4.slider(
        "n_iter", **widget_kwargs(AugmentConfig, "n_iter", value=params["n_iter"]), key="aug-n-iter"
    )
    ui_state.set_augment_params({"p_mask": p_mask, "p_pos": p_pos, "p_ng": p_ng, "n_iter": n_iter})
    if text.strip():
        with widgets.engine_errors("The augmentation preview"):
            context = tuple(train_ds.texts[:300])
            out = cached_preview(text.strip(), p_mask, p_pos, p_ng, n_iter, context)
            if is_pairs:
                kinds = [
                    ("a_only", "text_a changed"),
                    ("b_only", "text_b changed"),
                    ("both", "Both changed"),
                ]
            else:
                st.caption("Words / part of speech: " + "  ".join(out["words"]))
                kinds = [
                    ("masked", "Masked"),
                    ("pos_replaced", "POS-replaced"),
                    ("ngram", "n-gram"),
                    ("combined", "Combined (what training uses)"),
                ]
            cols = st.columns(len(kinds))
            for col, (k, title) in zip(cols, kinds, strict=True):
                # whole sentences, wrapped: a table cell would cut every variant off
                box = col.container(border=True, key=f"aug-{k}")
                box.markdown(f"**{title}**")
                variants = [pairs.show(v) for v in new_variants(out.get(k) or [], text.strip())]
                box.markdown(
                    "\n".join(f"- {v}" for v in variants) if variants else "*(no new variant)*"
                )
