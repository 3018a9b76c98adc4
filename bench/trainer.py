"""The trainer's throughput (training images per second) beside a bare hand-written PyTorch loop:
same model, data, batch size, optimizer, schedule and threads, in one run. On the CPU (1 thread)
always; where torch sees a CUDA GPU, also on it, fp32 and bf16 (autocast), batch 32 and 256.

    python bench/trainer.py [--epochs 2] [--quick] [--no-cuda]

``compare`` is also what bench/gpu.py runs.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

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


def bare(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: float,
    bs: int,
    precision: str = "fp32",
    channels_last: bool = False,
) -> None:
    """What a user writes by hand: shuffle (on the data's device), slice, step, cosine schedule;
    bf16 under autocast and channels-last as PyTorch's recipes have them. The model is on
    ``x``'s device."""
    if channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    opt = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    steps_per_epoch = math.ceil(len(x) / bs)
    total = round(epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    model.train()
    step = 0
    while step < total:
        perm = torch.randperm(len(x), device=x.device)
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            xb = x[idx].contiguous(memory_format=torch.channels_last) if channels_last else x[idx]
            with torch.autocast(x.device.type, torch.bfloat16, enabled=precision == "bf16"):
                loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step == total:
                break


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare(
    device: str,
    batch: int,
    precision: str,
    epochs: float,
    repeats: int,
    channels_last: bool = False,
) -> dict[str, Any]:
    """Images per second (CPU: per CPU-second) of ``Trainer.fit`` and of ``bare`` on mnist5k
    (3,400 training images, 28x28) with the macro-cnn ARCH, best of ``repeats`` interleaved
    runs after one untimed warm-up of each (cuDNN's autotuning, lazy CUDA initialisation)."""
    space = MacroCNNSpace()
    trainer = Trainer(
        space,
        dataset="mnist5k",
        batch_size=batch,
        optimizer="sgd",
        lr=0.05,
        device=device,
        precision=precision,
        channels_last=channels_last,
    )
    s = trainer.splits()
    dev = s.x_train.device
    assert isinstance(s.x_train, torch.Tensor)
    n = round(epochs * len(s.x_train))
    # On the CPU the clock is this process's CPU time (1 thread): what the loop costs, whatever
    # else the machine runs; on a GPU, wall-clock time after synchronising.
    clock = time.perf_counter if dev.type == "cuda" else time.process_time
    times: dict[str, list[float]] = {"nasbeyond": [], "bare": []}
    for r in range(-1, repeats):  # interleaved, each first in turn: drift in load hits both
        for name in sorted(times, reverse=r % 2 == 1):
            torch.manual_seed(max(r, 0))
            model = space.build(ARCH, trainer.task()).to(dev)
            _sync(dev)
            start = clock()
            if name == "nasbeyond":
                trainer.fit(model, s.x_train, s.y_train, Budget(epochs=epochs), seed=max(r, 0))
            else:
                bare(model, s.x_train, s.y_train, epochs, batch, precision, channels_last)
            _sync(dev)
            if r >= 0:
                times[name].append(clock() - start)
    ours, ref = n / min(times["nasbeyond"]), n / min(times["bare"])
    return {
        "device": str(dev),
        "batch": batch,
        "precision": precision,
        "channels_last": channels_last,
        "clock": "wall" if dev.type == "cuda" else "cpu",
        "ours_img_s": ours,
        "bare_img_s": ref,
        "ratio": ours / ref,
    }


def rows_of(results: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [r["device"], r["batch"], r["precision"], r["ours_img_s"], r["bare_img_s"], r["ratio"]]
        for r in results
    ]


HEAD = ["device", "batch", "precision", "nasbeyond img/s", "bare loop img/s", "ratio"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="0.5 epoch, 2 repeats")
    p.add_argument("--no-cuda", action="store_true", help="the CPU rows only")
    args = p.parse_args()
    epochs, repeats = (0.5, 2) if args.quick else (args.epochs, args.repeats)
    torch.set_num_threads(1)
    cpu = compare("cpu", 32, "fp32", epochs, repeats)
    results = [cpu]
    if torch.cuda.is_available() and not args.no_cuda:
        results += [
            compare("cuda", b, prec, 4 * epochs, repeats)
            for b in (32, 256)
            for prec in ("fp32", "bf16")
        ]
    print(
        f"training throughput, mnist5k 28x28, macro-cnn 3 layers, sgd, {epochs:g} epochs "
        f"(CUDA: {4 * epochs:g}), best of {repeats}; CPU: 1 thread, images per CPU-second"
    )
    print(table(HEAD, rows_of(results)))
    name = "trainer_quick" if args.quick else "trainer"
    out = save(
        name,
        {
            "ours_img_s": cpu["ours_img_s"],
            "bare_img_s": cpu["bare_img_s"],
            "ratio": cpu["ratio"],
            "rows": results,
        },
    )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
