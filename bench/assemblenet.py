"""AssembleNet-style connectivity search on moving digits (issue 19): is a searched multi-stream
network better than the hand-made ones at an equal training budget?

Three networks of the ``assemblenet`` space (Ryoo et al. 2019) on ``moving-digits`` (MNIST
digits moving on a canvas, 16 classes: direction x speed x bounce-or-wrap at the edge;
streams: frames, frame differences):

- single-stream: frames only, one (2+1)D block per level (``single_stream()``), and the
  same on the frame differences only (``single_stream(stream=1)``);
- two-stream late fusion: one tower per stream, class scores summed (``late_fusion()``), the
  hand-made peer; also at twice the channels (32), about as large as a searched network;
- searched: the best arch of aging evolution with connection-weight learning (the
  ``video-train`` evaluator reports the learned weights, the space prunes the weak connections
  of every member before it breeds), searched once (seed 0), each trial trained as long as the
  final trainings but on the training split less its validation share (15%).

Each is then trained from scratch for the same number of epochs on the whole training split
with 3 seeds and scored on the test split (mean +- std). The search's own cost is reported
beside it and is not part of the equal budget. One torch thread (the machine is shared).

    python bench/assemblenet.py --quick     # ~15 min on a loaded 2-core machine
    python bench/assemblenet.py             # larger data, longer training, more trials
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import save, table  # noqa: E402

from nasbeyond.arch import Arch  # noqa: E402
from nasbeyond.evaluate import count_macs, count_params  # noqa: E402
from nasbeyond.registry import create  # noqa: E402
from nasbeyond.run import InlineExecutor, MemoryStore, run  # noqa: E402
from nasbeyond.space.assemblenet import AssembleNetSpace, late_fusion, single_stream  # noqa: E402
from nasbeyond.train.video_trainer import VideoTrainer  # noqa: E402
from nasbeyond.trial import Budget  # noqa: E402

LABELS = "direction+speed+bounce"

# 16 classes (direction x speed x bounce-or-wrap) and two epochs: with direction x speed alone
# and four epochs every network scores above 99% and nothing is told apart.
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "data": {"train": 640, "test": 400, "frames": 8, "size": 32, "labels": LABELS},
        "epochs": 2,  # every training: each search trial, and each network and seed after
        "search_trials": 20,
        "population": 6,
        "sample": 3,
    },
    "full": {
        "data": {"train": 1600, "test": 800, "frames": 8, "size": 32, "labels": LABELS},
        "epochs": 3,
        "search_trials": 40,
        "population": 10,
        "sample": 3,
    },
}
SEEDS = (0, 1, 2)


def cpu_s() -> float:
    return time.process_time()


def search(space: AssembleNetSpace, trainer: VideoTrainer, s: dict[str, Any]) -> dict[str, Any]:
    """Aging evolution with connection-weight learning; returns the best arch and what the
    Lamarckian step pruned."""
    strategy = create(
        "strategy",
        "evolution",
        space=space,
        seed=0,
        population_size=s["population"],
        sample_size=s["sample"],
    )
    store = MemoryStore()
    start = cpu_s()
    best = run(
        space,
        strategy,
        trainer,
        store=store,
        trials=s["search_trials"],
        executor=InlineExecutor(),
        budget=Budget(epochs=s["epochs"]),
        seed=0,
        progress=True,
    )
    trials = sorted(store.trials(), key=lambda t: t.id)
    pruned = []
    for t in trials:
        if t.status == "ok":
            kept = space.after_training(t.arch, t.metrics)
            pruned.append(
                sum(len(b["inputs"]) for b in t.arch["blocks"])
                - sum(len(b["inputs"]) for b in kept["blocks"])
            )
    assert best is not None, "no search trial succeeded"
    return {
        "best_arch": best.arch,
        "best_val_acc": best.reward,
        "trials": [[t.id, t.status, t.reward, space.describe(t.arch)] for t in trials],
        "pruned_per_trial": pruned,
        "cpu_s": round(cpu_s() - start, 1),
    }


def train_and_test(
    space: AssembleNetSpace, trainer: VideoTrainer, arch: Arch, epochs: float, seed: int
) -> dict[str, Any]:
    """Train ``arch`` from scratch on the whole training split; test accuracy."""
    d = trainer.data()
    torch.manual_seed(seed)
    model = trainer.build_model(arch, d.task)
    start = cpu_s()
    assert isinstance(d.x_train, torch.Tensor) and isinstance(d.x_test, torch.Tensor)
    trainer.fit(model, d.x_train, d.y_train, Budget(epochs=epochs), seed)
    return {
        "test_acc": trainer.accuracy(model, d.x_test, d.y_test),
        "train_cpu_s": round(cpu_s() - start, 1),
        "params": count_params(model),
        "macs": count_macs(model, d.task.input_shape),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller data and budgets")
    args = p.parse_args()
    torch.set_num_threads(1)
    mode = "quick" if args.quick else "full"
    s = SETTINGS[mode]
    space = AssembleNetSpace()
    trainer = VideoTrainer(space=space, dataset_args=s["data"], epochs=s["epochs"], device="cpu")
    wall = time.time()
    found = search(space, trainer, s)
    print(f"search: best val {found['best_val_acc']:.3f} in {found['cpu_s']} CPU-s", flush=True)
    print(f"  {space.describe(found['best_arch'])}", flush=True)
    nets = {
        "single-stream (frames)": single_stream(),
        "single-stream (differences)": single_stream(stream=1),
        "two-stream late fusion": late_fusion(),
        "two-stream late fusion, 32 ch": late_fusion(channels=32),
        "searched connectivity": found["best_arch"],
    }
    results: dict[str, list[dict[str, Any]]] = {}
    for name, arch in nets.items():
        results[name] = [train_and_test(space, trainer, arch, s["epochs"], k) for k in SEEDS]
        accs = [r["test_acc"] for r in results[name]]
        print(f"{name}: {np.mean(accs):.3f} +- {np.std(accs):.3f} {accs}", flush=True)
    peer = float(np.mean([r["test_acc"] for r in results["two-stream late fusion"]]))
    rows = []
    summary = {}
    for name, rs in results.items():
        accs = [r["test_acc"] for r in rs]
        mean, std = float(np.mean(accs)), float(np.std(accs))
        summary[name] = {
            "test_acc_mean": mean,
            "test_acc_std": std,
            "test_acc": accs,
            "vs_late_fusion": mean / peer if peer else None,
            "params": rs[0]["params"],
            "macs": rs[0]["macs"],
            "train_cpu_s_mean": float(np.mean([r["train_cpu_s"] for r in rs])),
            "arch": nets[name],
        }
        rows.append(
            [
                name,
                f"{mean:.3f} ± {std:.3f}",
                f"{mean / peer:.2f}x" if peer else "-",
                f"{rs[0]['params']:,}",
                f"{rs[0]['macs'] / 1e6:.1f}M",
                f"{summary[name]['train_cpu_s_mean']:.0f}",
            ]
        )
    head = ["network", "test acc (3 seeds)", "vs late fusion", "params", "MACs", "train CPU-s"]
    print(table(head, rows))
    print(
        f"equal budget: {s['epochs']} epochs on {s['data']['train']} clips each; search: "
        f"{s['search_trials']} trials of {s['epochs']} epochs, {found['cpu_s']} CPU-s; "
        f"connections pruned per trial: {found['pruned_per_trial']}"
    )
    path = save(
        "assemblenet",
        {
            "mode": mode,
            "settings": s,
            "seeds": list(SEEDS),
            "results": summary,
            "search": found,
            "wall_s": round(time.time() - wall, 1),
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
