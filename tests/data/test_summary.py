"""``summary(dataset)``: what a loaded dataset holds, for tables, images and token sequences."""

from __future__ import annotations

import numpy as np
from PIL import Image

from nasbeyond.data import load_dataset, make_dataset, summary


def topics(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines())


def test_csv_summary_says_what_was_understood(tmp_path):
    lines = ["size,colour,weight,label"]
    for i in range(40):
        weight = "" if i % 8 == 0 else f"{i * 1.5:.1f}"
        lines.append(f"{i % 9},{['red', 'green'][i % 2]},{weight},{'cat' if i % 4 else 'dog'}")
    path = tmp_path / "pets.csv"
    path.write_text("\n".join(lines))
    t = topics(summary(load_dataset("csv", str(path))))
    assert list(t) == [
        "dataset", "file", "header", "rows", "input", "target", "task", "classes", "missing values"
    ]  # fmt: skip
    assert t["file"] == str(path)
    assert t["header"] == "yes: the first row has names over numeric columns"
    assert t["rows"] == "40: 32 train (validation is drawn from these), 8 test"
    assert (
        t["input"] == "3 features: 2 numeric (standardised), 1 categorical (values: 'colour' has 2)"
    )
    assert t["target"] == "column 'label' (the last column)"
    assert t["task"] == "classification into 2 classes: the target holds text"
    assert t["classes"] == (
        "2, imbalanced: the largest class has 3.0x the rows of the smallest; always answering "
        "'cat' scores 75.0% accuracy: 'cat' 30 (75.0%), 'dog' 10 (25.0%)"
    )
    assert t["missing values"].startswith("5 cells in 1 column(s) (weight 5)")


def test_image_summary():
    t = topics(summary(load_dataset("digits")))
    assert t["dataset"] == "digits"
    assert t["rows"].startswith("1797: ")
    assert t["input"] == "images 1x8x8 (channels x height x width), standardised per channel"
    assert t["task"] == "classification into 10 classes"
    assert t["classes"].startswith("10, balanced: '0' 178 (9.9%), '1' 182 (10.1%)")
    assert t["missing values"] == "none"
    assert "file" not in t and "target" not in t


def test_image_folder_summary_names_the_classes(tmp_path):
    rng = np.random.default_rng(0)
    for c, n in (("cat", 6), ("dog", 3)):
        (tmp_path / c).mkdir()
        for i in range(n):
            pixels = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / c / f"{i}.png")
    t = topics(summary(load_dataset("image-folder", str(tmp_path))))
    assert t["input"].startswith("images 3x6x6")
    assert t["classes"].startswith("2, imbalanced: the largest class has 2.0x")
    assert t["classes"].endswith("'cat' 6 (66.7%), 'dog' 3 (33.3%)")


def test_token_summary():
    d = load_dataset("listops", train=40, test=10)
    t = topics(summary(d))
    assert t["input"] == "token sequences of length 64, vocabulary 16 (0 = padding)"
    assert t["rows"] == "50: 40 train (validation is drawn from these), 10 test"


def test_many_classes_name_the_smallest_and_largest():
    y = np.repeat(np.arange(15), np.arange(2, 17) * 2)  # class k has 2k + 4 rows
    d = make_dataset("toy", np.zeros((len(y), 3)), y)
    classes = topics(summary(d))["classes"]
    assert classes.startswith("15, imbalanced: the largest class has 8.0x")
    assert classes.endswith("smallest '0' 4 (1.5%), largest '14' 32 (11.9%)")
