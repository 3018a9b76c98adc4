"""How well the latency predictor (per-unit lookup table + linear correction) predicts the
measured CPU latency of whole networks it has not seen, beside two simpler predictors fitted on
the same measurements: a linear fit on MACs (what FLOPs-based search assumes) and the raw
table sum without correction; and the ceiling any predictor faces on this machine: the same
models measured a second time, scored against the first measurement.

    python bench/latency_predictor.py [--test 100] [--quick]   # --quick: 30 test archs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.evaluate import count_macs  # noqa: E402
from nasbeyond.evaluate.latency import LatencyPredictor, measure_ms  # noqa: E402
from nasbeyond.space import MacroCNNSpace, MnasNetSpace, TaskShape  # noqa: E402

SPACES = {"mnasnet": (MnasNetSpace(), (3, 32, 32)), "macro-cnn": (MacroCNNSpace(), (1, 28, 28))}


def scores(pred: np.ndarray, meas: np.ndarray) -> tuple[float, float]:
    within = float(np.mean(np.abs(pred - meas) / meas <= 0.10))
    return within, float(kendalltau(pred, meas)[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--fit", type=int, default=60)
    p.add_argument("--test", type=int, default=100)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    n_fit, n_test = (15, 30) if args.quick else (args.fit, args.test)
    torch.set_num_threads(1)
    rows, out = [], {}
    all_pred, all_meas = [], []
    start = time.time()
    for name, (space, shape) in SPACES.items():
        rng = np.random.default_rng(0)
        task = TaskShape(shape, 10)
        models = [space.build(space.sample(rng), task) for _ in range(n_fit + n_test)]
        meas = np.array([measure_ms(m, shape) for m in models])
        lp = LatencyPredictor()
        for m in models:
            lp.profile(m, shape)
        lp.fit(models[:n_fit], shape, meas[:n_fit].tolist())
        test, truth = models[n_fit:], meas[n_fit:]
        ours = np.array([lp.predict(m, shape) for m in test])
        raw = np.array([lp.features(m, shape)[0] for m in test])
        macs = np.array([count_macs(m, shape) for m in models], dtype=float)
        coef = np.polyfit(macs[:n_fit], meas[:n_fit], 1)
        flops = np.polyval(coef, macs[n_fit:])
        # The ceiling: the same test models measured a second time, against the first.
        again = np.array([measure_ms(m, shape) for m in test])
        for label, pred in (
            ("table + correction", ours),
            ("table sum", raw),
            ("linear in MACs", flops),
            ("(measured again)", again),
        ):
            w, t = scores(pred, truth)
            rows.append([name, label, w, t])
        w, t = scores(ours, truth)
        out[name] = {
            "repeat_within_10pct": scores(again, truth)[0],
            "within_10pct": w,
            "kendall_tau": t,
            "n": n_test,
            "median_ms": float(np.median(truth)),
            "table_entries": len(lp.table),
        }
        all_pred += ours.tolist()
        all_meas += truth.tolist()
    w, t = scores(np.array(all_pred), np.array(all_meas))
    print(
        f"latency prediction on this CPU (1 thread, batch 1), {n_fit} archs fitted, {n_test} "
        f"tested per space ({time.time() - start:.0f} s)"
    )
    print(table(["space", "predictor", "within 10%", "Kendall tau"], rows))
    print(f"ours overall: within 10% {w:.3f}, tau {t:.3f} (targets: 0.95, 0.9)")
    path = save(
        "latency_predictor", {"within_10pct": w, "kendall_tau": t, "n": len(all_meas), **out}
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
