"""The GPU tables of issue 14 in one run, on the first CUDA GPU: the trainer beside a bare
PyTorch loop (batch 32 and 256, fp32 and bf16 autocast, and channels-last), and the batched
augmentation beside kornia and torchvision v2 where those import (``augment_table`` of
bench/augment_speed.py). Without CUDA it says so and exits with status 1.

    python bench/gpu.py [--quick]        # JSON: bench/results/gpu.json (gpu_quick.json)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402


def _augmentation(device: torch.device, sizes: list[int]) -> Any:
    """The augmentation table from bench/augment_speed.py, or None (and why) without it."""
    try:
        from augment_speed import augment_table  # type: ignore[attr-defined]
    except ImportError as e:
        print(f"augmentation table skipped: bench/augment_speed.py has no augment_table ({e})")
        return None
    result = augment_table(device, sizes)
    if isinstance(result, str):
        print(result)
    elif isinstance(result, list) and result and isinstance(result[0], dict):
        head = list(result[0])
        print(table(head, [[r.get(k, "") for k in head] for r in result]))
    else:
        print(json.dumps(result, indent=2, default=str))
    return json.loads(json.dumps(result, default=str))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer epochs and repeats")
    p.add_argument("--epochs", type=float, default=4.0, help="trainer epochs per timed run")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        print(
            f"bench/gpu.py needs a CUDA GPU; this torch ({torch.__version__}, {build}) sees "
            "none. On the CPU run bench/trainer.py and bench/augment_speed.py instead."
        )
        return 1
    from trainer import HEAD, compare, rows_of

    epochs, repeats = (1.0, 2) if args.quick else (args.epochs, args.repeats)
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    print(f"{name}, torch {torch.__version__} (CUDA {torch.version.cuda})")
    results = [
        compare("cuda", b, prec, epochs, repeats, channels_last=cl)
        for b in (32, 256)
        for prec in ("fp32", "bf16")
        for cl in (False, True)
    ]
    print(
        f"\ntrainer vs bare loop: mnist5k 28x28 on {name}, macro-cnn 3 layers, sgd, "
        f"{epochs:g} epochs, best of {repeats} after a warm-up (target: ratio >= 0.98)"
    )
    print(
        table(
            [*HEAD, "channels-last"],
            [[*r, c["channels_last"]] for r, c in zip(rows_of(results), results, strict=True)],
        )
    )
    print("\naugmentation, uint8 batches on the GPU")
    augmentation = _augmentation(device, [32, 224])
    out = save(
        "gpu_quick" if args.quick else "gpu",
        {"device": name, "trainer": results, "augmentation": augmentation},
    )
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
