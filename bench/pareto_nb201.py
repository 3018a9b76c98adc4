"""Multi-objective search on NAS-Bench-201: accuracy (12-epoch CIFAR-10 validation) against
measured latency on a device, from the benchmark's tables (HW-NAS-Bench / HELP latencies).

After K queries, the hypervolume of the front found divided by the hypervolume of the true
front of all 15,625 archs (reference point: the worst accuracy and the worst latency over the
whole space), mean +- std over runs, for our NSGA-II-style evolution and Optuna's NSGA-II at the
same number of queries.

    python bench/pareto_nb201.py [--runs 50] [--quick]   # --quick: 10 runs
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.evaluate.nb201_table import NB201TableEvaluator, load_table  # noqa: E402
from nasbeyond.evaluate.pareto import hypervolume_2d, pareto_front  # noqa: E402
from nasbeyond.run import MemoryStore, run  # noqa: E402
from nasbeyond.space import NB201Space  # noqa: E402
from nasbeyond.strategy import NSGA2  # noqa: E402

DEVICES = ("pixel3", "raspi4", "titan_rtx_1")
KS = (100, 300, 1000)


@cache
def reference(device: str) -> tuple[tuple[float, float], float]:
    t = load_table()
    acc, lat = t.cols["cifar10_valid_acc_12ep"] / 100, t.cols[f"latency_ms_{device}"]
    ref = (float(acc.min()), float(-lat.max()))
    pts = list(zip(acc.tolist(), (-lat).tolist(), strict=True))
    return ref, hypervolume_2d([pts[i] for i in pareto_front(pts)], ref)


def ours(device: str, seed: int) -> list[tuple[float, float]]:
    ev = NB201TableEvaluator(latency_device=device)
    store = MemoryStore()  # benchmark mode: the one loop, nothing written to disk
    run(NB201Space(), NSGA2(NB201Space(), seed=seed), ev, store=store, trials=max(KS))
    return [(t.metrics["val_acc"], -t.metrics["latency_ms"]) for t in store.trials()]


def optuna_nsga2(device: str, seed: int) -> list[tuple[float, float]]:
    import optuna

    from nasbeyond.trial import Budget, Context

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, ev = NB201Space(), NB201TableEvaluator(latency_device=device)
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=seed)
    )
    out = []
    for i in range(max(KS)):
        trial = study.ask()
        arch = space.from_choices(
            [
                d.choices.index(trial.suggest_categorical(d.name, list(d.choices)))
                for d in space.decisions()
            ]
        )
        r = ev(arch, Budget(), Context(i, seed))
        study.tell(trial, [r.metrics["val_acc"], r.metrics["latency_ms"]])
        out.append((r.metrics["val_acc"], -r.metrics["latency_ms"]))
    return out


def one(args: tuple[str, str, int]) -> list[float]:
    method, device, seed = args
    pts = (ours if method == "ours" else optuna_nsga2)(device, seed)
    ref, true = reference(device)
    return [hypervolume_2d(pts[:k], ref) / true for k in KS]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--quick", action="store_true", help="10 runs")
    args = p.parse_args()
    runs = 10 if args.quick else args.runs
    start = time.time()
    results: dict[str, Any] = {}
    with mp.get_context("spawn").Pool(2) as pool:
        for device in DEVICES:
            results[device] = {str(k): {} for k in KS}
            for method in ("ours", "optuna-nsga2"):
                hv = np.array(pool.map(one, [(method, device, s) for s in range(runs)]))
                for j, k in enumerate(KS):
                    results[device][str(k)][method] = [
                        round(float(hv[:, j].mean()), 4),
                        round(float(hv[:, j].std()), 4),
                    ]
    rows = [
        [
            d,
            k,
            *(
                f"{results[d][str(k)][m][0]:.4f}+-{results[d][str(k)][m][1]:.4f}"
                for m in ("ours", "optuna-nsga2")
            ),
        ]
        for d in DEVICES
        for k in KS
    ]
    print(
        f"NAS-Bench-201 accuracy vs latency: hypervolume / true front's, {runs} runs "
        f"({time.time() - start:.0f} s wall)"
    )
    print(table(["device", "K queries", "ours (nsga2)", "optuna NSGA-II"], rows))
    out = save("pareto_nb201", {**results, "_runs": runs})
    print(f"saved {out}")


if __name__ == "__main__":
    main()
