"""Train: launch teacher / augment / distill / whole-pipeline runs and follow the active ones."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import methods
from core.cli.fields import help_of, meta, widget_kwargs
from core.config import (
    AugmentConfig,
    DataConfig,
    DomainConfig,
    StudentConfig,
    TeacherConfig,
    to_dict,
)
from core.runs.config import PipelineConfig, pipeline_from_dict
from core.runs.plans import preflight
from core.runs.sweep import OBJECTIVES, SweepConfig, parse_space
from core.teacher.hf import AUTO, PRESETS
from core.train.device import available_devices
from dashboard import knobs, widgets
from dashboard.tables import run_label

FLASH = "_train_flash"


# -- form sections (each returns the engine's own config objects) ------------------------------
# Every initial value, range and help text comes from the config dataclasses (core/config.py).
def data_section(p: str, choice: dict) -> DataConfig:
    d = DataConfig(train=choice.get("train"))
    c1, c2, c3, c4 = st.columns(4)
    max_train = c1.number_input(
        "max train texts",
        **widget_kwargs(DataConfig, "max_train", value=d.effective_max_train()),
        key=f"{p}-max-train",
    )
    max_transfer = c2.number_input(
        "max transfer texts", **widget_kwargs(DataConfig, "max_transfer"), key=f"{p}-max-transfer"
    )
    max_test = c3.number_input(
        "max test texts", **widget_kwargs(DataConfig, "max_test"), key=f"{p}-max-test"
    )
    seed = c4.number_input("seed", **widget_kwargs(DataConfig, "seed"), key=f"{p}-seed")
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
def _domains_of(path: str, mtime: float) -> list[str]:
    from core.data.load import load_labelled

    try:
        return load_labelled(path).domain_names()
    except Exception:  # noqa: BLE001 - the Data page reports bad files; here: no domains
        return []


def domain_section(p: str, choice: dict) -> DomainConfig:
    """Target domains and MetaKD's meta-teacher, offered when the chosen data name domains."""
    train = choice.get("train")
    path = Path(train) if train else None
    found = _domains_of(str(path), path.stat().st_mtime) if path and path.exists() else []
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
        help=help_of(DomainConfig, "target_domains"),
        key=f"{p}-targets",
    )
    meta_on = c2.checkbox(
        "meta-teacher (MetaKD)",
        DomainConfig().meta_teacher,
        help=help_of(DomainConfig, "meta_teacher"),
        key=f"{p}-meta",
    )
    weight = c3.number_input(
        "domain loss weight",
        **widget_kwargs(DomainConfig, "domain_loss_weight"),
        key=f"{p}-domain-weight",
    )
    first = c4.number_input(
        "intermediate epochs",
        **widget_kwargs(DomainConfig, "intermediate_epochs"),
        key=f"{p}-meta-first",
    )
    return DomainConfig(
        target_domains=",".join(targets) or None,
        meta_teacher=bool(meta_on),
        domain_loss_weight=float(weight),
        intermediate_epochs=int(first),
    )


def teacher_section(p: str, seed: int) -> TeacherConfig:
    c1, c2 = st.columns([1, 2])
    default = TeacherConfig().model
    options = (AUTO, *PRESETS)
    preset = c1.selectbox(
        "teacher preset",
        options,
        index=options.index(default) if default in options else 0,
        key=f"{p}-preset",
        help=help_of(TeacherConfig, "model"),
    )
    custom = c2.text_input(
        "or a local checkpoint folder / hub name (overrides the preset)",
        key=f"{p}-custom",
        placeholder="/path/to/bert-checkpoint",
    )
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input(
        "teacher epochs", **widget_kwargs(TeacherConfig, "epochs"), key=f"{p}-t-epochs"
    )
    lr = c2.number_input(
        "teacher lr", **widget_kwargs(TeacherConfig, "lr"), format="%.0e", key=f"{p}-t-lr"
    )
    batch = c3.number_input(
        "teacher batch size", **widget_kwargs(TeacherConfig, "batch_size"), key=f"{p}-t-batch"
    )
    max_length = c4.number_input(
        "max tokens", **widget_kwargs(TeacherConfig, "max_length"), key=f"{p}-t-maxlen"
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
    a = widgets.augment_params()  # the Data page's preview sliders, else AugmentConfig's
    use = st.checkbox(
        "augment the training texts (Tang et al. 2019)",
        PipelineConfig().use_augmentation,
        key=f"{p}-use-aug",
        help=help_of(PipelineConfig, "use_augmentation"),
    )
    c1, c2, c3, c4 = st.columns(4)
    values = {}
    for col, name in zip((c1, c2, c3), ("p_mask", "p_pos", "p_ng"), strict=True):
        values[name] = col.slider(
            name,
            **widget_kwargs(AugmentConfig, name, value=a[name]),
            key=f"{p}-{name.replace('_', '-')}",
        )
    n_iter = c4.number_input(
        "n_iter (variants per text)",
        **widget_kwargs(AugmentConfig, "n_iter", value=a["n_iter"]),
        key=f"{p}-n-iter",
    )
    return AugmentConfig(**values, n_iter=int(n_iter), seed=seed), use


def students_picker(p: str) -> list[str]:
    """Which student methods to train: every registered one is offered. Outside the form, so
    that picking one shows its settings at once; returned in the registry's order."""
    names = methods.names()
    picked = st.multiselect(
        "students",
        names,
        [s.method for s in PipelineConfig().students],
        format_func=methods.title,
        key=f"{p}-archs",
        help=help_of(PipelineConfig, "students"),
    )
    return [n for n in names if n in picked]


def word_section(p: str, seed: int, picked: list[str]) -> list:
    """The word students' knobs (BiLSTM / TextCNN share them), one config per picked one."""
    d = StudentConfig()
    c1, c2, c3 = st.columns(3)
    losses = meta(StudentConfig, "loss")["choices"]
    loss = c1.selectbox(
        "distillation loss",
        losses,
        index=losses.index(d.loss),
        key=f"{p}-loss",
        help=help_of(StudentConfig, "loss"),
    )
    temperature = c2.number_input(
        "temperature T", **widget_kwargs(StudentConfig, "temperature"), key=f"{p}-temp"
    )
    alpha = c3.slider("alpha", **widget_kwargs(StudentConfig, "alpha"), key=f"{p}-alpha")
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input(
        "student epochs", **widget_kwargs(StudentConfig, "epochs"), key=f"{p}-s-epochs"
    )
    lr = c2.number_input(
        "student lr", **widget_kwargs(StudentConfig, "lr"), format="%.0e", key=f"{p}-s-lr"
    )
    batch = c3.number_input(
        "student batch size", **widget_kwargs(StudentConfig, "batch_size"), key=f"{p}-s-batch"
    )
    max_len = c4.number_input(
        "max words", **widget_kwargs(StudentConfig, "max_len"), key=f"{p}-s-maxlen"
    )
    c1, c2, _ = st.columns(3)
    embed = c1.number_input(
        "embedding dim", **widget_kwargs(StudentConfig, "embed_dim"), key=f"{p}-embed"
    )
    hidden = c2.number_input(
        "hidden dim (BiLSTM)", **widget_kwargs(StudentConfig, "hidden_dim"), key=f"{p}-hidden"
    )
    return [
        methods.default_config(
            a,
            loss=loss,
            alpha=float(alpha),
            temperature=float(temperature),
            epochs=int(epochs),
            lr=float(lr),
            batch_size=int(batch),
            embed_dim=int(embed),
            hidden_dim=int(hidden),
            dense_dim=int(hidden),
            max_len=int(max_len),
            seed=seed,
        )
        for a in picked
    ]


def knob_widget(p: str, k: knobs.Knob, where=st) -> object:
    """One generated widget for a config field (see dashboard/knobs.py)."""
    key = f"{p}-{k.key}"
    label, helptext = k.label, knobs.help_text(k)
    if k.kind == "bool":
        return where.checkbox(label, knobs.initial(k), key=key, help=helptext)
    if k.kind == "choice":
        options = meta(k.cls, k.name)["choices"]
        return where.selectbox(
            label, options, index=options.index(knobs.initial(k)), key=key, help=helptext
        )
    if k.kind in ("text", "ints"):
        placeholder = meta(k.cls, k.name).get("none", "")
        return where.text_input(
            label, knobs.initial(k), key=key, help=helptext, placeholder=placeholder
        )
    kw = {**knobs.number_kwargs(k), "help": helptext}
    if knobs.is_slider(k):
        kw.pop("format", None)
        return where.slider(label, **kw, key=key)
    return where.number_input(label, **kw, key=key)


def _width(k: knobs.Knob) -> int:
    return 2 if k.kind in ("text", "ints") else 1


def knob_rows(p: str, ks: list[knobs.Knob], per_row: int = 4) -> dict[str, object]:
    """Widgets for `ks`, `per_row` places to a row (a text field takes two)."""
    rows: list[list[knobs.Knob]] = [[]]
    for k in ks:
        if sum(map(_width, rows[-1])) + _width(k) > per_row:
            rows.append([])
        rows[-1].append(k)
    raw: dict[str, object] = {}
    for row in rows:
        widths = [_width(k) for k in row]
        cols = st.columns(widths + ([per_row - sum(widths)] if sum(widths) < per_row else []))
        for k, col in zip(row, cols, strict=False):
            raw[k.key] = knob_widget(p, k, col)
    return raw


def generated_section(p: str, seed: int, picked: list[str], family: str) -> list:
    """Generated from the config dataclasses of one family's methods (character students,
    transformer students): the knobs several picked methods share once (grouped by the methods
    they apply to), then each method's own in its expander. Returns one config per picked
    method."""
    names = [n for n in methods.names() if methods.get(n).family == family]
    everyone = {"char": "every character student", "transformer": "every transformer student"}
    ks = knobs.knobs(names)
    raw: dict[str, object] = {}
    groups: dict[tuple[str, ...], list[knobs.Knob]] = {}
    for k in knobs.shared_knobs(names, picked):
        groups.setdefault(tuple(u for u in k.users if u in picked), []).append(k)
    for users, group in groups.items():
        if len(users) < 2:
            continue  # shared with methods not picked: it goes in its one user's expander
        who = (
            everyone[family]
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
        PipelineConfig().plain_baseline,
        key=f"{p}-plain",
        help=help_of(PipelineConfig, "plain_baseline"),
    )
    order = {n: i for i, n in enumerate(picked)}
    return sorted(students, key=lambda c: order[c.method]), plain


def common_section(p: str) -> tuple[str, int, str]:
    d = PipelineConfig()
    c1, c2, c3 = st.columns([2, 1, 1])
    name = c1.text_input(
        "run name (optional)", key=f"{p}-name", help=help_of(PipelineConfig, "name")
    )
    latency = c2.number_input(
        "latency samples", **widget_kwargs(PipelineConfig, "latency_samples"), key=f"{p}-latency"
    )
    devices = available_devices()  # "cuda" only where torch sees a GPU
    device = c3.selectbox(
        "device",
        devices,
        index=devices.index(d.device) if d.device in devices else 0,
        key=f"{p}-device",
        help=help_of(PipelineConfig, "device")
        + ("" if "cuda" in devices else " No CUDA GPU is visible to torch here."),
    )
    return name.strip(), int(latency), device


def teacher_run_select(p: str, runs: list[dict]) -> tuple[dict, bool]:
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


def submit(kind: str, cfg: PipelineConfig, prefix: str, extra: dict | None = None) -> None:
    with widgets.engine_errors(f"Starting the {kind} run"):
        widgets.remember_form_values(prefix)  # a reload or a new tab finds this form as it is
        # the data and a reused teacher are checked before a run exists (the CLI does the same)
        checked = kind if kind != "sweep" else ("distill" if cfg.teacher_run else "pipeline")
        preflight(widgets.store(), checked, cfg)
        rid = widgets.manager().submit(kind, cfg, extra=extra)
        pos = widgets.store().queue_position(rid)
        where = f", position {pos[0]} of {pos[1]}" if pos else ""
        st.session_state[FLASH] = (
            f"Run {rid} ({kind}) queued{where}: a worker takes it; follow it under **Active runs**."
        )
        st.rerun()


# -- page --------------------------------------------------------------------------------------
st.title(":material/model_training: Train")
widgets.restore_form_values()
choice = widgets.data_choice()
st.info(f"Data: {choice['label']} (change it on the **Data** page).", icon=":material/dataset:")
if rejected := widgets.data_rejected():
    st.warning(
        f"The **Data** page did not accept {rejected}: runs started here use "
        f"{choice['label']}, the last data it accepted.",
        icon=":material/warning:",
    )
if msg := st.session_state.pop(FLASH, None):
    st.success(msg, icon=":material/rocket_launch:")

st.subheader("Active runs")
widgets.active_runs_panel()
widgets.recent_runs_panel()

s = widgets.store()
all_runs: list[dict] = []
t_runs: list[dict] = []
with widgets.engine_errors("Reading the runs"):
    all_runs = s.runs()
    t_runs = widgets.teacher_runs(s)
if not all_runs:
    widgets.empty_state(
        "No runs yet. Start with **Whole pipeline** below: the defaults are small enough for a "
        "2-core CPU (roughly 10-15 minutes with the m3e-small teacher)."
    )

st.subheader("Start a run")
tabs = st.tabs(
    [
        ":material/bolt: Whole pipeline",
        ":material/school: Teacher only",
        ":material/auto_awesome: Augment + label",
        ":material/compress: Distil students",
        ":material/tune: Sweep",
    ]
)

with tabs[0]:
    st.caption(
        "Fine-tune the teacher, augment, let the teacher label the transfer set, distil the "
        "students (and plain baselines), then evaluate everything on the test set."
    )
    picked = students_picker("pipe")
    with st.form("form-pipeline"):
        st.markdown("**Data**")
        data = data_section("pipe", choice)
        st.markdown("**Teacher**")
        teacher = teacher_section("pipe", data.seed)
        st.markdown("**Augmentation**")
        aug, use_aug = augment_section("pipe", data.seed)
        st.markdown("**Students**")
        students, plain = students_section("pipe", data.seed, picked)
        st.markdown("**Domains**")
        domains = domain_section("pipe", choice)
        name, latency, device = common_section("pipe")
        if st.form_submit_button("Run the whole pipeline", type="primary", key="go-pipeline"):
            if not students:
                st.error("Pick at least one student architecture.")
            elif domains.meta_teacher and not domains.targets():
                st.error("The meta-teacher distils for target domains: pick at least one.")
            else:
                submit(
                    "pipeline",
                    PipelineConfig(
                        data=data,
                        teacher=teacher,
                        augment=aug,
                        domains=domains,
                        students=students,
                        plain_baseline=plain,
                        use_augmentation=use_aug,
                        latency_samples=latency,
                        name=name,
                        device=device,
                    ),
                    "pipe",
                )

with tabs[1]:
    st.caption("Fine-tune and evaluate only the teacher; later runs can reuse it.")
    with st.form("form-teacher"):
        data = data_section("teach", choice)
        teacher = teacher_section("teach", data.seed)
        name, latency, device = common_section("teach")
        if st.form_submit_button("Fine-tune the teacher", type="primary", key="go-teacher"):
            submit(
                "teacher",
                PipelineConfig(
                    data=data,
                    teacher=teacher,
                    students=[],
                    latency_samples=latency,
                    name=name,
                    device=device,
                ),
                "teach",
            )


def _with_teacher_run(base: PipelineConfig, run: dict, same: bool) -> PipelineConfig:
    base.teacher_run = int(run["id"])
    # The reused teacher's settings, not the form-less defaults (m3e-small, ...): the run's
    # config then tells which teacher it used, and Runs compares it honestly.
    base.teacher = pipeline_from_dict(run["config"]).teacher
    if same:
        base.data = pipeline_from_dict(run["config"]).data
    return base


with tabs[2]:
    st.caption(
        "Augment the training texts and let an earlier run's teacher label them with the "
        "transfer set; the logits are cached, so a later distillation on the same data is quick."
    )
    if not t_runs:
        widgets.empty_state(
            "This needs a finished run with a fine-tuned teacher: run **Teacher only** or "
            "**Whole pipeline** first."
        )
    else:
        with st.form("form-augment"):
            run, same = teacher_run_select("aug", t_runs)
            data = data_section("aug", choice)
            aug, use_aug = augment_section("aug", data.seed)
            name, latency, device = common_section("aug")
            if st.form_submit_button("Augment and label", type="primary", key="go-augment"):
                cfg = PipelineConfig(
                    data=data,
                    augment=aug,
                    students=[],
                    use_augmentation=use_aug,
                    latency_samples=latency,
                    name=name,
                    device=device,
                )
                submit("augment", _with_teacher_run(cfg, run, same), "aug")

with tabs[3]:
    st.caption(
        "Distil students (word students, smaller transformers) from an earlier run's "
        "fine-tuned teacher."
    )
    if not t_runs:
        widgets.empty_state(
            "This needs a finished run with a fine-tuned teacher: run **Teacher only** or "
            "**Whole pipeline** first."
        )
    else:
        picked = students_picker("dist")
        with st.form("form-distill"):
            run, same = teacher_run_select("dist", t_runs)
            data = data_section("dist", choice)
            st.markdown("**Augmentation**")
            aug, use_aug = augment_section("dist", data.seed)
            st.markdown("**Students**")
            students, plain = students_section("dist", data.seed, picked)
            name, latency, device = common_section("dist")
            if st.form_submit_button("Distil the students", type="primary", key="go-distill"):
                if not students:
                    st.error("Pick at least one student architecture.")
                else:
                    cfg = PipelineConfig(
                        data=data,
                        augment=aug,
                        students=students,
                        plain_baseline=plain,
                        use_augmentation=use_aug,
                        latency_samples=latency,
                        name=name,
                        device=device,
                    )
                    submit("distill", _with_teacher_run(cfg, run, same), "dist")


with tabs[4]:
    st.caption(
        "An Optuna sweep: one teacher (fine-tuned once, or an earlier run's), then one distill "
        "run per trial through the queue, all sharing the teacher's label cache. Follow it on "
        "the **Sweeps** page."
    )
    sw = SweepConfig()
    student = st.selectbox(
        "student method",
        methods.names(),
        index=methods.names().index(sw.student),
        format_func=lambda n: f"{n}: {methods.get(n).title}",
        help=help_of(SweepConfig, "student"),
        key="sweep-student",
    )
    with st.form("form-sweep"):
        reuse = st.selectbox(
            "teacher",
            [None] + [r["id"] for r in t_runs],
            format_func=lambda i: (
                "fine-tune a new one (settings below)"
                if i is None
                else run_label(next(r for r in t_runs if r["id"] == i))
            ),
            key="sweep-teacher-run",
        )
        data = data_section("sweep", choice)
        with st.expander("Teacher settings (for a new teacher)"):
            teacher = teacher_section("sweep", data.seed)
        c1, c2, c3, c4 = st.columns(4)
        trials = c1.number_input("trials", **widget_kwargs(SweepConfig, "trials"), key="sweep-n")
        objective = c2.selectbox(
            "objective",
            list(OBJECTIVES),
            help=help_of(SweepConfig, "objective"),
            key="sweep-objective-in",
        )
        budget = c3.number_input(
            "latency budget (ms)",
            **widget_kwargs(SweepConfig, "latency_budget_ms"),
            key="sweep-budget-in",
        )
        parallel = c4.number_input(
            "in parallel", **widget_kwargs(SweepConfig, "parallel"), key="sweep-parallel-in"
        )
        space = st.text_area(
            "search space (one parameter per line)",
            "\n".join(sw.space),
            help=help_of(SweepConfig, "space"),
            key="sweep-space",
        )
        name, latency, device = common_section("sweep")
        if st.form_submit_button("Start the sweep", type="primary", key="go-sweep"):
            items = [x.strip() for x in space.splitlines() if x.strip()]
            try:
                parse_space(items, student)
            except ValueError as exc:
                st.error(f"The search space: {exc}")
            else:
                sweep_cfg = SweepConfig(
                    trials=int(trials),
                    space=items,
                    student=student,
                    objective=objective,
                    latency_budget_ms=float(budget),
                    parallel=int(parallel),
                )
                cfg = PipelineConfig(
                    data=data,
                    teacher=teacher,
                    students=[methods.get(student).config(method=student)],
                    plain_baseline=False,
                    latency_samples=latency,
                    name=name,
                    device=device,
                )
                if reuse is not None:
                    run = next(r for r in t_runs if r["id"] == reuse)
                    cfg = _with_teacher_run(cfg, run, same=True)
                submit("sweep", cfg, "sweep", extra={"sweep": to_dict(sweep_cfg)})
