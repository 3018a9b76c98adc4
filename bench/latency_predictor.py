"""How well the latency predictor (per-call lookup table + linear correction) predicts the
measured batch-1 latency of whole networks it has not seen, on every built-in space and the
README's user-defined example, beside the ceiling any predictor faces on this machine: the same
networks measured a second time, scored against the first measurement. A linear fit on MACs
(what FLOPs-based search assumes), fitted on the same measurements, is the simple peer.

Per space: ``--fit`` random archs are profiled and measured to fit the correction; then, for each
of ``--test`` unseen archs in turn: measure it (the truth), then predict it (profiling its unseen
units and ops on demand) and measure it again, in alternating order, so the predictor and the
re-measurement face the same machine load.

The predictor is scored twice from one prediction: at the reference speed of its calibration
probe (``predict``: no timing of anything at prediction time once the calls are in the table),
and calibrated (``predict(..., calibrate=True)``: the same number times ``speed()``, the probe
timed right before the prediction, about 16 ms). The target is judged on the calibrated one; both
are printed and saved. The MACs-linear peer is fitted on the same (reference-speed)
measurements and not calibrated.

    python bench/latency_predictor.py [--fit 30] [--test 40] [--quick] [--space NAME ...]
    python bench/latency_predictor.py --backend cuda     # on a CUDA GPU (CUDA events)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save, table  # noqa: E402

from nasbeyond.evaluate import count_macs  # noqa: E402
from nasbeyond.evaluate.latency import LatencyPredictor, measure_ms  # noqa: E402
from nasbeyond.space import TaskShape, make_space  # noqa: E402

USER = str(Path(__file__).resolve().parent.parent / "examples" / "user_space.py") + ":build"
IMAGE, MNIST = TaskShape((3, 32, 32), 10), TaskShape((1, 28, 28), 10)
SMALL = TaskShape((3, 16, 16), 10)  # the cell spaces at 32x32 take 20-80 ms a pass here
# name -> (space reference, task); spaces at their defaults (what `--space NAME` gives).
SPACES = {
    "macro-cnn": ("macro-cnn", MNIST),
    "mnasnet": ("mnasnet", IMAGE),
    "nasnet": ("nasnet", SMALL),
    "darts": ("darts", SMALL),
    "nb201": ("nb201", SMALL),
    "transformer": ("transformer", TaskShape((64,), 10, vocab_size=16)),  # listops-sized
    "mlp": ("mlp", MNIST),
    "evolution-cnn": ("evolution-cnn", IMAGE),
    "user example": (USER, MNIST),
}


def fastest_cpu() -> int:
    """The core on which a 5x5 convolution runs fastest now (thread CPU time, 10th pct)."""
    conv, x = torch.nn.Conv2d(24, 36, 5, padding=2).eval(), torch.randn(1, 24, 28, 28)
    best: dict[int, float] = {}
    with torch.inference_mode():
        for cpu in sorted(os.sched_getaffinity(0)):
            os.sched_setaffinity(0, {cpu})
            times = []
            for _ in range(40):
                start = time.thread_time()
                conv(x)
                times.append(time.thread_time() - start)
            best[cpu] = float(np.percentile(times, 10))
    return min(best, key=best.__getitem__)


def scores(pred: np.ndarray, meas: np.ndarray) -> dict[str, float]:
    rel = np.abs(pred - meas) / meas
    return {
        "bias": float(np.mean((pred - meas) / meas)),
        "within_10pct": float(np.mean(rel <= 0.10)),
        "kendall_tau": float(kendalltau(pred, meas)[0]),
        "mape": float(np.mean(rel)),
    }


def run_space(name: str, n_fit: int, n_test: int, backend: str) -> dict[str, Any]:
    ref, task = SPACES[name]
    space = make_space(ref)
    rng = np.random.default_rng(0)
    models = [space.build(space.sample(rng), task) for _ in range(n_fit + n_test)]
    fit, test = models[:n_fit], models[n_fit:]
    start = time.time()
    lp = LatencyPredictor(backend=backend)
    fit_meas = lp.fit(fit, task)  # profiled and measured in the same rounds
    fit_s = time.time() - start
    truth, ours, plain, speeds, again, predict_s, measure_s = [], [], [], [], [], [], []
    for i, m in enumerate(test):
        t0 = time.perf_counter()
        truth.append(measure_ms(m, task, backend=backend))
        measure_s.append(time.perf_counter() - t0)
        steps = ["predict", "again"] if i % 2 == 0 else ["again", "predict"]
        for step in steps:
            t0 = time.perf_counter()
            if step == "predict":
                speeds.append(lp.speed())  # predict(m, task, calibrate=True) / plain, in
                plain.append(lp.predict(m, task))  # that order; plain: at the reference speed
                ours.append(plain[-1] * speeds[-1])
                predict_s.append(time.perf_counter() - t0)
            else:
                again.append(measure_ms(m, task, backend=backend))
    y = np.array(truth)
    macs = np.array([count_macs(m, task.input_shape) for m in models], dtype=float)
    flops = np.polyval(np.polyfit(macs[:n_fit], fit_meas, 1), macs[n_fit:])
    return {
        "n_fit": n_fit,
        "n_test": n_test,
        "median_ms": float(np.median(y)),
        "predictor": scores(np.array(ours), y),
        "predictor_no_probe": scores(np.array(plain), y),
        "measured_again": scores(np.array(again), y),
        "macs_linear": scores(flops, y),
        "table_entries": len(lp.table),
        "fit_s": fit_s,
        "predict_s_median": float(np.median(predict_s)),
        "measure_s_median": float(np.median(measure_s)),
        "coef": lp.coef,
        "reference_ms": lp.reference_ms,
        "truth_ms": truth,
        "predicted_ms": ours,
        "predicted_no_probe_ms": plain,
        "speed": speeds,
        "again_ms": again,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--fit", type=int, default=30, help="archs the correction is fitted on")
    p.add_argument("--test", type=int, default=40, help="unseen archs scored per space")
    p.add_argument("--quick", action="store_true", help="15 fitted, 20 tested per space")
    p.add_argument("--space", action="append", choices=list(SPACES), help="default: all")
    p.add_argument("--backend", default="torch", choices=["torch", "cuda"])
    p.add_argument("--cpu", type=int, help="the core to pin to (default: the fastest now)")
    args = p.parse_args()
    n_fit, n_test = (15, 20) if args.quick else (args.fit, args.test)
    if args.backend == "torch":
        torch.set_num_threads(1)
        # Pinned to one core, as latency benchmarks are (taskset): on this VM the two vCPUs
        # ran the same conv 1.9x apart at times, so a thread moved between them mid-run reads
        # two latencies for one network.
        cpu = fastest_cpu() if args.cpu is None else args.cpu
        os.sched_setaffinity(0, {cpu})
        print(f"pinned to cpu {cpu}", file=sys.stderr)
    suffix = ("_quick" if args.quick else "") + ("_cuda" if args.backend == "cuda" else "")
    start, name = time.time(), f"latency_predictor{suffix}"
    for space in args.space or list(SPACES):
        merge_save(name, args.backend, space, run_space(space, n_fit, n_test, args.backend))
        print(f"  {space}: {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    where = "CPU, 1 thread" if args.backend == "torch" else torch.cuda.get_device_name()
    print(
        f"latency prediction ({where}, batch 1, {args.backend}), {n_fit} archs fitted and "
        f"{n_test} unseen tested per space ({time.time() - start:.0f} s)"
    )
    data = json.loads((RESULTS / f"{name}.json").read_text())
    rows = [row(k, data[k]) for k in SPACES if k in data]
    print(table(HEAD, rows))
    print(f"target (ours within 10% >= measured again, tau >= 0.9) on every space: {data['met']}")
    print(f"saved {RESULTS / name}.json (spaces of earlier runs kept; this run: {args.space})")


HEAD = [
    "space",
    "median ms",
    "ours within 10%",
    "again within 10%",
    "ours tau",
    "again tau",
    "ours MAPE",
    "again MAPE",
    "ours bias",
    "again bias",
    "no probe within 10%",
    "no probe tau",
    "MACs-linear within 10%",
    "met",
]


def met(r: dict[str, Any]) -> bool:
    ours, again = r["predictor"], r["measured_again"]
    return bool(ours["within_10pct"] >= again["within_10pct"] and ours["kendall_tau"] >= 0.9)


def row(name: str, r: dict[str, Any]) -> list[Any]:
    ours, again, flops = r["predictor"], r["measured_again"], r["macs_linear"]
    plain = r.get("predictor_no_probe", {})
    return [
        name,
        f"{r['median_ms']:.3f}",
        ours["within_10pct"],
        again["within_10pct"],
        ours["kendall_tau"],
        again["kendall_tau"],
        ours["mape"],
        again["mape"],
        f"{ours['bias']:+.3f}",
        f"{again['bias']:+.3f}",
        plain.get("within_10pct", "-"),
        plain.get("kendall_tau", "-"),
        flops["within_10pct"],
        "yes" if met(r) else "NO",
    ]


def merge_save(name: str, backend: str, space: str, result: dict[str, Any]) -> None:
    """Save ``result`` as ``space``'s entry of bench/results/NAME.json, keeping the other spaces'
    entries (runs of different spaces may go side by side, one per core; a lock keeps both)."""
    RESULTS.mkdir(exist_ok=True)
    with open(Path(tempfile.gettempdir()) / f"nasbeyond-bench-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = RESULTS / f"{name}.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        spaces = {k: v for k, v in old.items() if k in SPACES and "predictor" in v}
        spaces[space] = result
        ok = all(met(r) for r in spaces.values())
        save(name, {"backend": backend, "met": ok, **{k: spaces[k] for k in SPACES if k in spaces}})


if __name__ == "__main__":
    main()
