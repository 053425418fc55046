"""The Train forms' common sections, each returning the engine's own config objects: data limits,
target domains, teacher, augmentation, run name / latency / device, and the earlier run whose
teacher a run reuses. Every initial value, range and help text comes from the config dataclasses
(core/config.py)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.cli.fields import help_of, widget_kwargs
from core.config import AugmentConfig, DataConfig, DomainConfig, TeacherConfig
from core.runs.config import PipelineConfig
from core.teacher.hf import AUTO, PRESETS
from core.train.device import available_devices
from dashboard import ui_state
from dashboard.labels import run_label


def data_section(p: str, choice: dict) -> DataConfig:
    """Data limits and the seed (the data files are the Data page's choice)."""
    d = DataConfig(train=choice.get("train"))
    c1, c2, c3, c4 = st.columns(4)
    max_train = c1.number_input(
        "max train texts",
        **ui_state.initial_number(
            f"{p}-max-train", widget_kwargs(DataConfig, "max_train", value=d.effective_max_train())
        ),
        key=f"{p}-max-train",
    )
    max_transfer = c2.number_input(
        "max transfer texts",
        **ui_state.initial_number(f"{p}-max-transfer", widget_kwargs(DataConfig, "max_transfer")),
        key=f"{p}-max-transfer",
    )
    max_test = c3.number_input(
        "max test texts",
        **ui_state.initial_number(f"{p}-max-test", widget_kwargs(DataConfig, "max_test")),
        key=f"{p}-max-test",
    )
    seed = c4.number_input(
        "seed",
        **ui_state.initial_number(f"{p}-seed", widget_kwargs(DataConfig, "seed")),
        key=f"{p}-seed",
    )
    data = DataConfig(
        train=choice.get("train"),
        test=choice.get("test"),
        transfer=choice.get("transfer"),
        label_names=choice.get("label_names"),
        max_train=int(max_train) or None,
        max_transfer=int(max_transfer) or None,
        max_test=int(max_test) or None,
        seed=int(seed),
    )
    data.max_train = data.effective_max_train()  # as the CLI does: the embedded set's cap
    return data


@st.cache_data(show_spinner=False, max_entries=16)
def domains_of(path: str, mtime: float) -> list[str]:
    """The domains of a labelled file, cached per path and mtime; none for a bad file."""
    from core.data.load import load_labelled

    try:
        return load_labelled(path).domain_names()
    except Exception:  # noqa: BLE001 - the Data page reports bad files; here: no domains
        return []


def domain_section(p: str, choice: dict) -> DomainConfig:
    """Target domains and MetaKD's meta-teacher, offered when the chosen data name domains."""
    train = choice.get("train")
    path = Path(train) if train else None
    found = domains_of(str(path), path.stat().st_mtime) if path and path.exists() else []
    if not found:
        st.caption(
            "No domains in these data: a file with a `domain` column (domain, label, text in "
            "any order) enables per-domain students, MetaKD's meta-teacher and NewsBERT's "
            "per-domain comparison."
        )
        return DomainConfig()
    st.caption(f"Domains in the data: {', '.join(found)}.")
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    targets = c1.multiselect(
        "target domains",
        found,
        [d for d in ui_state.initial(f"{p}-targets", []) if d in found],
        help=help_of(DomainConfig, "target_domains"),
        key=f"{p}-targets",
    )
    meta_on = c2.checkbox(
        "meta-teacher (MetaKD)",
        ui_state.initial(f"{p}-meta", DomainConfig().meta_teacher),
        help=help_of(DomainConfig, "meta_teacher"),
        key=f"{p}-meta",
    )
    weight = c3.number_input(
        "domain loss weight",
        **ui_state.initial_number(
            f"{p}-domain-weight", widget_kwargs(DomainConfig, "domain_loss_weight")
        ),
        key=f"{p}-domain-weight",
    )
    first = c4.number_input(
        "intermediate epochs",
        **ui_state.initial_number(
            f"{p}-meta-first", widget_kwargs(DomainConfig, "intermediate_epochs")
        ),
        key=f"{p}-meta-first",
    )
    return DomainConfig(
        target_domains=",".join(targets) or None,
        meta_teacher=bool(meta_on),
        domain_loss_weight=float(weight),
        intermediate_epochs=int(first),
    )


def teacher_section(p: str, seed: int) -> TeacherConfig:
    """The teacher: a preset or a checkpoint folder, and its fine-tuning settings."""
    c1, c2 = st.columns([1, 2])
    default = TeacherConfig().model
    options = (AUTO, *PRESETS)
    preset = c1.selectbox(
        "teacher preset",
        options,
        index=ui_state.initial_index(f"{p}-preset", options, default),
        key=f"{p}-preset",
        help=help_of(TeacherConfig, "model"),
    )
    custom = c2.text_input(
        "or a local checkpoint folder / hub name (overrides the preset)",
        ui_state.initial(f"{p}-custom", ""),
        key=f"{p}-custom",
        placeholder="/path/to/bert-checkpoint",
    )
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input(
        "teacher epochs",
        **ui_state.initial_number(f"{p}-t-epochs", widget_kwargs(TeacherConfig, "epochs")),
        key=f"{p}-t-epochs",
    )
    lr = c2.number_input(
        "teacher lr",
        **ui_state.initial_number(f"{p}-t-lr", widget_kwargs(TeacherConfig, "lr")),
        format="%.0e",
        key=f"{p}-t-lr",
    )
    batch = c3.number_input(
        "teacher batch size",
        **ui_state.initial_number(f"{p}-t-batch", widget_kwargs(TeacherConfig, "batch_size")),
        key=f"{p}-t-batch",
    )
    max_length = c4.number_input(
        "max tokens",
        **ui_state.initial_number(f"{p}-t-maxlen", widget_kwargs(TeacherConfig, "max_length")),
        key=f"{p}-t-maxlen",
    )
    return TeacherConfig(
        model=custom.strip() or preset,
        epochs=int(epochs),
        lr=float(lr),
        batch_size=int(batch),
        max_length=int(max_length),
        seed=seed,
    )


def augment_section(p: str, seed: int) -> tuple[AugmentConfig, bool]:
    """Whether to augment, and how: the Data page's preview sliders set the defaults."""
    a = ui_state.augment_params()  # the Data page's preview sliders, else AugmentConfig's
    use = st.checkbox(
        "augment the training texts (Tang et al. 2019)",
        ui_state.initial(f"{p}-use-aug", PipelineConfig().use_augmentation),
        key=f"{p}-use-aug",
        help=help_of(PipelineConfig, "use_augmentation"),
    )
    c1, c2, c3, c4 = st.columns(4)
    values = {}
    for col, name in zip((c1, c2, c3), ("p_mask", "p_pos", "p_ng"), strict=True):
        values[name] = col.slider(
            name,
            **ui_state.initial_number(
                f"{p}-{name.replace('_', '-')}", widget_kwargs(AugmentConfig, name, value=a[name])
            ),
            key=f"{p}-{name.replace('_', '-')}",
        )
    n_iter = c4.number_input(
        "n_iter (variants per text)",
        **ui_state.initial_number(
            f"{p}-n-iter", widget_kwargs(AugmentConfig, "n_iter", value=a["n_iter"])
        ),
        key=f"{p}-n-iter",
    )
    return AugmentConfig(**values, n_iter=int(n_iter), seed=seed), use


def common_section(p: str) -> tuple[str, int, str]:
    """Run name, latency samples and device: (name, latency samples, device)."""
    d = PipelineConfig()
    c1, c2, c3 = st.columns([2, 1, 1])
    name = c1.text_input(
        "run name (optional)", key=f"{p}-name", help=help_of(PipelineConfig, "name")
    )
    latency = c2.number_input(
        "latency samples",
        **ui_state.initial_number(f"{p}-latency", widget_kwargs(PipelineConfig, "latency_samples")),
        key=f"{p}-latency",
    )
    devices = available_devices()  # "cuda" only where torch sees a GPU
    device = c3.selectbox(
        "device",
        devices,
        index=ui_state.initial_index(f"{p}-device", devices, d.device),
        key=f"{p}-device",
        help=help_of(PipelineConfig, "device")
        + ("" if "cuda" in devices else " No CUDA GPU is visible to torch here."),
    )
    return name.strip(), int(latency), device


def teacher_run_select(p: str, runs: list[dict]) -> tuple[dict, bool]:
    """The earlier run whose teacher to reuse, and whether to reuse its data settings."""
    c1, c2 = st.columns([2, 1])
    by_id = {r["id"]: r for r in runs}
    rid = c1.selectbox(
        "teacher from run",
        list(by_id),
        format_func=lambda i: f"{run_label(by_id[i])} · {by_id[i].get('teacher')}",
        key=f"{p}-teacher-run",
    )
    run = by_id[rid]
    same = c2.checkbox(
        "same data as that run",
        True,
        key=f"{p}-same-data",
        help="Reuse the teacher run's data settings (same labels and test split; cached teacher "
        "logits). Untick to use the Data page's choice and the limits below.",
    )
    return run, same


def teacher_choice(p: str, runs: list[dict]) -> int | None:
    """A new teacher (None) or the id of an earlier run whose teacher a sweep or a search
    reuses. Outside the form, so that the new teacher's settings show only when there is one
    to make (see `new_teacher_section`)."""
    return st.selectbox(
        "teacher",
        [None] + [r["id"] for r in runs],
        format_func=lambda i: (
            "fine-tune a new one (settings below)"
            if i is None
            else run_label(next(r for r in runs if r["id"] == i))
        ),
        key=f"{p}-teacher-run",
    )


def new_teacher_section(p: str, reuse: int | None, seed: int, what: str) -> TeacherConfig:
    """Inside the form: the new teacher's settings, or a line saying `what` ("The sweep",
    "The search") reuses the chosen run's teacher, whose settings then replace these."""
    if reuse is None:
        with st.expander("Teacher settings (for a new teacher)"):
            return teacher_section(p, seed)
    st.caption(f"{what} reuses that run's fine-tuned teacher (and its settings).")
    return TeacherConfig(seed=seed)
