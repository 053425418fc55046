"""Several domains: the domain column and folders of domains, per-domain figures, MetaKD's
target-domain runs (CLI as a subprocess), and NewsBERT's joint training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_teacher_flags, write_domain_file

from core.config import DataConfig
from core.data.bundle import load_bundle
from core.data.load import load_labelled
from core.data.problems import DataError
from core.teacher.metakd import expertise_weights, prototype_scores

DOMAINS = ("books", "dairy", "phone")


def _domain_rows(rows, k: int):
    """The tiny rows dealt round-robin into the three domains."""
    return [(DOMAINS[i % 3], y, t) for i, (y, t) in enumerate(rows[:k])]


@pytest.fixture(scope="module")
def multi(tiny_data, tmp_path_factory) -> Path:
    """A headered text,domain,label file (columns in an unusual order) of the tiny rows."""
    path = tmp_path_factory.mktemp("multi") / "multi.tsv"
    rows = (tiny_data.train_rows + tiny_data.test_rows)[:220]
    return write_domain_file(path, rows, DOMAINS, columns="tdl")


def test_domain_column_in_any_order(multi):
    ds = load_labelled(multi)
    assert ds.domains is not None and set(ds.domains) == set(DOMAINS)
    assert len(ds.domains) == len(ds.texts) == 220
    dairy = ds.of_domain("dairy")
    assert set(dairy.domains) == {"dairy"} and len(dairy) == sum(d == "dairy" for d in ds.domains)
    with pytest.raises(DataError, match="no rows of domain 'toys'"):
        ds.of_domain("toys")


def test_blank_domain_is_an_error_with_its_line(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_text("domain\tlabel\ttext\nbooks\t1\t好书\n\t0\t差评\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"d.tsv:3.*blank domain"):
        load_labelled(p)


def test_folder_of_domains_brings_its_test_files(tiny_data, tmp_path):
    rows = _domain_rows(tiny_data.train_rows, 160)
    tests = _domain_rows(tiny_data.test_rows, 60)
    for d in DOMAINS:
        (tmp_path / d).mkdir()
        (tmp_path / d / "train.txt").write_text(
            "".join(f"{y}\t{t}\n" for dd, y, t in rows if dd == d), encoding="utf-8"
        )
        (tmp_path / d / "test.txt").write_text(
            "".join(f"{y}\t{t}\n" for dd, y, t in tests if dd == d), encoding="utf-8"
        )
    b = load_bundle(DataConfig(train=str(tmp_path)))
    assert b.domains == sorted(DOMAINS)
    assert len(b.test) == 60 and "test" in b.test_source  # the folder's test files, not carved
    desc = b.describe()
    assert sum(v["train"] for v in desc["domains"].values()) == len(b.train)
    assert {d: v["test"] for d, v in desc["domains"].items()} == {d: 20 for d in DOMAINS}
    # every domain keeps its share in the carved dev split (stratified by domain and class)
    assert set(b.dev.domains) == set(DOMAINS)


def test_one_file_per_domain(tiny_data, tmp_path):
    for d, y, t in _domain_rows(tiny_data.train_rows, 160):
        with open(tmp_path / f"{d}.tsv", "a", encoding="utf-8") as f:
            f.write(f"{y}\t{t}\n")
    ds = load_labelled(tmp_path)
    assert sorted(set(ds.domains)) == sorted(DOMAINS) and len(ds) == 160


def test_prototype_scores_favour_rows_like_other_domains():
    # class 0 points along x in both domains; row 1 of domain a leans towards y (off-prototype)
    v = torch.tensor([[1.0, 0.0], [0.6, 0.8], [1.0, 0.1], [0.9, 0.0], [0.0, 1.0], [0.1, 1.0]])
    labels = [0, 0, 0, 0, 1, 1]
    domains = ["a", "a", "b", "b", "a", "b"]
    s = prototype_scores(v, labels, domains)
    assert abs(sum(s) / len(s) - 1.0) < 1e-6
    assert s[0] > s[1]


def test_expertise_weights_follow_the_gold_probability():
    logits = torch.tensor([[3.0, 0.0], [0.0, 3.0], [0.0, 0.2]])
    w = expertise_weights(logits, [0, 0, -1])
    assert abs(float(w.mean()) - 1.0) < 1e-6
    assert w[0] > w[1]  # confident and right beats confident and wrong
    assert w[2] > w[1]  # an unlabelled row counts the teacher's own confidence


def test_newsbert_momentum_mixes_teacher_gradients(tiny_teacher_dir):
    from core.methods._transformer import bottom_layers, layers_of
    from core.methods.newsbert import block_map, momentum_mix
    from core.teacher.hf import load_pretrained

    assert block_map(12, 4) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert block_map(2, 1) == [[0, 1]]
    _, teacher = load_pretrained(str(tiny_teacher_dir), 2, None)
    student = bottom_layers(teacher, 1)
    for m in (teacher, student):
        for p in m.parameters():
            p.grad = torch.ones_like(p) if m is teacher else torch.zeros_like(p)
    momentum_mix(student, teacher, [[0, 1]], beta=0.25)
    g = layers_of(student)[0].attention.self.query.weight.grad
    assert torch.allclose(g, torch.full_like(g, 0.25))
    e = student.bert.embeddings.word_embeddings.weight.grad
    assert torch.allclose(e, torch.full_like(e, 0.25))


def test_target_domain_pipeline_end_to_end(cli, multi, tiny_teacher_dir, tmp_path):
    """The issue's command on the tiny teacher: single-domain teacher, meta-teacher, plain,
    distilled and meta-distilled BiLSTM, NewsBERT's student and its joint teacher."""
    out = tmp_path / "out.json"
    r = cli(
        "pipeline",
        "--train",
        str(multi),
        "--target-domain",
        "dairy",
        "--meta-teacher",
        "--students",
        "bilstm,kd,newsbert",
        *tiny_teacher_flags(tiny_teacher_dir),
        "--augment-iters",
        "1",
        "--latency-samples",
        "10",
        "--no-onnx-latency",
        "--json",
        str(out),
        "-q",
        home=tmp_path / "home",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    models = res["models"]
    want = {
        "teacher",
        "meta_teacher",
        "bilstm_plain",
        "bilstm_distilled",
        "bilstm_meta_distilled",
        "newsbert_plain",
        "newsbert_distilled",
        "newsbert_teacher",
        "kd_meta_distilled",
    }
    assert want <= set(models)
    n_dairy = res["targets"]["dairy"]["test"]
    for name, m in models.items():
        for key in ("accuracy", "f1", "params", "latency_ms_p50"):
            assert m[key] is not None, (name, key)
        assert m["domain"] == "dairy" and m["n_test"] == n_dairy
        assert set(m["domains"]) == {"dairy"}
    assert models["meta_teacher"]["role"] == "meta_teacher"
    assert models["newsbert_teacher"]["params"] == models["teacher"]["params"]
    assert models["newsbert_distilled"]["params"] < models["teacher"]["params"]
    # the jointly trained teacher moved away from the single-domain teacher it started from
    assert res["data"]["targets"] == ["dairy"] and res["data"]["meta_teacher"] is True
    assert "meta_teacher" in res["timings"] and "meta_students" in res["timings"]
    # the meta-distilled KD student trained both MetaKD stages
    assert set(models["kd_meta_distilled"]["stage_s"]) == {"intermediate", "kd"}


def test_target_domain_refusals(cli, tiny_data, multi, tiny_teacher_dir, tmp_path):
    flags = ["--teacher", str(tiny_teacher_dir), "--students", "bilstm"]
    r = cli(
        "pipeline",
        "--train",
        str(tiny_data.train),
        "--target-domain",
        "dairy",
        *flags,
        home=tmp_path,
    )
    assert r.returncode != 0 and "domain" in r.stderr and "column" in r.stderr
    r = cli("pipeline", "--train", str(multi), "--target-domain", "toys", *flags, home=tmp_path)
    assert r.returncode != 0 and "no domain 'toys'" in r.stderr and "books" in r.stderr
    r = cli("pipeline", "--train", str(multi), "--meta-teacher", *flags, home=tmp_path)
    assert r.returncode != 0 and "--target-domain" in r.stderr
