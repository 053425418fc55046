"""load_bundle: honest splits (test and train hold every class), a carved dev set, clipping, and
transfer texts that never equal a held-out text. Real files under tmp_path throughout."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from core.config import DataConfig
from core.data.bundle import load_bundle
from core.data.problems import DataError


def _write(tmp_path, name: str, rows: list[tuple[object, str]] | list[str]) -> str:
    p = tmp_path / name
    lines = [r if isinstance(r, str) else f"{r[0]}\t{r[1]}" for r in rows]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(p)


def _rows(n_neg: int, n_pos: int, tag: str = "") -> list[tuple[int, str]]:
    return [(0, f"{tag}差评第{i}号") for i in range(n_neg)] + [
        (1, f"{tag}好评第{i}号") for i in range(n_pos)
    ]


def _errors(exc: pytest.ExceptionInfo) -> list[tuple[str, int | None, str]]:
    return [(p.file, p.line, p.message) for p in exc.value.problems if p.level == "error"]


# -- the test split ---------------------------------------------------------------------------------


def test_tiny_train_without_test_file_is_an_error(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(2, 2))
    with pytest.raises(DataError) as exc:
        load_bundle(DataConfig(train=train))
    [(file, line, msg)] = _errors(exc)
    assert file == train and line is None
    assert msg.startswith("test split (carved 20% of train) is empty")


def test_carved_test_missing_a_class_is_an_error(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(20, 2))
    with pytest.raises(DataError) as exc:
        load_bundle(DataConfig(train=train))
    [(file, _, msg)] = _errors(exc)
    assert file == train
    assert msg.startswith("test split (carved 20% of train) has no rows of class '1'")


def test_test_file_missing_a_class_is_an_error(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(10, 10))
    test = _write(tmp_path, "test.tsv", _rows(3, 0, "测"))
    with pytest.raises(DataError) as exc:
        load_bundle(DataConfig(train=train, test=test))
    assert _errors(exc) == [
        (test, None, "test split has no rows of class '1': its scores would not cover every class")
    ]


def test_max_test_keeping_no_row_of_a_class_is_an_error(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(10, 10))
    test = _write(tmp_path, "test.tsv", _rows(40, 2, "测"))
    with pytest.raises(DataError, match="test split has no rows of class '1'"):
        load_bundle(DataConfig(train=train, test=test, max_test=10))


def test_train_left_without_a_class_is_an_error(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(40, 2))
    test = _write(tmp_path, "test.tsv", _rows(3, 3, "测"))
    with pytest.raises(DataError) as exc:
        load_bundle(DataConfig(train=train, test=test, max_train=10))
    [(file, _, msg)] = _errors(exc)
    assert file == train and msg.startswith("train split has no rows of class '1'")


# -- the dev split ----------------------------------------------------------------------------------


def test_dev_split_is_carved_from_train(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(50, 50))
    test = _write(tmp_path, "test.tsv", _rows(5, 5, "测"))
    b = load_bundle(DataConfig(train=train, test=test, seed=5))
    assert b.dev is not None and Counter(b.dev.labels) == {0: 5, 1: 5}
    assert Counter(b.train.labels) == {0: 45, 1: 45}
    assert not set(b.dev.texts) & set(b.train.texts)
    d = b.describe()
    assert d["dev"] == 10 and d["dev_source"] == "carved 10% of train" and d["test_source"] == test
    [w] = [w for w in b.warnings if "dev" in w.message]
    assert w.file == train and w.level == "warning"
    assert w.message.startswith("no dev file: 10% of train (10 rows, stratified) held out")
    again = load_bundle(DataConfig(train=train, test=test, seed=5))
    assert again.dev.texts == b.dev.texts  # the seed fixes the split
    other = load_bundle(DataConfig(train=train, test=test, seed=5, dev_fraction=0.2))
    assert len(other.dev) == 20 and other.describe()["dev_source"] == "carved 20% of train"


def test_no_dev_carved_from_too_small_train(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(8, 8))  # 10% would be 1 row of each class
    test = _write(tmp_path, "test.tsv", _rows(2, 2, "测"))
    b = load_bundle(DataConfig(train=train, test=test))
    assert b.dev is None and len(b.train) == 16
    assert b.describe()["dev_source"] == "none (train too small to carve one)"
    assert any("too small to carve a 10% dev split" in w.message for w in b.warnings)


def test_dev_fraction_zero_and_dev_file(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(50, 50))
    test = _write(tmp_path, "test.tsv", _rows(5, 5, "测"))
    b = load_bundle(DataConfig(train=train, test=test, dev_fraction=0))
    assert b.dev is None and len(b.train) == 100 and b.describe()["dev_source"] == "none"
    dev = _write(tmp_path, "dev.tsv", _rows(2, 2, "开发"))
    b = load_bundle(DataConfig(train=train, test=test, dev=dev))
    assert len(b.dev) == 4 and len(b.train) == 100 and b.describe()["dev_source"] == dev
    with pytest.raises(DataError, match="dev_fraction"):
        load_bundle(DataConfig(train=train, test=test, dev_fraction=1.0))


def test_embedded_default_describes_its_splits():
    b = load_bundle(DataConfig(max_train=200, max_test=100, max_transfer=50))
    d = b.describe()
    # dev_fraction (10%) of the rows the run uses: 200 train + 22 dev
    assert d["dev"] == 22 and d["dev_source"] == "carved 10% of train" and d["train"] == 200
    assert d["test"] == 100 and d["test_source"] == "embedded default: 100 rows held out"
    json.dumps(d)


def test_embedded_default_with_a_test_file_names_that_file(tmp_path):
    test = tmp_path / "test.tsv"
    test.write_text("negative\t太差了，再也不来\npositive\t非常好，下次还来\n", encoding="utf-8")
    d = load_bundle(DataConfig(test=str(test), max_train=200, max_transfer=50)).describe()
    assert d["test"] == 2 and d["test_source"] == str(test)


# -- transfer overlap and clipping ------------------------------------------------------------------


def test_transfer_texts_equal_to_test_or_dev_texts_are_dropped(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(10, 10))
    test = _write(tmp_path, "test.tsv", _rows(3, 3, "测"))
    dev = _write(tmp_path, "dev.tsv", _rows(2, 2, "开发"))
    transfer = _write(
        tmp_path,
        "transfer.txt",
        ["测差评第0号", "测好评第1号", "开发好评第0号", "新的句子", "新的句子"],
    )
    b = load_bundle(DataConfig(train=train, test=test, dev=dev, transfer=transfer))
    assert b.transfer == ["新的句子"]
    d = b.describe()
    assert d["transfer_dropped_overlap"] == 3
    [w] = [w for w in b.warnings if "transfer" in w.message]
    assert w.file == transfer and w.level == "warning"
    assert w.message.startswith(
        "3 transfer texts dropped for equalling a test or dev text (2 test, 1 dev)"
    )


def test_leftovers_equal_to_carved_dev_texts_are_dropped(tmp_path):
    # the same text twice in train: one copy can land in the carved dev set, the other in the
    # max_train leftovers that join the transfer set
    rows = _rows(60, 60) + [(0, f"差评第{i}号") for i in range(60)]
    train = _write(tmp_path, "train.tsv", rows)
    test = _write(tmp_path, "test.tsv", _rows(5, 5, "测"))
    b = load_bundle(DataConfig(train=train, test=test, max_train=80))
    assert b.dev is not None and len(b.dev) == 9
    assert not set(b.transfer) & set(b.dev.texts)
    assert b.describe()["transfer_dropped_overlap"] > 0


def test_long_texts_clipped_once_per_file(tmp_path):
    long_neg, long_pos = "差" * 30, "好" * 30
    train = _write(
        tmp_path, "train.tsv", [*_rows(10, 10), (0, long_neg + "1"), (1, long_pos + "1")]
    )
    test = _write(tmp_path, "test.tsv", [*_rows(3, 3, "测"), (0, long_neg + "2")])
    transfer = _write(tmp_path, "transfer.txt", [long_pos + "3", long_pos + "4", "短句"])
    b = load_bundle(DataConfig(train=train, test=test, transfer=transfer, max_chars=20))
    assert all(len(t) <= 20 for t in b.train.texts + b.test.texts + b.transfer)
    clip = {w.file: w.message for w in b.warnings if "clipped" in w.message}
    assert clip == {
        train: "2 texts longer than 20 characters clipped (the first on line 21)",
        test: "1 text longer than 20 characters clipped (the first on line 7)",
        transfer: "2 texts longer than 20 characters clipped",
    }
    d = b.describe()
    assert d["clipped"] == 5
    assert json.loads(json.dumps(d)) == d


# -- label names ------------------------------------------------------------------------------------


def test_label_names_rename_every_split(tmp_path):
    train = _write(tmp_path, "train.tsv", _rows(30, 30))
    test = _write(tmp_path, "test.tsv", _rows(5, 5, "t"))
    b = load_bundle(DataConfig(train=train, test=test, label_names="0=negative, 1=positive"))
    assert b.label_names == ["negative", "positive"]
    assert b.test.label_names == ["negative", "positive"] and b.dev.label_names == b.label_names
    assert b.describe()["labels"] == ["negative", "positive"]
    half = load_bundle(DataConfig(train=train, test=test, label_names="1=positive"))
    assert half.label_names == ["0", "positive"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("2=other", "label '2' is not in the data (its labels: 0, 1)"),
        ("0=same,1=same", "two labels would share a name"),
        ("0=", "label '0' is given an empty name"),
        ("negative", "'negative' is not label=name"),
    ],
)
def test_bad_label_names_are_named_errors(tmp_path, spec, message):
    train = _write(tmp_path, "train.tsv", _rows(30, 30))
    with pytest.raises(DataError) as exc:
        load_bundle(DataConfig(train=train, label_names=spec))
    assert any(message in m for _, _, m in _errors(exc)), _errors(exc)
