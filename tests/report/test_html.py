"""``nasbeyond report``: real runs the CLI produced (an NB201 lookup-table search with
objectives, a RandAugment grid, an ENAS weight-sharing search, a tabular search's store and a
tabular model directory) written as one self-contained page: every section and chart present,
charts non-blank PNGs, nothing fetched, text from the store escaped, bad input exit status 2."""

from __future__ import annotations

import base64
import io
import json
import re
from html import escape

import numpy as np
import pytest
from PIL import Image

from nasbeyond.cli import main
from nasbeyond.evaluate.pareto import front_summary
from nasbeyond.report.html import write_report
from nasbeyond.report.runinfo import (
    best_so_far_by_finish,
    best_so_far_series,
    decision_importance,
    flatten_arch,
    load_run,
    trial_metrics,
)
from nasbeyond.run.store import SQLiteStore
from nasbeyond.trial import Result

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def nb201_run(tmp_path_factory):
    """30 trials of evolution on the NB201 table, latency on pixel3, two objectives; then one
    failed trial whose error is hostile HTML and one still running, through the Store API."""
    run_dir = tmp_path_factory.mktemp("nb201") / "run"
    argv = ["search", "--space", "nb201", "--evaluator", "nb201-table", "--strategy", "evolution"]
    argv += ["--evaluator-arg", "latency_device=pixel3", "--objectives", "accuracy,latency"]
    argv += ["--trials", "30", "--executor", "inline", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    store = SQLiteStore(run_dir, create=False)
    state = store.get("strategy_state")
    arch = store.trial(1).arch
    tid = store.start_trial(arch, None, lambda: state)
    store.finish_trial(
        tid, Result.failed(f"Traceback:\n  line 1\nValueError: {HOSTILE}"), lambda: state
    )
    store.start_trial(store.trial(2).arch, None, lambda: state)  # still running
    store.close()
    return run_dir


def charts(text):
    """The inline PNGs of a page, decoded."""
    return [
        Image.open(io.BytesIO(base64.b64decode(b)))
        for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    ]


def assert_self_contained(text):
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', text)
    assert "<link" not in text and "<script src" not in text and "@import" not in text
    for img in charts(text):
        pixels = np.asarray(img.convert("L"), dtype=float)
        assert img.width > 200 and img.height > 100 and pixels.std() > 5  # not blank


def test_search_report_has_every_section_and_escapes_the_store(nb201_run, capsys):
    out = nb201_run / "r.html"
    assert main(["report", str(nb201_run), "--out", str(out), "--top", "5"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text()
    for sid in ("summary", "progress", "fronts", "decisions", "top", "failed"):
        assert f'<section id="{sid}">' in text
    assert len(charts(text)) == 4  # progress, fronts, parallel coordinates, importance
    assert_self_contained(text)
    assert "simulated training time" in text  # nb201-table charges the benchmark's cost
    assert "val_acc:max vs latency_ms:min" in text and "random forest" in text
    assert text.count("<svg") == 5  # draw's drawing of each top-5 trial, inline
    assert '<table class="sortable">' in text and "th.sortable" in text
    assert HOSTILE not in text and "<img src=x" not in text
    assert (
        "ValueError: "
        + HOSTILE.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        in text
    )  # the full error, escaped
    assert "Traceback:\n  line 1" in text
    assert "1 failed; 1 running" in text and "trial 32 (running" in text


def test_runinfo_reads_fronts_importance_and_clocks(nb201_run):
    info = load_run(nb201_run)
    assert info.kind == "search" and len(info.trials) == 32 and len(info.failed) == 1
    assert info.objectives == ["accuracy", "latency"]
    by = {tuple(f.objectives): f for f in info.fronts}
    ok = [(t.id, trial_metrics(t)) for t in info.ok]
    for objectives in (("reward:max", "latency_ms:min"), ("val_acc:max", "latency_ms:min")):
        want = front_summary(ok, list(objectives))
        assert by[objectives].trials == want["trials"]
        assert by[objectives].hypervolume == pytest.approx(want["hypervolume"])
    imp = info.importance
    assert imp is not None and imp.trials == 30
    assert set(imp.names) <= set(flatten_arch(info.trials[0].arch))
    assert sum(imp.values) == pytest.approx(1.0) and imp.values == sorted(imp.values)[::-1]
    s = best_so_far_series(info.trials, info.times)
    assert len(s.trial) == 31 and all(b2 >= b1 for b1, b2 in zip(s.best, s.best[1:], strict=False))
    assert s.best[-1] == pytest.approx(max(t.reward for t in info.ok))
    secs, best, _ = best_so_far_by_finish(info.trials, info.times)
    assert len(secs) == 31 and secs == sorted(secs) and best == sorted(best)
    assert all(np.isfinite(s.wall_s)) and s.cost_s[-1] == pytest.approx(
        sum(t.cost_s for t in info.trials)
    )


def test_flatten_and_importance_on_plain_trials():
    from nasbeyond.trial import Trial

    assert flatten_arch({"layers": [{"kh": 3, "skips": []}], "act": "relu"}) == {
        "act": "relu",
        "layers.0.kh": 3,
        "layers.0.skips": "[]",
    }
    rng = np.random.default_rng(0)
    trials = []
    for i in range(40):  # reward follows "a" only; "b" is noise
        a, b = int(rng.integers(3)), str(rng.choice(["x", "y", "z"]))
        trials.append(Trial(i + 1, {"a": a, "b": b}, "ok", a + 0.01 * rng.normal()))
    imp = decision_importance(trials)
    assert imp is not None and imp.names[0] == "a" and imp.values[0] > 0.8
    assert decision_importance(trials[:3]) is None  # too few trials


def test_augment_report_shows_policy_and_augmented_samples(tmp_path):
    run_dir = tmp_path / "aug"
    argv = ["augment", "randaugment-grid", "--dataset", "digits", "--space-arg", "ns=[1,2]"]
    argv += ["--space-arg", "ms=[4,8]", "--trials", "2", "--steps", "2", "--final-epochs", "0"]
    argv += ["--evaluator-arg", "subset=200", "--executor", "inline", "--run-dir", str(run_dir)]
    assert main(argv) == 0
    text = write_report(run_dir).read_text()
    assert '<section id="augment">' in text and "N (ops per image)" in text
    assert "first 8 training images of &#x27;digits&#x27;" in text
    imgs = charts(text)
    assert len(imgs) >= 2 and imgs[-1].height > imgs[-1].width / 3  # the grid: 5 rows of 8
    assert_self_contained(text)


def test_oneshot_report_shows_supernet_cost_and_derived_arch(tmp_path):
    run_dir = tmp_path / "enas"
    argv = ["search", "--space", "macro-cnn", "--space-arg", "max_layers=2", "--dataset"]
    argv += ["digits", "--strategy", "enas", "--epochs", "0.05", "--final-epochs", "0"]
    argv += ["--executor", "inline", "--run-dir", str(run_dir)]
    for a in ("epochs=2", "steps_per_epoch=1", "controller_steps=1", "final_samples=2"):
        argv += ["--strategy-arg", a]
    assert main(argv) == 0
    info = load_run(run_dir)
    assert info.kind == "oneshot"
    text = write_report(run_dir).read_text()
    assert '<section id="oneshot">' in text and "supernet search cost" in text
    assert "2 of 2" in text  # supernet epochs
    assert "Derived arch: " + escape(info.describe(info.oneshot["arch"])) in text
    assert "<svg" in text
    assert_self_contained(text)


def test_tabular_store_and_model_directory(tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier, export_text

    from nasbeyond.tabular import AutoClassifier
    from nasbeyond.tabular.export import load_model, write_model_dir

    X, y = load_iris(return_X_y=True, as_frame=True)
    store = tmp_path / "store"
    clf = AutoClassifier(
        time_limit=4, max_trials=3, workers=0, models=("linear", "knn"), store=str(store)
    ).fit(X, y)
    text = write_report(store).read_text()
    assert "tabular-store" in text and "Leaderboard" in text
    assert "weights and the distilled tree live in the fitted estimator" in text
    # A model directory as `tabular fit` writes it, with a tree distilled from the ensemble.
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, clf.predict(X))
    rules = export_text(tree, feature_names=list(X.columns))
    meta = {"format": "nasbeyond-tabular/1", "target": "target", "task": "multiclass"}
    meta |= {"metric": clf.metric_, "columns": list(X.columns), "max_depth": 2}
    meta |= {"report": {"tree": {"score": 0.9, "fidelity": 0.95, "latency_ms": 1.0}}}
    model = tmp_path / "model"
    files = {"rules.txt": lambda p: p.write_text(rules)}
    write_model_dir(model, {"teacher": clf}, meta, files)
    text = write_report(model, tabular_loader=load_model).read_text()
    assert "Ensemble weights" in text and "The distilled tree" in text
    assert escape(rules) in text
    members = {m.trial: m.weight for m in clf.ensemble_}
    info = load_run(model, load_model)
    assert dict(info.tabular.ensemble) == pytest.approx(members)
    assert len(info.tabular.leaderboard) == len(clf.leaderboard_)
    assert_self_contained(text)
    (model / "meta.json").write_text(json.dumps({"format": "other"}))
    assert main(["report", str(model)]) == 2


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    SQLiteStore(tmp_path / "bare").close()  # a database with no search settings
    for argv in (
        ["report", str(tmp_path / "missing")],
        ["report", str(tmp_path / "empty")],
        ["report", str(tmp_path / "bare")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("nasbeyond: error: run_dir: ") and "\n" not in err
    assert main(["report", str(tmp_path / "empty"), "--top", "0"]) == 2
    assert "top: 0; allowed: >= 1" in capsys.readouterr().err
