"""The trainer's throughput (training images per second) beside a bare hand-written PyTorch loop:
same model, data, batch size, optimizer, schedule and threads, in one run.

    python bench/trainer.py [--epochs 2] [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.space import MacroCNNSpace  # noqa: E402
from nasbeyond.train import Trainer  # noqa: E402
from nasbeyond.trial import Budget  # noqa: E402

ARCH = {
    "layers": [
        {"kh": 3, "kw": 3, "filters": 36, "stride": 2, "skips": []},
        {"kh": 3, "kw": 3, "filters": 48, "stride": 1, "skips": []},
        {"kh": 5, "kw": 5, "filters": 64, "stride": 2, "skips": [0]},
    ]
}


def bare(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: float, bs: int) -> None:
    """What a user writes by hand: shuffle, slice, step, cosine schedule."""
    opt = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    steps_per_epoch = math.ceil(len(x) / bs)
    total = round(epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    model.train()
    step = 0
    while step < total:
        perm = torch.randperm(len(x))
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step == total:
                break


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="0.5 epoch, 2 repeats")
    args = p.parse_args()
    epochs, repeats = (0.5, 2) if args.quick else (args.epochs, args.repeats)
    torch.set_num_threads(1)
    space = MacroCNNSpace()
    trainer = Trainer(space, dataset="mnist5k", batch_size=32, optimizer="sgd", lr=0.05)
    s = trainer.splits()
    n = round(epochs * len(s.x_train))
    times: dict[str, list[float]] = {"nasbeyond": [], "bare": []}
    for r in range(repeats):  # interleaved, so drift in machine load hits both
        for name in times:
            torch.manual_seed(r)
            model = space.build(ARCH, trainer.task())
            start = time.perf_counter()
            if name == "nasbeyond":
                trainer.fit(model, s.x_train, s.y_train, Budget(epochs=epochs), seed=r)
            else:
                bare(model, s.x_train, s.y_train, epochs, 32)
            times[name].append(time.perf_counter() - start)
    ours, ref = n / min(times["nasbeyond"]), n / min(times["bare"])
    print(
        f"training throughput, mnist5k 28x28, macro-cnn 3 layers, batch 32, 1 thread, "
        f"{epochs:g} epochs, best of {repeats}"
    )
    print(
        table(
            ["impl", "img/s", "ratio"],
            [["nasbeyond", ours, ours / ref], ["bare PyTorch loop", ref, 1.0]],
        )
    )
    out = save("trainer", {"ours_img_s": ours, "bare_img_s": ref, "ratio": ours / ref})
    print(f"saved {out}")


if __name__ == "__main__":
    main()
