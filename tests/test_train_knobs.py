"""The Train page's generated knobs (dashboard/knobs.py): every field of every transformer
method's config has a widget, knobs with one flag and one default are shared, and widget values
go back into each method's config."""

from __future__ import annotations

import dataclasses

import pytest

from core import methods
from core.cli.fields import default_of
from dashboard import knobs

TRANSFORMERS = [n for n in methods.names() if methods.get(n).family == "transformer"]


def test_every_field_has_exactly_one_knob_per_method():
    ks = knobs.knobs(TRANSFORMERS)
    assert len({k.key for k in ks}) == len(ks)  # widget keys are unique
    for n in TRANSFORMERS:
        cls = methods.get(n).config
        fields = [f.name for f in dataclasses.fields(cls) if f.name not in knobs.SKIP]
        mine = [k.name for k in ks if n in k.users]
        assert sorted(mine) == sorted(fields), n


def test_shared_knobs_have_one_flag_and_one_default():
    ks = knobs.knobs(TRANSFORMERS)
    for k in ks:
        defaults = {repr(default_of(methods.get(u).config, k.name)) for u in k.users}
        assert len(defaults) == 1, k
    by_key = {k.key: k for k in ks}
    assert set(TRANSFORMERS) == set(by_key["shared-epochs"].users)  # every transformer
    # TinyBERT's learning rate default differs: it keeps a knob of its own
    assert "tinybert" not in by_key["shared-lr"].users
    assert by_key["tinybert-lr"].users == ("tinybert",)


def test_widgets():
    kd, tiny = methods.get("kd").config, methods.get("tinybert").config
    assert knobs.field_widget(kd, "epochs") == "int"
    assert knobs.field_widget(kd, "lr") == "float"
    assert knobs.field_widget(kd, "max_texts") == "optional_int"
    assert knobs.field_widget(kd, "checkpoint") == "text"
    assert knobs.field_widget(tiny, "init_embeddings") == "bool"
    assert knobs.field_widget(methods.get("textcnn").config, "kernel_sizes") == "ints"
    assert knobs.field_widget(methods.get("bilstm").config, "loss") == "choice"


def test_number_widgets_start_at_the_defaults():
    by_key = {k.key: k for k in knobs.knobs(TRANSFORMERS)}
    lr = knobs.number_kwargs(by_key["shared-lr"])
    assert lr["value"] == pytest.approx(5e-5) and lr["format"] == "%.1e"
    assert knobs.initial(by_key["shared-layers"]) == 0  # None shows as 0
    assert "0: half the teacher's depth" in knobs.help_text(by_key["shared-layers"])
    assert "Applies to: Vanilla KD" in knobs.help_text(by_key["shared-layers"])
    assert knobs.is_slider(by_key["shared-alpha"])
    assert not knobs.is_slider(by_key["shared-temperature"])


def test_values_go_back_into_each_config():
    ks = knobs.knobs(TRANSFORMERS)
    raw = {k.key: knobs.initial(k) for k in ks}
    for n in TRANSFORMERS:  # untouched widgets give the defaults
        assert knobs.config_for(n, ks, raw, seed=13) == methods.default_config(n)
    raw.update(
        {
            "shared-epochs": 1,
            "shared-max-texts": 0,  # 0 = every text
            "shared-layers": 1,
            "kd-checkpoint": "  ",  # empty = the teacher's bottom layers
            "tinybert-hidden": 64,
            "tinybert-heads": 0,
            "tinybert-init-embeddings": False,
        }
    )
    kd = knobs.config_for("kd", ks, raw, seed=7)
    assert (kd.method, kd.epochs, kd.max_texts, kd.layers, kd.checkpoint, kd.seed) == (
        "kd",
        1,
        None,
        1,
        None,
        7,
    )
    tiny = knobs.config_for("tinybert", ks, raw, seed=7)
    assert (tiny.epochs, tiny.hidden, tiny.heads, tiny.init_embeddings) == (1, 64, None, False)
    assert tiny.layers == methods.default_config("tinybert").layers  # not the bottom-layer knob
    assert tiny.lr == methods.default_config("tinybert").lr
