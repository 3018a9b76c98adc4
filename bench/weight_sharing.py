"""Weight sharing against a standalone search: the CPU-seconds ENAS, DARTS and SPOS need to find
an arch as good as regularized evolution's (issue 15, part 8).

One space and one dataset for everyone: NB201 cells (C=8, N=1: 3 cells and 2 residual
reductions) on MNIST-5k at 28x28 (3,400 train / 600 validation / 1,000 test). The peer is our
registered ``evolution`` (aging evolution, Real et al. 2019) on the one loop with the ``train``
evaluator: every trial trains its arch from scratch for half an epoch and is scored on the
validation split. Each one-shot method trains one supernet (``search_supernet``) and derives
one arch. Every arch a search returns is then retrained from scratch the same way (train +
validation split, ``RETRAIN_EPOCHS`` epochs, seed of the search) and tested on the test split:
that is its *retrained accuracy*.

Reported per method (mean ± std over the seeds): the search's CPU-seconds (``getrusage`` of
the process and its children, user + system; retraining not included), the retrained test
accuracy, whether it is within 1 point of evolution's, and the speedup: evolution's
CPU-seconds until its best-so-far validation accuracy first came within 1 point of its final
best, divided by the method's CPU-seconds (and, beside it, the whole evolution search's
CPU-seconds divided by the method's). Evolution's best-so-far curve (CPU-s, validation
accuracy) is printed and saved so the reader sees where it first came within 1 point.

The runs go to a pool of 3 processes, one thread each; CPU-seconds do not depend on how
loaded the machine is, wall time does.

    python bench/weight_sharing.py            # 3 seeds (about 400 CPU-s)
    python bench/weight_sharing.py --quick    # 1 seed, tiny budgets (a smoke run)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, save, table  # noqa: E402

DATASET = "mnist5k"
SPACE_ARGS = {"channels": 8, "cells": 1}
EVOLUTION = {"trials": 10, "population_size": 4, "sample_size": 2, "epochs": 0.5}
RETRAIN_EPOCHS = 1.0
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "enas": (
        "enas",
        {
            "epochs": 2,
            "steps_per_epoch": 30,
            "controller_steps": 20,
            "final_samples": 6,
            "recalibrate": 10,
        },
    ),
    "spos": (
        "spos",
        {
            "epochs": 2,
            "steps_per_epoch": 30,
            "trials": 15,
            "population_size": 5,
            "sample_size": 2,
            "recalibrate": 10,
        },
    ),
    "darts": ("darts", {"epochs": 2, "steps_per_epoch": 15, "order": 1, "guard": "darts-"}),
}
QUICK_EVOLUTION = {"trials": 3, "population_size": 2, "sample_size": 2, "epochs": 0.05}
QUICK_METHOD = {"epochs": 1, "steps_per_epoch": 2}
QUICK_EXTRA = {"enas": {"controller_steps": 2, "final_samples": 2}, "spos": {"trials": 2}}
QUICK_RETRAIN = 0.05


def cpu_seconds() -> float:
    """User + system CPU-seconds of this process and its finished children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def one_run(label: str, seed: int, quick: bool) -> dict[str, Any]:
    """One search (evolution or a one-shot method) and the retraining of its arch."""
    import torch

    from nasbeyond.registry import create
    from nasbeyond.run import MemoryStore, run
    from nasbeyond.run.oneshot import search_supernet
    from nasbeyond.space.nb201 import NB201Space, to_arch_str
    from nasbeyond.train import Trainer

    torch.set_num_threads(1)
    space = NB201Space(**SPACE_ARGS)
    evo = QUICK_EVOLUTION if quick else EVOLUTION
    trainer = Trainer(space, dataset=DATASET, device="cpu", epochs=evo["epochs"])
    trainer.splits()  # load the data before the clock starts, as every method must
    start, wall = cpu_seconds(), time.perf_counter()
    out: dict[str, Any] = {"label": label, "seed": seed}
    if label == "evolution":
        strategy = create(
            "strategy",
            "evolution",
            space=space,
            seed=seed,
            population_size=evo["population_size"],
            sample_size=evo["sample_size"],
        )
        curve: list[list[float]] = []

        def progress(trial: Any, finished: int, total: int, best: Any) -> None:
            if best is not None:
                curve.append([cpu_seconds() - start, float(best.reward)])

        best = run(space, strategy, trainer, store=MemoryStore(), trials=evo["trials"],
                   seed=seed, progress=progress)  # fmt: skip
        arch = best.arch
        out["curve"] = curve
        out["best_val_acc"] = float(best.reward)
        final = curve[-1][1]
        out["cpu_s_to_within_1"] = next(c for c, acc in curve if acc >= final - 0.01)
    else:
        name, kwargs = METHODS[label]
        if quick:
            kwargs = {**kwargs, **QUICK_METHOD, **QUICK_EXTRA.get(label, {})}
        method = create("oneshot", name, seed=seed, **kwargs)
        arch = search_supernet(space, method, trainer, MemoryStore(), seed=seed, threads=1)
    out["cpu_s"] = cpu_seconds() - start
    out["wall_s"] = time.perf_counter() - wall
    out["arch"] = to_arch_str(arch)
    with tempfile.TemporaryDirectory() as tmp:
        weights = trainer.retrain(arch, QUICK_RETRAIN if quick else RETRAIN_EPOCHS, seed, tmp)
        out["retrained_acc"] = 100 * trainer.test(arch, weights)
    print(
        f"{label} seed {seed}: {out['arch']}  {out['cpu_s']:.0f} CPU-s  "
        f"retrained {out['retrained_acc']:.2f}",
        flush=True,
    )
    return out


def _one_run(args: tuple[str, int, bool]) -> dict[str, Any]:
    return one_run(*args)


def mean_std(values: list[float]) -> list[float]:
    return [statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 seed, tiny budgets")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--workers", type=int, default=3, help="parallel processes (one thread each)")
    args = p.parse_args()
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    labels = ["darts", "evolution", "spos", "enas"]  # longest first
    jobs = [(label, seed, args.quick) for label in labels for seed in seeds]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        runs = pool.map(_one_run, jobs, chunksize=1)
    by: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    for r in runs:
        by[r["label"]].append(r)

    evo = by["evolution"]
    evo_acc = mean_std([r["retrained_acc"] for r in evo])
    evo_cpu = statistics.fmean(r["cpu_s"] for r in evo)
    evo_reach = statistics.fmean(r["cpu_s_to_within_1"] for r in evo)
    results: dict[str, Any] = {
        "evolution": {
            "cpu_s": evo_cpu,
            "cpu_s_to_within_1": evo_reach,
            "retrained_acc": evo_acc,
            "speedup_vs_standalone": 1.0,
            "curves": {str(r["seed"]): r["curve"] for r in evo},
            "runs": evo,
        }
    }
    rows = [
        ["evolution (peer)", f"{evo_cpu:.0f}", f"{evo_acc[0]:.2f}±{evo_acc[1]:.2f}", "-", "1", "1"]
    ]
    for label in ("enas", "darts", "spos"):
        rs = by[label]
        acc = mean_std([r["retrained_acc"] for r in rs])
        cpu = statistics.fmean(r["cpu_s"] for r in rs)
        within = acc[0] >= evo_acc[0] - 1.0
        results[label] = {
            "cpu_s": cpu,
            "retrained_acc": acc,
            "within_1_point": within,
            "speedup_vs_standalone": evo_reach / cpu,
            "speedup_vs_whole_standalone": evo_cpu / cpu,
            "runs": rs,
        }
        rows.append(
            [
                label,
                f"{cpu:.0f}",
                f"{acc[0]:.2f}±{acc[1]:.2f}",
                "yes" if within else "no",
                f"{evo_reach / cpu:.1f}",
                f"{evo_cpu / cpu:.1f}",
            ]
        )
    nb201 = RESULTS / "weight_sharing_nb201.json"
    if nb201.exists():  # the NB201 referee's rows (bench/weight_sharing_nb201.py), carried over
        results["nb201"] = json.loads(nb201.read_text()).get("nb201", {})
    results["setup"] = {
        "dataset": DATASET,
        "space": "nb201",
        "space_args": SPACE_ARGS,
        "evolution": QUICK_EVOLUTION if args.quick else EVOLUTION,
        "methods": METHODS,
        "retrain_epochs": QUICK_RETRAIN if args.quick else RETRAIN_EPOCHS,
        "seeds": seeds,
        "quick": args.quick,
    }
    name = "weight_sharing_quick" if args.quick else "weight_sharing"
    path = save(name, results)
    head = ["method", "search CPU-s", "retrained test acc", "within 1 pt", "speedup",
            "vs whole evolution"]  # fmt: skip
    print(table(head, rows))
    print(
        f"evolution: {len(evo[0]['curve'])} trials; best-so-far first within 1 point of its "
        f"final best after {evo_reach:.0f} of {evo_cpu:.0f} CPU-s (mean over seeds)"
    )
    for r in evo:
        pts = "  ".join(f"{c:.0f}s:{100 * a:.1f}" for c, a in r["curve"])
        print(f"  seed {r['seed']} best-so-far val acc: {pts}")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
