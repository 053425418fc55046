"""Precision on the CPU: `--precision auto|fp32|bf16` resolved per device, bf16 autocast really
used for the teacher (fine-tuning, labelling) and transformer students where the CPU has native
bf16, fp32 where it has not, recorded with the results, and a label cache keyed by it.

Either kind of CPU is simulated with DISTILLERY_CPU_BF16 (0: no native bf16, 1: native), the
override `core.train.device.cpu_bf16_supported` documents; nothing of core is mocked.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from conftest import fast_transformer_students, run_cli, tiny_run_flags

from core.runs.context import RunContext
from core.runs.execute import execute
from core.runs.store import Store
from core.teacher.finetune import fine_tune
from core.teacher.logits import cache_path, teacher_logits
from core.teacher.model import Teacher
from core.train.device import (
    CPU_BF16_ENV,
    DeviceError,
    cpu_bf16_supported,
    precision,
)

CPU = torch.device("cpu")
TEXTS = ["房间很干净", "服务太差了", "早餐一般", "位置很好，交通方便", "不会再来了"]


@pytest.fixture
def no_bf16(monkeypatch):
    monkeypatch.setenv(CPU_BF16_ENV, "0")


@pytest.fixture
def has_bf16(monkeypatch):
    monkeypatch.setenv(CPU_BF16_ENV, "1")


@pytest.fixture(scope="module")
def tiny(tiny_teacher_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher_dir).eval()
    return tok, model


def _teacher(tiny, resolved: str) -> Teacher:
    tok, model = tiny
    return Teacher(tok, model, 32, CPU, ["0", "1"], fingerprint="tiny", precision=resolved)


def _dtypes_seen(model: torch.nn.Module) -> tuple[list[torch.dtype], object]:
    """dtypes of the first linear layer's outputs while the hook is on (autocast shows here)."""
    seen: list[torch.dtype] = []
    linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    handle = linear.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen, handle


# -- resolving a requested precision -------------------------------------------------------------
def test_cpu_flags_decide_without_override(monkeypatch):
    monkeypatch.delenv(CPU_BF16_ENV, raising=False)
    assert not cpu_bf16_supported(frozenset({"avx2", "avx512f", "avx512bw"}))  # emulated only
    avx512 = torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    assert cpu_bf16_supported(frozenset({"amx_bf16"})) == avx512
    assert cpu_bf16_supported(frozenset({"avx512_bf16"})) == avx512


def test_auto_falls_back_to_fp32_without_native_bf16(no_bf16):
    assert precision(CPU, "auto") == "fp32"
    assert precision(CPU, "fp32") == "fp32"
    with pytest.raises(DeviceError, match="precision 'bf16' asked for on cpu.*amx_bf16"):
        precision(CPU, "bf16")
    with pytest.raises(DeviceError, match="choose one of auto, fp32, bf16"):
        precision(CPU, "fp16")


def test_auto_keeps_the_cpu_in_fp32_and_bf16_is_asked_for(has_bf16):
    assert precision(CPU, "auto") == "fp32"  # until a quiet benchmark shows it pays (docs)
    assert precision(CPU, "bf16") == "bf16"
    assert precision(CPU, "fp32") == "fp32"  # asked for: kept, whatever the CPU


# -- bf16 really used --------------------------------------------------------------------------
def test_bf16_labelling_runs_in_bf16_and_stays_close_to_fp32(tiny):
    fp32, bf16 = _teacher(tiny, "fp32"), _teacher(tiny, "bf16")
    seen, handle = _dtypes_seen(tiny[1])
    try:
        a = fp32.logits(TEXTS)
        assert set(seen) == {torch.float32}
        seen.clear()
        b = bf16.logits(TEXTS)
        assert set(seen) == {torch.bfloat16}
        seen.clear()
        one = bf16.predict_one(TEXTS[0])  # batch-1 latency path: the same precision
        assert set(seen) == {torch.bfloat16}
    finally:
        handle.remove()
    assert a.dtype == b.dtype == one.dtype == torch.float32  # logits come back float32
    assert not torch.equal(a, b)  # bf16 was used ...
    assert torch.allclose(a, b, atol=5e-2)  # ... and its logits are the fp32 ones, nearly
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() >= 0.8


def test_fine_tuning_follows_the_requested_precision(
    tiny_data, tiny_teacher_dir, tiny_cfg, tmp_path, monkeypatch
):
    """`bf16` fine-tunes in bf16 on a CPU with native bf16, `auto` in fp32 on any CPU."""
    cfg = tiny_cfg().teacher
    texts = [t for _, t in tiny_data.train_rows[:32]]
    labels = [y for y, _ in tiny_data.train_rows[:32]]
    for flag, asked, want in (("1", "bf16", "bf16"), ("1", "auto", "fp32"), ("0", "auto", "fp32")):
        monkeypatch.setenv(CPU_BF16_ENV, flag)
        seen: list[torch.dtype] = []
        handle = torch.nn.modules.module.register_module_forward_hook(
            lambda m, _i, out, seen=seen: (
                seen.append(out.dtype) if isinstance(m, torch.nn.Linear) else None
            )
        )
        try:
            teacher = fine_tune(
                cfg, texts, labels, ["0", "1"], tmp_path / f"{flag}{asked}", tmp_path,
                device="cpu", requested=asked,
            )  # fmt: skip
        finally:
            handle.remove()
        assert teacher.precision == want
        assert set(seen) == {torch.bfloat16 if want == "bf16" else torch.float32}


# -- the label cache ---------------------------------------------------------------------------
def test_cache_is_keyed_by_precision(tiny, tmp_path):
    fp32, bf16 = _teacher(tiny, "fp32"), _teacher(tiny, "bf16")
    assert cache_path(tmp_path, fp32, TEXTS) != cache_path(tmp_path, bf16, TEXTS)
    a, cached = teacher_logits(fp32, TEXTS, tmp_path)
    assert not cached
    b, cached = teacher_logits(bf16, TEXTS, tmp_path)  # an fp32 cache is not served to bf16
    assert not cached and not torch.equal(a, b)
    again, cached = teacher_logits(fp32, TEXTS, tmp_path)
    assert cached and torch.equal(again, a)
    again, cached = teacher_logits(bf16, TEXTS, tmp_path)
    assert cached and torch.equal(again, b)


# -- recorded with the results -----------------------------------------------------------------
def _run(home, cfg, kind="pipeline") -> dict:
    store = Store(home)
    rid = store.create_run(kind, dataclasses.asdict(cfg))
    execute(store, rid, kind, cfg, RunContext(store, rid))
    assert store.run(rid)["status"] == "done", store.run(rid)["error"]
    return json.loads((store.run_dir(rid) / "results.json").read_text())


def test_results_record_bf16_for_teacher_and_transformer_students(has_bf16, tiny_cfg, tmp_path):
    cfg = tiny_cfg(precision="bf16", n_iter=1)
    cfg = dataclasses.replace(
        cfg, students=[*cfg.students[:1], *fast_transformer_students(names=("kd",))]
    )
    summary = _run(tmp_path / "home", cfg)
    dev = summary["devices"]
    assert dev["precision_requested"] == "bf16"
    assert dev["teacher_precision"] == dev["transformer_students_precision"] == "bf16"
    assert dev["word_char_students_precision"] == "fp32"
    assert dev["label_precision"] == "bf16"  # int8 labels (the default) only for an fp32 teacher
    models = summary["models"]
    assert models["teacher"]["precision"] == "bf16"
    assert models["kd_distilled"]["train_precision"] == "bf16"
    word = next(n for n in models if n.endswith("_distilled") and not n.startswith("kd"))
    assert models[word]["train_precision"] == "fp32"


def test_results_record_fp32_where_auto_falls_back(no_bf16, tiny_cfg, tmp_path):
    summary = _run(tmp_path / "home", tiny_cfg(precision="auto"), kind="teacher")
    assert summary["devices"]["precision_requested"] == "auto"
    assert summary["devices"]["teacher_precision"] == "fp32"
    assert summary["models"]["teacher"]["precision"] == "fp32"


def test_cli_refuses_bf16_without_native_support_before_a_run_exists(
    tiny_data, tiny_teacher_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    home = tmp_path / "home"
    res = run_cli(
        "pipeline", *tiny_run_flags(tiny_data, tiny_teacher_dir), "--device", "cpu",
        "--precision", "bf16", "-q", home=home,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "precision 'bf16' asked for on cpu" in res.stderr and "use auto or fp32" in res.stderr
    assert Store(home).runs() == []


def test_results_record_int8_labels_and_the_cache_keys_them_apart(tiny_cfg, tmp_path):
    """By default the transfer / augmented texts are labelled by an int8 copy of an fp32 CPU
    teacher (recorded, keyed apart in the label cache); the teacher itself stays fp32, and
    --no-label-int8 labels in fp32."""
    home = tmp_path / "home"
    summary = _run(home, tiny_cfg(n_iter=1), kind="augment")
    assert summary["devices"]["label_precision"] == "int8"
    assert summary["devices"]["teacher_precision"] == "fp32"
    assert summary["models"]["teacher"]["precision"] == "fp32"
    names = [p.name for p in (home / "cache" / "logits").iterdir()]
    assert any("_cpu-int8_" in n for n in names) and any("_cpu-fp32_" in n for n in names)
    plain = _run(tmp_path / "home2", tiny_cfg(n_iter=1, label_int8=False), kind="augment")
    assert plain["devices"]["label_precision"] == "fp32"
    assert "label_int8_check" not in plain["devices"]  # nothing to check


def test_int8_labels_are_checked_against_fp32_first_and_refused_when_they_disagree(
    tiny_cfg, tmp_path
):
    """Before the int8 copy labels every text it must pick the fp32 teacher's class on a
    sample often enough (label_int8_min_agreement); the figure is recorded either way. A bar
    no copy can clear (1.01) makes the run label in fp32: recorded, and only an fp32 label
    file is written for the training texts."""
    ok = _run(tmp_path / "ok", tiny_cfg(n_iter=1), kind="augment")["devices"]
    check = ok["label_int8_check"]
    assert 0.95 <= check["agreement"] <= 1 and check["passed"] and check["min"] == 0.95
    assert 0 < check["texts"] <= 256 and ok["label_precision"] == "int8"
    assert check["seconds"] > 0 and "read_back" not in check  # computed in this run, timed

    home = tmp_path / "refused"
    summary = _run(home, tiny_cfg(n_iter=1, label_int8_min_agreement=1.01), kind="augment")
    dev = summary["devices"]
    assert dev["label_precision"] == "fp32"
    assert dev["label_int8_check"]["passed"] is False
    assert dev["label_int8_check"]["agreement"] == check["agreement"]  # the same sample
    names = [p.name for p in (home / "cache" / "logits").glob("*.safetensors")]
    assert not any("_cpu-int8_" in n for n in names)  # the check is kept; no int8 labels


def test_the_int8_check_is_kept_beside_the_labels_and_read_back(tiny_cfg, tmp_path):
    """A rerun over the same texts (a further seed, an autodistill trial) reads the check from
    the label cache instead of labelling its sample twice again: what the file says decides."""
    home = tmp_path / "home"
    first = _run(home, tiny_cfg(n_iter=1), kind="augment")["devices"]
    (kept,) = (home / "cache" / "logits").glob("*_cpu-int8_*.int8check.json")
    assert json.loads(kept.read_text())["agreement"] == first["label_int8_check"]["agreement"]
    kept.write_text(json.dumps({"agreement": 0.5, "texts": 256}))
    again = _run(home, tiny_cfg(n_iter=1), kind="augment")["devices"]
    assert again["label_int8_check"] == {"agreement": 0.5, "texts": 256, "min": 0.95,
                                         "passed": False, "read_back": True}  # fmt: skip
    assert again["label_precision"] == "fp32"
