"""`nasbeyond tabular fit | predict | explain`: a CSV in, a model directory out; bad input is one
line and exit status 2, and leaves no model directory behind. The AutoML search is replaced by
a small scikit-learn teacher here (``default_teacher``); test_estimator.py tests the search."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
import pytest

from nasbeyond.cli import main
from nasbeyond.tabular import cli as tabular_cli
from tests.tabular._fixtures import table, teacher


@pytest.fixture(autouse=True)
def small_teacher(monkeypatch):
    monkeypatch.setattr(tabular_cli, "default_teacher", lambda task, seed, workers: teacher(task))


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    table().to_csv(d / "train.csv", index=False)
    table(n=20, seed=5).drop(columns="y").to_csv(d / "new.csv", index=False)
    return d


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_predict_explain(csv, tmp_path, capsys):
    model = tmp_path / "model"
    code, out, err = run(
        [
            "tabular",
            "fit",
            csv / "train.csv",
            "--target",
            "y",
            "--time-limit",
            "10",
            "--out",
            model,
            "--max-depth",
            "3",
        ],
        capsys,
    )
    assert code == 0, err
    assert "binary" in out and "fidelity" in out
    names = {p.name for p in model.iterdir()}
    assert {"model.skops", "meta.json", "manifest.json", "tree.onnx", "mlp.onnx"} <= names
    assert {"rules.txt", "onnx.json"} <= names
    code, out, err = run(["tabular", "predict", model, csv / "new.csv"], capsys)
    assert code == 0, err
    pred = pd.read_csv(io.StringIO(out))
    assert list(pred.columns) == ["prediction", "p_no", "p_yes"] and len(pred) == 20
    assert set(pred["prediction"]) <= {"yes", "no"}
    np.testing.assert_allclose(pred["p_no"] + pred["p_yes"], 1.0)
    code, out, err = run(["tabular", "predict", model, csv / "new.csv", "--model", "tree"], capsys)
    assert code == 0 and len(pd.read_csv(io.StringIO(out))) == 20
    code, out, err = run(["tabular", "explain", model], capsys)
    assert code == 0, err
    assert "feature importances" not in out or "a " in out  # a sklearn teacher may have none
    assert "class: yes (p=" in out and "teacher" in out and "tree" in out


def test_regression_is_inferred(tmp_path, capsys):
    table(task="regression").to_csv(tmp_path / "r.csv", index=False)
    code, out, err = run(
        [
            "tabular",
            "fit",
            tmp_path / "r.csv",
            "--target",
            "y",
            "--time-limit",
            "10",
            "--out",
            tmp_path / "m",
            "--max-depth",
            "2",
        ],
        capsys,
    )
    assert code == 0, err
    assert "regression" in out and "rmse" in out


def frame_with(**cols):
    frame = table(n=60)
    for k, v in cols.items():
        frame[k] = v
    return frame


@pytest.mark.parametrize(
    ("make", "target", "message"),
    [
        (
            lambda: table(n=60),
            "label",
            "target: column 'label' not in the data; columns: a, b, c, y",
        ),
        (lambda: frame_with(y="yes"), "y", "target: column 'y' has one class only ('yes')"),
        (lambda: frame_with(d=np.nan), "y", "data: column 'd' has no values"),
        (lambda: table(n=60)[["y"]], "y", "data: only the target column 'y'"),
    ],
)
def test_bad_training_data_is_one_line_and_exit_2(tmp_path, capsys, make, target, message):
    make().to_csv(tmp_path / "d.csv", index=False)
    code, out, err = run(
        ["tabular", "fit", tmp_path / "d.csv", "--target", target, "--out", tmp_path / "m"],
        capsys,
    )
    assert code == 2
    assert err.startswith(f"nasbeyond: error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "m").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]  # nothing half-written


def test_empty_file_and_missing_file(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    code, _, err = run(
        ["tabular", "fit", tmp_path / "empty.csv", "--target", "y", "--out", tmp_path / "m"], capsys
    )
    assert code == 2 and "is empty" in err
    (tmp_path / "head.csv").write_text("a,b,y\n")
    code, _, err = run(
        ["tabular", "fit", tmp_path / "head.csv", "--target", "y", "--out", tmp_path / "m"], capsys
    )
    assert code == 2 and "no data rows" in err
    code, _, err = run(
        ["tabular", "fit", tmp_path / "nope.csv", "--target", "y", "--out", tmp_path / "m"], capsys
    )
    assert code == 2 and "is not a file" in err
    assert not (tmp_path / "m").exists()


def test_predict_refuses_mismatched_columns_and_text(csv, tmp_path, capsys):
    model = tmp_path / "model"
    assert (
        run(
            [
                "tabular",
                "fit",
                csv / "train.csv",
                "--target",
                "y",
                "--time-limit",
                "5",
                "--out",
                model,
                "--max-depth",
                "2",
            ],
            capsys,
        )[0]
        == 0
    )
    new = table(n=5, seed=1).drop(columns=["y", "b"])
    new.to_csv(tmp_path / "missing.csv", index=False)
    code, _, err = run(["tabular", "predict", model, tmp_path / "missing.csv"], capsys)
    assert code == 2 and err.startswith("nasbeyond: error: data: column 'b' missing")
    new = table(n=5, seed=1).drop(columns="y").astype({"a": object})
    new.loc[2, "a"] = "many"
    new.to_csv(tmp_path / "text.csv", index=False)
    code, _, err = run(["tabular", "predict", model, tmp_path / "text.csv"], capsys)
    assert code == 2 and "column 'a'" in err and "text where numbers were" in err
    assert err.count("\n") == 1
    code, _, err = run(["tabular", "predict", tmp_path, tmp_path / "text.csv"], capsys)
    assert code == 2 and "is not a model directory" in err


def test_serve_check_and_the_extra_it_needs(csv, tmp_path, capsys, monkeypatch):
    model = tmp_path / "model"
    assert (
        run(
            [
                "tabular",
                "fit",
                csv / "train.csv",
                "--target",
                "y",
                "--time-limit",
                "5",
                "--out",
                model,
                "--max-depth",
                "2",
            ],
            capsys,
        )[0]
        == 0
    )
    code, out, err = run(["serve", model, "--check", "--model", "mlp"], capsys)
    assert code == 0, err
    assert out.split("\n")[:2] == ["GET /health", "POST /predict"]
    code, _, err = run(["serve", model, "--model", "forest"], capsys)
    assert code == 2 and "model: 'forest'; allowed: ensemble, tree, mlp" in err
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the extra were not installed
    code, _, err = run(["serve", model], capsys)
    assert code == 2 and "pip install nasbeyond[serve]" in err


def test_check_types_names_the_column_value_and_row():
    frame = pd.DataFrame({"n": ["1.5", None, "x"], "d": ["2024-05-31", "2024-06-01", None]})
    out = tabular_cli.check_types(frame[["d"]], {"d": "datetime"})
    assert out["d"].tolist() == frame["d"].tolist()
    with pytest.raises(
        tabular_cli.TabularCLIError,
        match=r"column 'n': text where numbers were at fit \('x' on line 4 of the file\)",
    ):
        tabular_cli.check_types(frame, {"n": "numeric"})
    bad = pd.DataFrame({"d": ["2024-05-31", "soon"]})
    with pytest.raises(
        tabular_cli.TabularCLIError, match=r"column 'd': 'soon' on line 3 is not a date"
    ):
        tabular_cli.check_types(bad, {"d": "datetime"})
    ok = tabular_cli.check_types(frame.iloc[:2], {"n": "numeric"})
    assert ok["n"].iloc[0] == 1.5 and np.isnan(ok["n"].iloc[1])


def test_duplicate_column_names_are_refused(tmp_path):
    path = tmp_path / "dupe.csv"
    path.write_text("Price,Price,y\n1,2,a\n3,4,b\n")
    with pytest.raises(tabular_cli.DataError, match=r"names column 'Price' more than once"):
        tabular_cli.read_csv(path)
