"""Throughput of the executors on this machine: finished trials per minute with 1 and 2 local
worker processes and with Ray (2 tasks in flight) on the same cores, on a real training
workload; and each executor's own cost per trial (start-up aside) on a no-op evaluator.

    python bench/scale.py [--trials 40] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.run import InlineExecutor, LocalExecutor, SQLiteStore, run  # noqa: E402
from nasbeyond.run.executor import Executor  # noqa: E402
from nasbeyond.space import MLPSpace  # noqa: E402
from nasbeyond.strategy import RandomSearch  # noqa: E402
from nasbeyond.testing import ToyEvaluator  # noqa: E402
from nasbeyond.train import Trainer  # noqa: E402


def make(kind: str) -> Executor:
    if kind == "inline":
        return InlineExecutor()
    if kind.startswith("local"):
        return LocalExecutor(workers=int(kind[-1]), threads=1)
    from nasbeyond.run.ray_executor import RayExecutor

    return RayExecutor(workers=2, num_cpus=2, cpus_per_trial=1)


def timed(kind: str, evaluator: Any, trials: int, tmp: Path) -> tuple[float, float]:
    """Wall seconds of a whole run, and seconds from the first finished trial to the last."""
    space = MLPSpace()
    done: list[float] = []
    start = time.perf_counter()
    run(
        space,
        RandomSearch(space, seed=0),
        evaluator,
        store=SQLiteStore(tmp / f"{kind}-{trials}"),
        trials=trials,
        executor=make(kind),
        progress=lambda *_: done.append(time.perf_counter()),
    )
    return time.perf_counter() - start, done[-1] - done[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--quick", action="store_true", help="12 trials")
    args = p.parse_args()
    n = 12 if args.quick else args.trials
    work = Trainer(MLPSpace(), dataset="digits", epochs=12, batch_size=16)
    kinds = ["local-1", "local-2"]
    ray_init = 0.0
    try:
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        ray_init = time.perf_counter() - t0
        kinds.append("ray-2")
    except ImportError:
        print("ray not installed (pip install nasbeyond[ray]): skipping the ray rows")
    results: dict[str, dict[str, float]] = {}
    noop = 200
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for kind in kinds:
            wall, _ = timed(kind, work, n, tmp)
            total, steady = timed(kind, ToyEvaluator(), noop, tmp)
            results[kind] = {
                "trials_per_min": 60 * n / wall,
                "startup_s": total - steady + (ray_init if kind == "ray-2" else 0.0),
                "overhead_ms_per_trial": 1000 * steady / (noop - 1),
            }
    base = results["local-1"]["trials_per_min"]
    print(
        f"executors on this machine: {n} training trials (MLP on digits, 12 epochs; start-up "
        f"included) and {noop} no-op trials each; ray's start-up includes ray.init"
    )
    print(
        table(
            ["executor", "trials/min", "speed-up", "start-up s", "overhead ms/trial"],
            [
                [
                    k,
                    r["trials_per_min"],
                    r["trials_per_min"] / base,
                    r["startup_s"],
                    r["overhead_ms_per_trial"],
                ]
                for k, r in results.items()
            ],
        )
    )
    out = save("scale", {**results, "_trials": n})
    print(f"saved {out}")


if __name__ == "__main__":
    main()
