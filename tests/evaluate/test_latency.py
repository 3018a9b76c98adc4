import numpy as np
import pytest

from nasbeyond.evaluate.latency import LatencyPredictor, measure_ms, units
from nasbeyond.exceptions import StoreError
from nasbeyond.space import MLPSpace, TaskShape


def test_predictor_tracks_measured_latency(tmp_path):
    space, shape = MLPSpace(max_layers=4), (1, 32, 32)
    rng = np.random.default_rng(0)
    models = [space.build(space.sample(rng), TaskShape(shape, 10)) for _ in range(16)]
    meas = [measure_ms(m, shape) for m in models]
    lp = LatencyPredictor()
    new = lp.profile(models[0], shape)  # identical units (same config and input) share a key
    assert 0 < new == len(lp.table) <= len(units(models[0]))
    assert lp.profile(models[0], shape) == 0
    # The correction is an exact least-squares fit: on measurements that follow the model it
    # recovers them (no wall-clock assertion: timings are only the table's entries).
    feats = [lp.features(m, shape) for m in models]
    fake = [2.0 * f[0] + 0.01 * f[1] + 0.3 * f[2] + 0.05 for f in feats]
    lp.fit(models[:8], shape, fake[:8])
    pred = [lp.predict(m, shape) for m in models[8:]]
    assert pred == pytest.approx(fake[8:], rel=1e-6)
    lp.fit(models[:8], shape, meas[:8])  # real measurements: a finite fit
    assert all(np.isfinite(lp.predict(m, shape)) for m in models[8:])
    again = LatencyPredictor.load(lp.save(tmp_path / "lp.json"))
    assert again.predict(models[9], shape) == pytest.approx(lp.predict(models[9], shape))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(StoreError, match="latency_predictor"):
        LatencyPredictor.load(tmp_path / "bad.json")


def test_profile_from_the_cli_then_search_with_predicted_latency(tmp_path, capsys):
    from nasbeyond.cli import main
    from nasbeyond.run import SQLiteStore

    path = str(tmp_path / "lp.json")
    assert (
        main(
            [
                "latency",
                "profile",
                "--space",
                "mlp",
                "--input-shape",
                "1,8,8",
                "--archs",
                "6",
                "--output",
                path,
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == path
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
                "mnasnet",
                "--target-latency",
                "0.05ms",
                "--evaluator-arg",
                f"latency_predictor={path}",
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
    trials = SQLiteStore(tmp_path / "r").trials()
    assert all(t.metrics["latency_source"] == "predicted" for t in trials)
    assert main(["latency", "profile", "--input-shape", "3,x"]) == 2
