"""Does a searched feature pyramid beat the hand-made FPN? NAS-FPN (Ghiasi et al., CVPR 2019)
scaled down to 2 CPU cores: the ``nas-fpn`` space (3 merging cells over P3-P5, the default,
which holds the FPN) with its FCOS-style detector, on ``digit-scenes`` (real MNIST digits of
8-48 px pasted on 64 px canvases with clutter).

1. Two short searches through the one loop (``run``) with the ``detection-train`` evaluator
   (reward: validation COCO AP from pycocotools): aging evolution and REINFORCE.
2. The hand-made FPN (``fpn_arch()``, the peer) and each search's best pyramid retrained from
   scratch at equal budget (same epochs, batch, optimizer, data) on the whole training split and
   scored on the test split (digits never seen in training), over 3 seeds: mean +- std AP.
3. On the FPN detector: the learned detection augmentation policy ``detection_v0`` (Zoph et
   al. 2019) against none, same budget and seeds: with the reference code's pixel magnitudes
   (``pixel_scale=1.0``, set for 640-px images) and scaled to the 64-px scenes (``"auto"``).

    python bench/nas_fpn.py [--quick] [--workers 2]

Writes bench/results/nas_fpn.json. The machine running it is shared: the seconds reported are
wall-clock under that load; AP does not depend on it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.registry import create  # noqa: E402
from nasbeyond.run import InlineExecutor, MemoryStore, run  # noqa: E402
from nasbeyond.space import NasFPNSpace, fpn_arch  # noqa: E402
from nasbeyond.train.detection_trainer import DetectionTrainer  # noqa: E402
from nasbeyond.trial import Budget  # noqa: E402

STRATEGIES = {
    "evolution": {"population_size": 4, "sample_size": 2},
    "reinforce": {},
}


def trainer(
    settings: dict[str, Any], augment: str | None = None, pixel_scale: float | str = 1.0
) -> DetectionTrainer:
    return DetectionTrainer(
        NasFPNSpace(),
        dataset="digit-scenes",
        dataset_args=dict(settings["data"]),
        batch_size=settings["batch_size"],
        optimizer="adam",
        lr=settings["lr"],
        augment=augment,
        pixel_scale=pixel_scale,
    )


def search(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    """One short search; its trials and best arch."""
    torch.set_num_threads(1)
    space = NasFPNSpace()
    strategy = create("strategy", name, space=space, seed=0, **STRATEGIES[name])
    store = MemoryStore()
    start = time.perf_counter()
    best = run(
        space,
        strategy,
        trainer(settings),
        store=store,
        trials=settings["trials"],
        executor=InlineExecutor(),
        budget=Budget(epochs=settings["search_epochs"]),
    )
    assert best is not None and best.reward is not None
    trials = [
        {"id": t.id, "arch": t.arch, "status": t.status, "AP": t.reward, "error": t.error}
        for t in store.trials()
    ]
    return {
        "strategy": name,
        "best_arch": best.arch,
        "best_val_AP": best.reward,
        "best_is_fpn": best.arch == fpn_arch(),
        "trials": trials,
        "wall_s": round(time.perf_counter() - start, 1),
    }


def final(
    arch: dict[str, Any],
    augment: str | None,
    seed: int,
    settings: dict[str, Any],
    pixel_scale: float | str = 1.0,
) -> dict:
    """Retrain ``arch`` from scratch on the whole training split; test COCO metrics."""
    torch.set_num_threads(1)
    tr = trainer(settings, augment, pixel_scale)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        weights = tr.retrain(arch, settings["final_epochs"], seed, d)
        metrics = tr.test_metrics(arch, weights)
    return {**metrics, "wall_s": round(time.perf_counter() - start, 1)}


def mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer images, trials and epochs")
    p.add_argument("--workers", type=int, default=2, help="processes (each one thread)")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    settings: dict[str, Any] = {  # --quick: 45 min on 2 cores at a load average of 8-13
        "data": {"size": 64, "train_images": 1000, "test_images": 300},
        "batch_size": 16,
        "lr": 1e-2,  # AdamW; on the FPN (20 epochs) 3e-3 gave 0.087 validation AP, 1e-2 0.141
        "trials": 8,
        "search_epochs": 5.0,
        "final_epochs": 20.0,
    }
    if not args.quick:
        settings.update(
            data={"size": 64, "train_images": 2000, "test_images": 500},
            trials=16,
            search_epochs=8.0,
            final_epochs=30.0,
        )
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()
    ctx = get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
        searches = list(pool.map(search, STRATEGIES, [settings] * len(STRATEGIES)))
        contenders = {"FPN (hand-made)": fpn_arch()}
        for s in searches:
            contenders[f"best of {s['strategy']}"] = s["best_arch"]
        jobs: list[tuple[str, dict[str, Any], str | None, float | str, int]] = [
            (name, arch, None, 1.0, seed) for name, arch in contenders.items() for seed in seeds
        ]
        for label, px in (("FPN + detection_v0", 1.0), ("FPN + detection_v0, scaled", "auto")):
            jobs += [(label, fpn_arch(), "detection_v0", px, seed) for seed in seeds]
        futures = [pool.submit(final, a, aug, seed, settings, px) for _, a, aug, px, seed in jobs]
        results = [f.result() for f in futures]

    space = NasFPNSpace()
    rows: dict[str, dict[str, Any]] = {}
    for (name, arch, aug, px, seed), res in zip(jobs, results, strict=True):
        row = rows.setdefault(
            name,
            {
                "arch": arch,
                "describe": space.describe(arch),
                "augment": aug,
                "pixel_scale": px if aug else None,
                "runs": [],
            },
        )
        row["runs"].append({"seed": seed, **res})
    peer = mean_std([r["AP"] for r in rows["FPN (hand-made)"]["runs"]])[0]
    printed = []
    for name, row in rows.items():
        ap, ap_sd = mean_std([r["AP"] for r in row["runs"]])
        ap50, ap50_sd = mean_std([r["AP50"] for r in row["runs"]])
        row.update(AP_mean=ap, AP_std=ap_sd, AP50_mean=ap50, AP50_std=ap50_sd)
        printed.append(
            [
                name,
                f"{ap:.4f} ± {ap_sd:.4f}",
                f"{ap50:.4f} ± {ap50_sd:.4f}",
                f"{ap / peer:.2f}" if peer > 0 else "-",
                row["describe"],
            ]
        )
    print(table(["detector", "test AP", "test AP50", "AP / FPN", "pyramid"], printed))
    for s in searches:
        print(
            f"{s['strategy']}: {len(s['trials'])} trials in {s['wall_s']:.0f} s, best val AP "
            f"{s['best_val_AP']:.4f}{' (the FPN itself)' if s['best_is_fpn'] else ''}"
        )
    wall = time.perf_counter() - t0
    print(f"wall {wall:.0f} s on a shared machine ({args.workers} processes, 1 thread each)")
    path = save(
        "nas_fpn",
        {
            "quick": args.quick,
            "settings": settings,
            "seeds": seeds,
            "searches": searches,
            "rows": rows,
            "wall_s": round(wall, 1),
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
