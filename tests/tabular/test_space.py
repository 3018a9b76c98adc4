"""The tabular-pipeline space: decisions per column or per group, round trips, mutations, the
pipelines it builds (transforms, selection, importance mapping), and TPE / evolution searching
it on the one loop with a store (stored and resumable like any run)."""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("lightgbm")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from nasbeyond.exceptions import SpaceError  # noqa: E402
from nasbeyond.registry import create  # noqa: E402
from nasbeyond.run import SQLiteStore, run  # noqa: E402
from nasbeyond.tabular import Column, TabularFrame, TabularPipelineSpace  # noqa: E402
from nasbeyond.tabular._search import CrossValidate, oof_file, trial_file  # noqa: E402
from nasbeyond.tabular.metrics import get_metric  # noqa: E402
from nasbeyond.tabular.space import output_sources  # noqa: E402


def _mixed_frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "size": rng.lognormal(size=n),
            "weight": rng.normal(size=n),
            "hour": rng.integers(0, 24, n),
            "city": rng.choice(["oslo", "rome", None], size=n),
        }
    )


def test_per_column_decisions_when_few_columns_one_decision_when_many():
    few = [Column(f"x{i}", "numeric", f"x{i}") for i in range(3)]
    names = [d.name for d in TabularPipelineSpace(columns=few).decisions()]
    assert {"numeric[x0]", "numeric[x1]", "numeric[x2]"} <= set(names)
    assert "numeric" not in names and "categorical" not in names  # no categorical columns
    many = [Column(f"x{i}", "numeric", f"x{i}") for i in range(40)]
    names = [d.name for d in TabularPipelineSpace(columns=many, max_per_column=12).decisions()]
    assert "numeric" in names and not any(n.startswith("numeric[") for n in names)
    assert "select" in names  # large d: pruned by importance instead


def test_choices_round_trip_and_mutations_touch_only_used_decisions():
    space = TabularPipelineSpace()
    rng = np.random.default_rng(0)
    for _ in range(40):
        arch = space.sample(rng)
        assert space.from_choices(space.to_choices(arch, rng)) == arch
        child = space.mutate(arch, rng)
        changed = [k for k in ("model", "params", "features") if child[k] != arch[k]]
        assert changed == ["model", "params"] or len(changed) == 1


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"model": "svm", "params": {}, "features": {}}, "model is 'svm'"),
        (
            {"model": "linear", "params": {"C": 3.0}, "features": {}},
            r"params.C is 3.0",
        ),
    ],
)
def test_validate_names_the_field(bad, match):
    with pytest.raises(SpaceError, match=match):
        TabularPipelineSpace().validate(bad)


def test_pipeline_transforms_and_importance_mapping():
    frame = _mixed_frame()
    typed = TabularFrame().fit(frame)
    assert typed.kinds_ == {
        "size": "numeric",
        "weight": "numeric",
        "hour": "periodic",
        "city": "categorical",
    }
    space = TabularPipelineSpace(task="regression", columns=typed.columns_)
    arch = {
        "model": "linear",
        "params": {"C": 1.0},
        "features": {
            "numeric": {"size": "signed_log", "weight": "quantile"},
            "categorical": "onehot",
            "periodic": "sincos",
            "missing": True,
            "select": 1.0,
        },
    }
    y = np.arange(len(frame), dtype=float)
    pipe = space.pipeline(arch).fit(typed.transform(frame), y)
    sources = output_sources(pipe.named_steps["features"])
    # city: oslo, rome, __missing__ one-hot; size, weight; hour as sin and cos
    assert sorted(sources) == ["city"] * 3 + ["hour", "hour", "size", "weight"]
    out = pipe.named_steps["features"].transform(typed.transform(frame))
    hour = frame["hour"].to_numpy() * 2 * np.pi / 24
    cols = [i for i, s in enumerate(sources) if s == "hour"]
    np.testing.assert_allclose(out[:, cols], np.c_[np.sin(hour), np.cos(hour)], atol=1e-12)
    size = [i for i, s in enumerate(sources) if s == "size"][0]
    assert np.corrcoef(out[:, size], np.log1p(frame["size"]))[0, 1] > 0.999


def test_selection_keeps_the_share_and_the_mlp_trains():
    X, y = load_iris(return_X_y=True, as_frame=True)
    typed = TabularFrame().fit(X)
    space = TabularPipelineSpace(columns=typed.columns_)
    arch = {
        "model": "mlp",
        "params": {
            "widths": [32],
            "activation": "relu",
            "dropout": 0.0,
            "skip": "none",
            "lr": 1e-2,
        },
        "features": {
            "numeric": dict.fromkeys(X.columns, "standardize"),
            "missing": False,
            "select": 0.5,
        },
    }
    pipe = space.pipeline(arch, fidelity=0.5).fit(typed.transform(X), y)
    assert pipe.named_steps["select"].get_support().sum() == 2
    assert (pipe.predict(typed.transform(X)) == y).mean() > 0.8


@pytest.mark.parametrize("strategy", ["tpe", "evolution"])
def test_strategies_search_the_space_on_the_loop_and_resume(tmp_path, strategy):
    X, y = load_iris(return_X_y=True, as_frame=True)
    typed = TabularFrame().fit(X)
    frame = typed.transform(X)
    space = TabularPipelineSpace(models=("linear", "knn"), columns=typed.columns_)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(frame, y))
    metric = get_metric(None, "multiclass")
    evaluator = CrossValidate(space, frame, y.to_numpy(), folds, metric, 3, str(tmp_path))
    extra = {"n_startup": 1} if strategy == "tpe" else {"population_size": 1, "sample_size": 1}
    store = SQLiteStore(tmp_path)
    run(
        space,
        create("strategy", strategy, space=space, seed=0, **extra),
        evaluator,
        store=store,
        trials=2,
    )
    store.close()
    store = SQLiteStore(tmp_path)  # reopened: resumes, keeps the two trials
    best = run(
        space,
        create("strategy", strategy, space=space, seed=0, **extra),
        evaluator,
        store=store,
        trials=4,
    )
    trials = store.trials()
    assert len(trials) == 4 and all(t.status == "ok" for t in trials)
    assert best is not None and best.metrics["metric"] == "log_loss"
    assert best.reward == -best.metrics["score"] and best.metrics["score"] < np.log(3)  # chance
    oof, pipes = np.load(oof_file(tmp_path, best.id)), pd.read_pickle(trial_file(tmp_path, best.id))
    assert oof.shape == (150, 3) and len(pipes) == 3
