"""Data: choose the default set, a file in the home folder or an upload; validate, preview, augment."""

from __future__ import annotations

import streamlit as st

from dashboard import ui_state, widgets
from dashboard.data_preview import augment_preview, data_overview
from dashboard.data_sources import (
    MODES,
    default_source,
    home_source,
    label_names_section,
    upload_source,
)

st.title(":material/dataset: Data")
st.caption(
    "Pick what the teacher and the students learn from. Labelled files are `label<TAB>text` "
    "per line, or CSV with a `label` and a `text` column; an unlabelled transfer file has one "
    "text per line. Sentence pairs (question matching, NLI) are `text_a<TAB>text_b<TAB>label` "
    "or a header naming `text_a`, `text_b` and `label`; their transfer file has "
    "`text_a<TAB>text_b` lines. The teacher labels the transfer texts (and their augmented "
    "variants) for the students."
)

choice = ui_state.data_choice()
home = widgets.home()
top = st.container()  # what Train will use and what to do next: filled once the files are read
mode = st.radio(
    "Data source",
    list(MODES),
    index=list(MODES).index(choice.get("mode", "default")),
    format_func=MODES.get,
    horizontal=True,
    key="data-mode",
)


if mode == "default":
    train_ds, new_choice, rejected = default_source()
elif mode == "home":
    train_ds, new_choice, rejected = home_source(choice, home)
else:  # upload
    train_ds, new_choice, rejected = upload_source(choice, home)

names = None  # the class names the chart and preview show: the typed ones, once accepted
if new_choice is not None and train_ds is not None:
    names = label_names_section(choice, train_ds, new_choice)

with top:
    if new_choice is not None:
        ui_state.set_data_choice(new_choice)
        ui_state.set_data_rejected(None)
        st.success(
            f"The **Train** page will use {new_choice['label']}. Next: open **Train** to "
            "fine-tune the teacher and distil the students on it (the augmentation settings "
            "below become the defaults there).",
            icon=":material/check:",
        )
    elif rejected is not None:
        ui_state.set_data_rejected(rejected)
        st.warning(
            f"Not accepted: {rejected} (see the problems below). The **Train** page still "
            f"uses {choice['label']}: fix the file, or pick another.",
            icon=":material/block:",
        )
    else:
        st.info(f"The **Train** page uses {choice['label']}.", icon=":material/lightbulb:")

# -- preview -----------------------------------------------------------------------------------
if train_ds is not None:
    data_overview(train_ds, names)
    augment_preview(train_ds)
