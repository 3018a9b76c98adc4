"""Does learned augmentation help? In the spirit of the AutoAugment / RandAugment tables, on
Fashion-MNIST: one small fixed CNN (the proxy task's child: 3 conv layers) trained long on a
fixed stratified subset of 4,000 training images (the size of AutoAugment's "reduced" sets),
tested on the official 10,000 test images, with

  none            no augmentation
  crop-flip       the standard: pad-and-crop + horizontal flip
  searched        our policy: REINFORCE over AutoAugment's space on a smaller proxy
                  (nasbeyond augment search), then used as is
  randaugment     RandAugment with (N, M) from our grid search on the same proxy
  cifar10-policy  the published CIFAR-10 AutoAugment policy, transferred

Every setting trains the same model with the same seeds; mean +- std test accuracy over the
seeds. The order is reported as it comes.

    python bench/augment_accuracy.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.augment.pipeline import batch_augmenter, parse_transform  # noqa: E402
from nasbeyond.config import RunConfig  # noqa: E402
from nasbeyond.data import load_dataset, stratified_split  # noqa: E402
from nasbeyond.run import Experiment  # noqa: E402
from nasbeyond.space import MacroCNNSpace  # noqa: E402
from nasbeyond.train import CHILD_ARCH, Trainer  # noqa: E402
from nasbeyond.trial import Budget  # noqa: E402

DATASET = "fashion-mnist"


def train_and_test(spec: str, seed: int, subset: int, epochs: float) -> float:
    """The child CNN trained with augmentation ``spec`` on ``subset`` training images."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    data = load_dataset(DATASET)
    keep, _ = stratified_split(data.y_train.numpy(), 1 - subset / len(data.y_train), seed=0)
    idx = torch.from_numpy(np.sort(keep))
    trainer = Trainer(MacroCNNSpace(), dataset=DATASET, optimizer="adam", batch_size=64)
    model = MacroCNNSpace().build(CHILD_ARCH, data.task)
    augment = batch_augmenter(parse_transform(spec, seed), data)
    trainer.fit(
        model, data.x_train[idx], data.y_train[idx], Budget(epochs=epochs), seed, augment=augment
    )
    return trainer.accuracy(model.eval(), data.x_test, data.y_test)


def search(cfg: dict[str, Any]) -> dict[str, Any]:
    exp = Experiment(RunConfig.from_dict(cfg))
    best = exp.run()
    assert best is not None
    return {"arch": best.arch, "val_acc": best.reward, "trials": exp.store.count_finished()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    start = time.time()
    subset, epochs, proxy = (2000, 3, 600) if args.quick else (4000, 40, 2000)
    trials = 6 if args.quick else 24
    tmp = Path(tempfile.mkdtemp(prefix="augacc"))
    proxy_cfg = {
        "dataset": DATASET,
        "evaluator": "augment-train",
        "evaluator_args": {"subset": proxy},
        "epochs": 3 if args.quick else 6,
        "optimizer": "adam",
        "batch_size": 64,
        "workers": 2,
        "seed": 0,
    }
    policy = search(
        {
            **proxy_cfg,
            "space": "augment-policy",
            "strategy": "reinforce",
            "trials": trials,
            "run_dir": str(tmp / "policy"),
        }
    )
    policy_file = tmp / "policy.json"
    policy_file.write_text(json.dumps(policy["arch"]))
    grid_args = {"ns": [1, 2, 3], "ms": [3, 6, 9]}
    grid = search(
        {
            **proxy_cfg,
            "space": "randaugment",
            "space_args": grid_args,
            "strategy": "grid",
            "trials": 9,
            "run_dir": str(tmp / "grid"),
        }
    )
    n, m = grid["arch"]["n"], grid["arch"]["m"]
    settings = {
        "none": "none",
        "crop-flip": "crop-flip",
        "searched": f"autoaugment:{policy_file}",
        f"randaugment N={n} M={m}": f"randaugment:{n},{m}",
        "cifar10-policy": "autoaugment:cifar10",
    }
    jobs = [(name, spec, seed) for name, spec in settings.items() for seed in range(args.seeds)]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(train_and_test, spec, seed, subset, epochs) for _, spec, seed in jobs
        ]
        accs = [f.result() for f in futures]
    results: dict[str, Any] = {}
    for (name, _, _), acc in zip(jobs, accs, strict=True):
        results.setdefault(name, []).append(acc)
    rows = [
        [k, float(np.mean(v)), float(np.std(v)), " ".join(f"{a:.4f}" for a in v)]
        for k, v in results.items()
    ]
    print(
        f"Fashion-MNIST, fixed 3-layer CNN, {subset} training images, {epochs} epochs, "
        f"{args.seeds} seeds; test accuracy on 10,000 ({time.time() - start:.0f} s)"
    )
    print(table(["augmentation", "mean", "std", "per seed"], rows))
    print(f"searched policy ({policy['trials']} proxy trials, proxy val {policy['val_acc']:.4f}):")
    print("  " + json.dumps(policy["arch"]["policy"]))
    print(f"RandAugment grid best: N={n} M={m} (proxy val {grid['val_acc']:.4f})")
    out = {
        "settings": {
            k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v}
            for k, v in results.items()
        },
        "searched_policy": policy["arch"]["policy"],
        "randaugment": {"n": n, "m": m},
        "protocol": {
            "dataset": DATASET,
            "subset": subset,
            "epochs": epochs,
            "seeds": args.seeds,
            "proxy_subset": proxy,
            "policy_trials": trials,
        },
    }
    print(f"saved {save('augment_accuracy', out)}")


if __name__ == "__main__":
    main()
