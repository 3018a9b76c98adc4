"""The CSV loader states or refuses every guess: the task (a continuous target is refused with the
fix), the header row (a header-less file keeps its first row), and the ``header`` / ``task``
dataset arguments; real tables are scikit-learn's bundled files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import sklearn
import torch
from sklearn.datasets import load_diabetes

from nasbeyond.data import load_dataset, summary
from nasbeyond.exceptions import ConfigError, DataError

SKLEARN_DATA = Path(sklearn.__file__).parent / "datasets" / "data"


def write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def rows(d) -> int:
    return len(d.y_train) + len(d.y_test)


@pytest.fixture
def diabetes_csv(tmp_path) -> str:
    """scikit-learn's diabetes table: 442 patients, 10 measurements, a disease-progression score
    (214 distinct integers from 25 to 346): a regression target."""
    d = load_diabetes(scaled=False)
    lines = [",".join([*d.feature_names, "progression"])]
    lines += [",".join(f"{v:g}" for v in (*x, t)) for x, t in zip(d.data, d.target, strict=True)]
    return write(tmp_path / "diabetes.csv", lines)


def test_continuous_integer_target_is_refused_with_the_fix(diabetes_csv):
    with pytest.raises(DataError) as e:
        load_dataset("csv", diabetes_csv)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("target: column 'progression' looks continuous (214 distinct integer")
    assert "--dataset-arg task=classification" in msg


def test_task_classification_makes_each_value_a_class(diabetes_csv):
    d = load_dataset("csv", diabetes_csv, task="classification")
    assert rows(d) == 442 and d.num_classes == 214
    assert d.classes[:3] == ("25", "31", "37")  # numeric order, not text order
    assert "task: classification into 214 classes: task=classification was given" in summary(d)


def test_continuous_float_target_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["temp,conc"] + [f"{t:.1f},{c:.4f}" for t, c in rng.uniform(0, 3, (200, 2))]
    with pytest.raises(DataError, match=r"'conc' looks continuous \(200 distinct float values"):
        load_dataset("csv", write(tmp_path / "c.csv", lines))


def test_integer_class_ids_beyond_the_limit_are_classes(tmp_path):
    lines = ["x,y"] + [f"{i * 0.5},{i % 30}" for i in range(180)]  # ids 0..29, 6 rows each
    d = load_dataset("csv", write(tmp_path / "ids.csv", lines))
    assert d.num_classes == 30
    assert "integer class ids 0..29, 6 rows per class" in summary(d)
    lines = ["x,y"] + [f"{i * 0.5},{i % 30 + 5}" for i in range(180)]  # 5..34: not ids
    with pytest.raises(DataError, match="30 distinct integer values"):
        load_dataset("csv", write(tmp_path / "not_ids.csv", lines))


def test_identifier_target_is_refused(tmp_path):
    lines = ["x,name"] + [f"{i},user{i}" for i in range(40)]
    with pytest.raises(DataError, match="looks like an identifier.*target=NAME"):
        load_dataset("csv", write(tmp_path / "ids.csv", lines))


def test_headerless_real_file_keeps_its_first_row(tmp_path):
    raw = gzip.decompress((SKLEARN_DATA / "digits.csv.gz").read_bytes())  # no header row
    (tmp_path / "digits.csv").write_bytes(raw)
    d = load_dataset("csv", str(tmp_path / "digits.csv"))
    assert rows(d) == 1797 and d.x_train.shape[1:] == (64,) and d.num_classes == 10
    assert "header: no: every numeric column has a number in the first row" in summary(d)
    assert "target: column '65' (the last column)" in summary(d)


def test_headerless_file_with_text_labels(tmp_path):
    lines = [f"{i % 7 * 0.3:.1f},{i % 5},{['setosa', 'virginica'][i % 2]}" for i in range(30)]
    d = load_dataset("csv", write(tmp_path / "t.csv", lines))
    assert rows(d) == 30 and d.classes == ("setosa", "virginica")
    assert d.about[1] == (
        "header",
        "no: the first row's 'setosa' appears again below it, so it is data; "
        "columns are numbered 1..3",
    )
    d = load_dataset("csv", str(tmp_path / "t.csv"), target=2)  # a numbered column, from YAML
    assert d.num_classes == 5


def test_real_header_of_counts_and_names(tmp_path):
    # scikit-learn's iris.csv starts "150,4,setosa,versicolor,virginica": names over numbers.
    d = load_dataset("csv", str(SKLEARN_DATA / "iris.csv"))
    assert rows(d) == 150 and d.num_classes == 3 and d.x_train.shape[1:] == (4,)
    assert "header: yes: the first row has names over numeric columns" in summary(d)


def test_header_argument(tmp_path):
    path = write(tmp_path / "t.csv", ["a,b,y"] + [f"{i},{i * 2},{i % 2}" for i in range(20)])
    assert rows(load_dataset("csv", path, header="yes")) == 20
    assert rows(load_dataset("csv", path, header=True)) == 20  # YAML reads "yes" as True
    with pytest.raises(DataError, match="row 1 names the columns, pass --dataset-arg header=yes"):
        load_dataset("csv", path, header=False)
    headerless = write(tmp_path / "h.csv", [f"{i},{i * 2},{i % 2}" for i in range(20)])
    assert rows(load_dataset("csv", headerless)) == 20
    assert rows(load_dataset("csv", headerless, header="yes")) == 19  # asked for: row 1 = names
    with pytest.raises(ConfigError) as e:
        load_dataset("csv", path, header="maybe")
    assert str(e.value) == "dataset_args: header='maybe' is not allowed; allowed: auto, yes, no"


def test_ambiguous_first_row_is_refused(tmp_path):
    path = write(tmp_path / "t.csv", ["2019,2020,label", "1,2,a", "3,4,b", "5,6,a"])
    with pytest.raises(DataError, match="pass --dataset-arg header=yes or header=no"):
        load_dataset("csv", path)
    d = load_dataset("csv", path, header="yes")
    assert rows(d) == 3 and d.classes == ("a", "b")


def test_task_argument(tmp_path):
    path = write(tmp_path / "t.csv", ["a,y"] + [f"{i},{i % 2}" for i in range(20)])
    assert load_dataset("csv", path, task="classification").num_classes == 2
    with pytest.raises(ConfigError) as e:
        load_dataset("csv", path, task="regression")
    assert str(e.value).startswith("dataset_args: task=regression is not supported")
    assert str(e.value).endswith("allowed: auto, classification")
    with pytest.raises(ConfigError, match="task='forecast' is not allowed; allowed: auto, classi"):
        load_dataset("csv", path, task="forecast")


def test_missing_values_are_filled_and_counted(tmp_path):
    lines = ["age,colour,y"]
    for i in range(60):
        age = "" if i % 6 == 0 else str(20 + i % 30)
        colour = "NA" if i % 10 == 0 else ["red", "blue"][i % 2]
        lines.append(f"{age},{colour},{i % 3}")
    d = load_dataset("csv", write(tmp_path / "m.csv", lines))
    assert d.categories == (3,)  # blue, red and the missing category
    assert torch.isfinite(d.x_train).all() and torch.isfinite(d.x_test).all()
    assert abs(float(d.x_train[:, 1].mean())) < 0.2  # filled with the training mean
    assert "missing values: 16 cells in 2 column(s) (age 10, colour 6)" in summary(d)


def test_mostly_numeric_column_with_text_is_refused(tmp_path):
    lines = ["a,b,y"] + [f"{i},{'n.a.' if i == 5 else i * 2},{i % 2}" for i in range(40)]
    with pytest.raises(DataError, match=r"column 'b' is numbers but for 1 text cell\(s\) such as"):
        load_dataset("csv", write(tmp_path / "t.csv", lines))


def test_missing_target_cells_are_refused(tmp_path):
    lines = ["a,y"] + [f"{i},{'' if i in (3, 8) else i % 2}" for i in range(20)]
    with pytest.raises(DataError, match=r"'y' is empty on 2 rows \(row 5, 10\)"):
        load_dataset("csv", write(tmp_path / "t.csv", lines))


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        load_dataset("csv", str(tmp_path))
    (tmp_path / "b.csv").write_bytes(b"a,b\n\xff\xfe,1\n2,3\n")
    with pytest.raises(DataError, match="not a UTF-8 comma-separated file"):
        load_dataset("csv", str(tmp_path / "b.csv"))
    with pytest.raises(DataError, match="row 3 has 3 cells; the first row has 2"):
        load_dataset("csv", write(tmp_path / "r.csv", ["a,y", "1,0", "2,1,5", "3,0"]))
