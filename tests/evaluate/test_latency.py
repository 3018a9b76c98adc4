import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nasbeyond.evaluate import latency
from nasbeyond.evaluate.latency import (
    FEATURES,
    LatencyPredictor,
    measure_ms,
    profile_space,
    record,
    units,
)
from nasbeyond.evaluate.measure import measure_latency
from nasbeyond.exceptions import ConfigError, StoreError
from nasbeyond.space import MacroCNNSpace, MLPSpace, TaskShape, make_space

FAST = {"runs": 2, "warmup": 1, "rounds": 1}  # tables for logic tests; no timing is asserted
USER = str(Path(__file__).resolve().parents[2] / "examples" / "user_space.py") + ":build"
IMAGE, MNIST = TaskShape((3, 8, 8), 10), TaskShape((1, 8, 8), 10)
# Every built-in image/sequence space (small settings) and the README's user-defined example.
SPACES = [
    ("macro-cnn", {"max_layers": 4}, MNIST),
    ("mnasnet", {"blocks": 2, "width_mult": 0.25}, IMAGE),
    ("nasnet", {"channels": 2}, IMAGE),
    ("darts", {"channels": 2}, IMAGE),
    ("nb201", {"channels": 2, "cells": 1}, IMAGE),
    ("transformer", {"max_blocks": 2}, TaskShape((8,), 10, vocab_size=16)),
    ("mlp", {"max_layers": 2}, MNIST),
    ("evolution-cnn", {"max_layers": 3}, IMAGE),
    (USER, {}, MNIST),
]


def _models(space, task, n, seed=0):
    rng = np.random.default_rng(seed)
    return [space.build(space.sample(rng), task) for _ in range(n)]


def test_predictor_fit_is_exact_on_model_shaped_data_and_survives_a_round_trip(tmp_path):
    space, task = MLPSpace(max_layers=4), TaskShape((1, 32, 32), 10)
    models = _models(space, task, 16)
    lp = LatencyPredictor()
    new = lp.profile(models[0], task, **FAST)  # identical calls (same config and input) share a key
    assert 0 < new == len(lp.table) <= len(record(models[0], task))
    assert lp.profile(models[0], task, **FAST) == 0
    lp.profile(models, task, **FAST)
    # The correction is an exact least-squares fit: on measurements that follow the model it
    # recovers them (no wall-clock assertion: timings are only the table's entries).
    feats = [lp.features(m, task) for m in models]
    assert all(len(f) == len(FEATURES) for f in feats)
    fake = [2.0 * f[0] + 0.01 * f[1] + 0.05 for f in feats]
    lp.fit(models[:8], task, fake[:8])
    assert [lp.predict(m, task) for m in models[8:]] == pytest.approx(fake[8:], rel=1e-6)
    measured = lp.fit(models[:8], task, runs=3)  # measured in the rounds that profile them
    assert len(measured) == 8 and all(v > 0 for v in measured)
    assert all(np.isfinite(lp.predict(m, task)) for m in models[8:])
    assert measure_ms(models[0], task, runs=3, warmup=1) > 0
    again = LatencyPredictor.load(lp.save(tmp_path / "lp.json"))
    assert again.predict(models[9], task) == pytest.approx(lp.predict(models[9], task))
    with pytest.raises(ConfigError, match="fit: need >= 3 models"):
        lp.fit(models[:2], task, [1.0, 1.0])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(StoreError, match="latency_predictor"):
        LatencyPredictor.load(tmp_path / "bad.json")
    old = {"coef": [1.0, 0.0, 0.0, 0.0], "table": {}}  # a file of the units-only predictor
    (tmp_path / "old.json").write_text(json.dumps(old))
    with pytest.raises(StoreError, match="older nasbeyond"):
        LatencyPredictor.load(tmp_path / "old.json")
    # A file of the predictor before the calibration probe: entries at an unknown speed.
    v2 = {"version": 2, "backend": "torch", "coef": [1.0, 0.0, 0.0], "table": {"k": 0.1}}
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    with pytest.raises(StoreError, match="no calibration probe.*nasbeyond latency profile"):
        LatencyPredictor.load(tmp_path / "v2.json")


def test_macro_cnn_skip_concatenation_and_pooling_are_table_entries():
    # The calls a units-only table missed (issue 21 part 1): a layer reading two skips, one of
    # them from before a stride-2 layer, pools it, concatenates, and the head averages.
    arch = {
        "layers": [
            {"kh": 3, "kw": 3, "filters": 24, "stride": 1, "skips": []},
            {"kh": 3, "kw": 3, "filters": 24, "stride": 2, "skips": []},
            {"kh": 1, "kw": 1, "filters": 36, "stride": 1, "skips": [0]},
        ]
    }
    calls = record(MacroCNNSpace().build(arch, MNIST), MNIST)
    ops = [c.key for c in calls if c.kind == "op"]
    assert [c.kind for c in calls].count("unit") == len(units(MacroCNNSpace().build(arch, MNIST)))
    assert any("avg_pool2d" in k and "T[1, 24, 8, 8]" in k for k in ops)
    assert any(".cat|" in k and "T[1, 24, 4, 4]" in k for k in ops)  # the skip joined
    assert any(".mean|" in k for k in ops)  # global average pooling before the classifier
    # Same arch, same keys; another filter count, other keys.
    assert [c.key for c in record(MacroCNNSpace().build(arch, MNIST), MNIST)] == [
        c.key for c in calls
    ]
    arch["layers"][2]["filters"] = 48
    assert {c.key for c in record(MacroCNNSpace().build(arch, MNIST), MNIST)} != {
        c.key for c in calls
    }


@pytest.mark.parametrize(("name", "args", "task"), SPACES, ids=[s[0][-20:] for s in SPACES])
def test_every_space_is_profiled_and_predicted_unseen_calls_on_demand(name, args, task):
    space = make_space(name, args)
    models = _models(space, task, 7)
    lp = LatencyPredictor(runs=2)
    assert lp.profile(models[:6], task, **FAST) > 0
    lp.fit(models[:6], task, [1.0, 1.2, 0.9, 1.1, 1.3, 1.0])  # any positive numbers fit
    calls = record(models[6], task)
    assert np.isfinite(lp.predict(models[6], task))
    assert {c.key for c in calls} <= set(lp.table)  # the unseen ones were profiled and kept
    assert lp.profile(models[6], task) == 0


def test_on_demand_entries_are_written_back_to_the_loaded_file(tmp_path):
    space = MacroCNNSpace(max_layers=3)
    models = _models(space, MNIST, 8, seed=3)
    lp = LatencyPredictor()
    lp.profile(models[:6], MNIST, **FAST)
    lp.fit(models[:6], MNIST, [1.0, 2.0, 1.5, 1.2, 0.8, 1.1])
    path = lp.save(tmp_path / "lp.json")
    loaded = LatencyPredictor.load(path)
    loaded.runs = 2
    known = set(loaded.table)
    loaded.predict(models[7], MNIST)
    new = set(loaded.table) - known
    assert new and new <= set(json.loads(path.read_text())["table"])
    assert LatencyPredictor.load(path).table.keys() == loaded.table.keys()


def test_profile_space_refuses_bad_settings_with_one_line():
    with pytest.raises(ConfigError, match=r"archs is 2; allowed: >= 3"):
        profile_space(MLPSpace(), (1, 8, 8), archs=2)
    with pytest.raises(ConfigError, match=r"runs is 0; allowed: >= 1"):
        profile_space(MLPSpace(), (1, 8, 8), archs=3, runs=0)
    with pytest.raises(ConfigError, match=r"input_shape is \(1, 0, 8\); allowed: positive"):
        profile_space(MLPSpace(), (1, 0, 8), archs=3)
    with pytest.raises(ConfigError, match="input_shape: transformer"):
        profile_space(make_space("transformer"), (3, 8, 8), archs=6)
    with pytest.raises(ConfigError, match="backend: 'tpu'; allowed: torch, cuda"):
        LatencyPredictor(backend="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_cuda_backend_without_cuda_is_one_config_error(tmp_path, capsys):
    from nasbeyond.cli import main

    model = MLPSpace().build(MLPSpace().sample(np.random.default_rng(0)), MNIST)
    with pytest.raises(ConfigError, match="latency_backend: 'cuda' needs an NVIDIA GPU"):
        measure_latency(model, MNIST.input_shape, backend="cuda")
    with pytest.raises(ConfigError, match="backend: 'cuda' needs an NVIDIA GPU"):
        measure_ms(model, MNIST, backend="cuda")
    with pytest.raises(ConfigError, match="backend: 'cuda' needs an NVIDIA GPU"):
        LatencyPredictor(backend="cuda").profile(model, MNIST)
    assert main(["latency", "profile", "--space", "mlp", "--backend", "cuda"]) == 2
    search = ["search", "--space", "mlp", "--dataset", "digits", "--reward", "mnasnet"]
    search += ["--target-latency", "1ms", "--evaluator-arg", "latency_backend=cuda"]
    assert main([*search, "--run-dir", str(tmp_path / "r")]) == 2  # before any trial
    assert not (tmp_path / "r").exists()
    assert capsys.readouterr().err.count("'cuda' needs an NVIDIA GPU") == 2


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_backend_measures_and_predicts_on_the_gpu(tmp_path):
    space = MacroCNNSpace(max_layers=3)
    models = _models(space, MNIST, 8)
    median, iqr = measure_latency(models[0], MNIST.input_shape, runs=5, warmup=2, backend="cuda")
    assert median > 0 and iqr >= 0
    lp, within = profile_space(space, MNIST, archs=6, backend="cuda", runs=5)
    assert lp.backend == "cuda" and 0.0 <= within <= 1.0
    assert np.isfinite(lp.predict(models[7], MNIST)) and lp.predict(models[7], MNIST) > 0
    assert LatencyPredictor.load(lp.save(tmp_path / "gpu.json")).backend == "cuda"


def test_profile_and_predict_from_the_cli_then_search_with_predicted_latency(tmp_path, capsys):
    from nasbeyond.cli import main
    from nasbeyond.run import SQLiteStore

    path = str(tmp_path / "lp.json")
    profile = ["latency", "profile", "--space", USER, "--input-shape", "1,8,8"]
    assert main([*profile, "--archs", "6", "--runs", "3", "--output", path]) == 0
    assert capsys.readouterr().out.strip() == path
    arch = json.dumps(
        {"depth": 1, "block0.width": 16, "block0.kernel": 3, "block0.downsample": False}
        | {"hidden": 0}
    )
    predict = ["latency", "predict", "--space", USER, "--input-shape", "1,8,8"]
    assert main([*predict, "--arch", arch, "--predictor", path, "--measure"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("predicted ") and "measured " in out
    assert "x its reference" in out.splitlines()[1]  # the calibrated prediction beside it
    assert main([*predict, "--arch", arch, "--predictor", str(tmp_path / "none.json")]) == 2
    assert "is not a file; make one with `nasbeyond latency profile" in capsys.readouterr().err
    mlp = ["latency", "profile", "--space", "mlp", "--input-shape", "1,8,8", "--archs", "6"]
    assert main([*mlp, "--runs", "3", "--output", path]) == 0
    search = ["search", "--space", "mlp", "--dataset", "digits", "--epochs", "1"]
    search += ["--reward", "mnasnet", "--target-latency", "0.05ms", "--trials", "3"]
    search += ["--evaluator-arg", f"latency_predictor={path}", "--executor", "inline"]
    assert main([*search, "--run-dir", str(tmp_path / "r")]) == 0
    trials = SQLiteStore(tmp_path / "r").trials()
    assert trials and all(t.metrics["latency_source"] == "predicted" for t in trials)
    assert main(["latency", "profile", "--input-shape", "3,x"]) == 2
    assert main(["latency", "profile", "--space", "transformer", "--vocab-size", "-1"]) == 2


def _fake_chain_samples(probe_ms, call_ms=1.0, net_ms=None):
    """``_chain_samples`` with fixed times: the probe (a one-call chain) ``probe_ms``, every
    other call ``call_ms``, and with ``net_ms`` the last call of each network chain (the net)."""

    def fake(chains, backend, runs, warmup, rounds):
        out = []
        for fns in chains:
            if len(fns) == 1 and isinstance(getattr(fns[0], "func", None), latency._Probe):
                out.append([[probe_ms] * runs])
                continue
            times = [[call_ms] * runs for _ in fns]
            if net_ms is not None:
                times[-1] = [net_ms] * runs
            out.append(times)
        return out

    return fake


def test_entries_and_fit_measurements_are_put_at_the_probes_reference_speed(monkeypatch):
    # Synthetic timings (no clock read): a window in which the probe runs 2x slower than its
    # reference yields entries and measurements halved; the first profiling sets the reference.
    space, task = MLPSpace(max_layers=2), MNIST
    models = _models(space, task, 4)
    monkeypatch.setattr(latency, "_chain_samples", _fake_chain_samples(probe_ms=0.5))
    lp = LatencyPredictor()
    assert lp.speed() == 1.0 and lp.reference_ms is None  # nothing profiled: no speed yet
    lp.profile(models[0], task, **FAST)
    assert lp.reference_ms == pytest.approx(0.5)
    assert lp.table and all(v == pytest.approx(1.0) for v in lp.table.values())
    monkeypatch.setattr(latency, "_chain_samples", _fake_chain_samples(probe_ms=1.0, net_ms=3.0))
    assert lp.speed() == pytest.approx(2.0)
    known = dict(lp.table)
    measured = lp.fit(models, task, runs=2)  # every net measured at 3 ms while 2x slow
    assert measured == pytest.approx([1.5] * 4)
    assert {k: v for k, v in lp.table.items() if k in known} == known  # kept, not re-timed
    assert all(v == pytest.approx(0.5) for k, v in lp.table.items() if k not in known)
    monkeypatch.setattr(lp, "speed", lambda: 3.0)
    assert lp.predict(models[1], task, calibrate=True) == pytest.approx(
        3.0 * lp.predict(models[1], task)
    )


def test_calibration_probe_is_fixed_and_its_reference_is_saved(tmp_path):
    state = torch.random.get_rng_state()
    a, b = latency._Probe(), latency._Probe()
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG untouched
    assert torch.equal(a.x, b.x) and all(
        torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )
    assert sum(p.numel() for p in a.parameters()) * 4 > 4_000_000  # leaves a core's L2
    assert tuple(latency._probe_fn(torch.device("cpu"))().shape) == (1, 10)
    lp = LatencyPredictor({"k": 0.2}, [1.0, 0.0, 0.0], reference_ms=0.8)
    again = LatencyPredictor.load(lp.save(tmp_path / "lp.json"))
    assert again.reference_ms == 0.8 and again.table == {"k": 0.2}
    with pytest.raises(ConfigError, match="reference_ms: a table needs the probe time"):
        LatencyPredictor({"k": 0.2})
    with pytest.raises(ConfigError, match="reference_ms: -1.0; must be a positive time"):
        LatencyPredictor(reference_ms=-1.0)
