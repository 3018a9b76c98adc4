"""Multi-objective pieces: Pareto utilities, the MnasNet reward, NSGA-II on NB201 latencies,
measured latency, and the CLI end to end."""

import math

import numpy as np
import pytest

from nasbeyond.cli import main
from nasbeyond.evaluate import measure_latency
from nasbeyond.evaluate.nb201_table import NB201TableEvaluator, load_table
from nasbeyond.evaluate.pareto import (
    crowding,
    dominates,
    front_summary,
    hypervolume_2d,
    nondominated_sort,
    pareto_front,
    parse_objectives,
)
from nasbeyond.evaluate.reward import MnasNetReward, mnasnet_reward, parse_ms
from nasbeyond.exceptions import ConfigError
from nasbeyond.run import MemoryStore, SQLiteStore, run
from nasbeyond.space import MLPSpace, NB201Space, TaskShape
from nasbeyond.strategy import NSGA2, RandomSearch
from nasbeyond.trial import Result


def test_fronts_crowding_and_hypervolume():
    pts = [(1, 1), (0, 0), (1, 0), (0, 1), (2, -1)]
    assert nondominated_sort(pts) == [[0, 4], [2, 3], [1]]
    assert sorted(pareto_front(pts)) == [0, 4]
    d = crowding(pts, [2, 3])
    assert d[2] == d[3] == float("inf")
    assert hypervolume_2d([(1, 0), (0, 1)], (-1, -1)) == pytest.approx(3.0)
    assert hypervolume_2d([(1, 1), (0.5, 0.5)], (0, 0)) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    many = rng.random((300, 2)).tolist()
    assert sorted(pareto_front(many)) == sorted(nondominated_sort(many)[0])
    coarse = np.round(rng.random((400, 3)) * 8).tolist()  # three objectives, many ties
    front = pareto_front(coarse)
    assert sorted(front) == sorted(nondominated_sort(coarse)[0])
    assert [coarse[i] for i in front] == sorted((coarse[i] for i in front), reverse=True)


def test_duplicates_of_a_front_point_are_all_on_the_front():
    # Neither of two equal points dominates the other; the two-objective sweep used to keep
    # only the first of them, unlike the n-objective sort.
    pts = [(1, 1), (2, 0), (1, 1), (0.5, 0.5), (2, 0)]
    assert sorted(pareto_front(pts)) == [0, 1, 2, 4] == sorted(nondominated_sort(pts)[0])
    metrics = [(i, {"val_acc": a, "latency_ms": -b}) for i, (a, b) in enumerate(pts, start=1)]
    metrics.append((9, {"val_acc": float("nan"), "latency_ms": 0.0}))  # not scored
    s = front_summary(metrics, "accuracy,latency")
    assert s["trials"] == [2, 5, 1, 3] and s["scored"] == 5


def test_objective_parsing():
    objs = parse_objectives("accuracy,latency")
    assert [(o.metric, o.maximize) for o in objs] == [("val_acc", True), ("latency_ms", False)]
    with pytest.raises(ConfigError, match="objectives"):
        parse_objectives("accuracy")
    with pytest.raises(ConfigError, match="METRIC:max"):
        parse_objectives("accuracy,speed:fast")


def test_mnasnet_reward_soft_and_hard():
    assert mnasnet_reward(0.8, 10, 10, -0.07, -0.07) == pytest.approx(0.8)
    assert mnasnet_reward(0.8, 20, 10, -0.07, -0.07) == pytest.approx(0.8 * 2**-0.07)
    assert mnasnet_reward(0.8, 5, 10, 0.0, -1.0) == pytest.approx(0.8)  # hard: no bonus
    assert mnasnet_reward(0.8, 20, 10, 0.0, -1.0) == pytest.approx(0.4)
    shaped = MnasNetReward.named("mnasnet-hard", 10)(Result("ok", 0.8, {"latency_ms": 20}))
    assert shaped.reward == pytest.approx(0.4) and shaped.metrics["accuracy"] == 0.8
    assert MnasNetReward(10)(Result("ok", 0.8)).status == "failed"
    assert parse_ms("5ms") == 5 and parse_ms("0.5s") == 500 and parse_ms(3) == 3
    with pytest.raises(ConfigError, match="target_latency"):
        parse_ms("fast")


def test_nsga2_covers_the_true_front_better_than_random():
    t = load_table()
    acc, lat = t.cols["cifar10_valid_acc_12ep"] / 100, t.cols["latency_ms_pixel3"]
    ref = (acc.min(), -lat.max())
    pts = list(zip(acc, -lat, strict=True))
    true = hypervolume_2d([pts[i] for i in pareto_front(pts)], ref)
    ev = NB201TableEvaluator(latency_device="pixel3")

    def hv(strategy):
        store = MemoryStore()
        run(strategy.space, strategy, ev, store=store, trials=300)
        points = [(t.metrics["val_acc"], -t.metrics["latency_ms"]) for t in store.trials()]
        return hypervolume_2d(points, ref) / true

    ours = np.mean([hv(NSGA2(NB201Space(), seed=s)) for s in range(5)])
    rnd = np.mean([hv(RandomSearch(NB201Space(), seed=s)) for s in range(5)])
    assert ours > rnd and ours > 0.98


def test_measured_latency_is_a_positive_median_and_spread():
    # No ordering between models is asserted: timings on a shared CI machine are noise.
    space, task = MLPSpace(), TaskShape((1, 32, 32), 10)
    model = space.build({"widths": [32], "activation": "relu", "dropout": 0.0}, task)
    median, iqr = measure_latency(model, task.input_shape, runs=5, warmup=1)
    assert math.isfinite(median) and median > 0 and math.isfinite(iqr) and iqr >= 0


def test_latency_backends():
    pytest.importorskip("onnxruntime")
    space, task = MLPSpace(), TaskShape((1, 8, 8), 10)
    model = space.build({"widths": [64], "activation": "relu", "dropout": 0.0}, task)
    assert measure_latency(model, task.input_shape, backend="onnxruntime")[0] > 0
    with pytest.raises(ConfigError, match="latency_backend"):
        measure_latency(model, task.input_shape, backend="tvm")


def test_latency_aware_search_from_the_cli(tmp_path, capsys):
    run_dir = str(tmp_path / "mo")
    assert (
        main(
            [
                "search",
                "--space",
                "nb201",
                "--evaluator",
                "nb201-table",
                "--evaluator-arg",
                "latency_device=raspi4",
                "--strategy",
                "nsga2",
                "--objectives",
                "accuracy,latency",
                "--trials",
                "60",
                "--executor",
                "inline",
                "--run-dir",
                run_dir,
            ]
        )
        == 0
    )
    assert main(["show", run_dir]) == 0
    out = capsys.readouterr().out
    assert "Pareto front (" in out and "latency_ms=" in out and "hypervolume 0." in out
    stored = SQLiteStore(run_dir, create=False).get("pareto")
    trials = {t.id: t.metrics for t in SQLiteStore(run_dir, create=False).trials("ok")}
    assert stored["scored"] == 60 and 0 < stored["hypervolume"] <= 1
    # the stored front is exactly the non-dominated set of the stored trials
    pts = {i: (m["val_acc"], -m["latency_ms"]) for i, m in trials.items()}
    for i in pts:
        dominated = any(dominates(pts[j], pts[i]) for j in pts)
        assert (i in stored["trials"]) == (not dominated)
    assert (
        main(
            [
                "search",
                "--space",
                "nb201",
                "--evaluator",
                "nb201-table",
                "--objectives",
                "accuracy,latency",
                "--check",
            ]
        )
        == 2
    )  # no device to read latency from
    assert (
        main(["search", "--space", "mlp", "--dataset", "digits", "--reward", "mnasnet", "--check"])
        == 2
    )  # no target latency
    assert "target_latency" in capsys.readouterr().err


def test_front_summary_hypervolume_is_scaled():
    metrics = [(1, {"val_acc": 0.9, "latency_ms": 10.0}), (2, {"val_acc": 0.5, "latency_ms": 1.0})]
    metrics.append((3, {"val_acc": 0.4, "latency_ms": 5.0}))  # dominated by 2
    s = front_summary(metrics, "accuracy,latency")
    assert s["trials"] == [1, 2] and s["scored"] == 3
    # scaled: trial 1 = (1, 0), trial 2 = (0.2, 1): area = 1 * 0 + 0.2 * 1
    assert s["hypervolume"] == pytest.approx(0.2)


def test_parameter_and_mac_constraints(tmp_path, capsys):
    run_dir = str(tmp_path / "c")
    argv = ["search", "--space", "mlp", "--dataset", "digits", "--epochs", "1", "--trials", "8"]
    argv += ["--max-params", "20000", "--executor", "inline", "--run-dir", run_dir]
    assert main(argv) == 0
    trials = SQLiteStore(run_dir, create=False).trials("ok")
    over = [t for t in trials if t.metrics["params"] > 20000]
    under = [t for t in trials if t.metrics["params"] <= 20000]
    assert over and under, "the seed should draw models on both sides of the limit"
    for t in over:  # not trained, reward 0, the reason kept
        assert t.reward == 0.0 and "val_acc" not in t.metrics
        assert t.metrics["constraint"].startswith("params ")
    assert all("val_acc" in t.metrics and t.reward > 0.5 for t in under)
    capsys.readouterr()
    assert main(["show", run_dir]) == 0
    assert "> max_params 20,000]" in capsys.readouterr().out
    assert main(argv[:-2] + ["--max-macs", "-1", "--check"]) == 2
    assert "max_macs" in capsys.readouterr().err


def test_mnasnet_reward_search_with_measured_latency(tmp_path):
    assert (
        main(
            [
                "search",
                "--space",
                "mlp",
                "--dataset",
                "digits",
                "--epochs",
                "1",
                "--reward",
                "mnasnet-hard",
                "--target-latency",
                "1ms",
                "--trials",
                "3",
                "--executor",
                "inline",
                "--run-dir",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    from nasbeyond.run import SQLiteStore

    trials = SQLiteStore(tmp_path / "r").trials()
    assert all("latency_ms" in t.metrics and "accuracy" in t.metrics for t in trials)
    for t in trials:
        lat, acc = t.metrics["latency_ms"], t.metrics["accuracy"]
        assert t.reward == pytest.approx(mnasnet_reward(acc, lat, 1.0, 0.0, -1.0))


def test_measured_latency_front_in_the_store_and_show(tmp_path, capsys):
    run_dir = str(tmp_path / "m")
    argv = ["search", "--space", "mlp", "--dataset", "digits", "--epochs", "1", "--trials", "5"]
    argv += ["--strategy", "nsga2", "--objectives", "accuracy,latency", "--executor", "inline"]
    assert main([*argv, "--run-dir", run_dir]) == 0
    store = SQLiteStore(run_dir, create=False)
    front = store.get("pareto")
    trials = {t.id: t for t in store.trials("ok")}
    assert front["objectives"] == ["val_acc:max", "latency_ms:min"] and front["scored"] == 5
    assert front["trials"] and all(
        trials[i].metrics["latency_source"] == "measured" for i in front["trials"]
    )
    capsys.readouterr()
    assert main(["show", run_dir]) == 0
    out = capsys.readouterr().out
    assert f"Pareto front ({len(front['trials'])} of 5 trials)" in out
