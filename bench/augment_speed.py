"""Augmentation throughput on the same uint8 batches, RandAugment (N=2, M=9) and the published
CIFAR-10 AutoAugment policy, at 32x32 (batch 1024) and 224x224 (batch 128), in one run:

  ours            nasbeyond's batched tensor path on uint8: a different op and magnitude per
                  sample (per-sample randomness)
  ours-pil        nasbeyond's PIL path, one image at a time (CPU only; the same pixels as ours)
  ours-torch      ours without OpenCV's kernels (``use_opencv(False)``; CPU, where OpenCV
                  imports and the images are large enough for the two routes to differ)
  kornia          kornia.augmentation.auto on the same batch as float 0..1 (its input; the
                  conversion is not timed): ONE op drawn for the whole batch
  torchvision     torchvision.transforms.v2 on the uint8 batch, one op for the whole batch
                  (only where it imports; its PyPI build does not import beside torch 2.13 here)
  albumentations  an equivalent albumentations pipeline, one numpy HWC image at a time (CPU only)

On the CPU every implementation runs on one thread (torch and OpenCV) and throughput is images
per CPU-second of this process, so other work on a shared machine does not skew the ratios; the
implementations take turns, round by round, and each figure is the median round. On CUDA it is
images per wall-second with the device synchronised around each call.
M=9 on our 0..10 scale is kornia's and torchvision's 27 on their 0..30 scale (90% of each range).

With ``--ops``: op by op at 224x224 instead, ours with OpenCV's kernels (``use_opencv``) and
without, against the albumentations transform standing in for each op, microseconds per image.

    python bench/augment_speed.py [--quick] [--device cpu|cuda] [--ops]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.augment.transforms import AutoAugment, RandAugment, published_policy  # noqa: E402

SIZES = ((32, 1024), (224, 128))
TRANSFORMS = ("randaugment", "autoaugment-cifar10")
PEERS = ("kornia", "torchvision", "albumentations")


def albumentations_op(name: str, level: float, p: float = 1.0) -> Any:
    """The albumentations transform standing in for our op ``name`` at ``level`` (0..1)."""
    import albumentations as A
    import cv2

    factor = 0.9 * level
    shear, shift = (-17 * level, 17 * level), (-0.45 * level, 0.45 * level)

    def affine(**kwargs: Any) -> Any:  # nearest-neighbour, grey fill, as our geometric ops
        return A.Affine(interpolation=cv2.INTER_NEAREST, fill=(128, 128, 128), p=p, **kwargs)

    table: dict[str, Callable[[], Any]] = {
        "Identity": lambda: A.NoOp(p=p),
        "ShearX": lambda: affine(shear={"x": shear, "y": 0}),
        "ShearY": lambda: affine(shear={"x": 0, "y": shear}),
        "TranslateX": lambda: affine(translate_percent={"x": shift, "y": 0}),
        "TranslateY": lambda: affine(translate_percent={"x": 0, "y": shift}),
        "Rotate": lambda: affine(rotate=(-30 * level, 30 * level)),
        "AutoContrast": lambda: A.AutoContrast(p=p),
        "Invert": lambda: A.InvertImg(p=p),
        "Equalize": lambda: A.Equalize(p=p),
        "Solarize": lambda: A.Solarize(threshold_range=(1 - level, 1 - level), p=p),
        "Posterize": lambda: A.Posterize(num_bits=8 - int(round(4 * level)), p=p),
        "Contrast": lambda: A.RandomBrightnessContrast(
            brightness_limit=0, contrast_limit=factor, p=p
        ),
        "Brightness": lambda: A.RandomBrightnessContrast(
            brightness_limit=factor, contrast_limit=0, p=p
        ),
        "Color": lambda: A.ColorJitter(brightness=0, contrast=0, saturation=factor, hue=0, p=p),
        "Sharpness": lambda: A.Sharpen(alpha=(0, factor), p=p),
        "Cutout": lambda: A.CoarseDropout(
            num_holes_range=(1, 1),
            hole_height_range=(0.2 * level, 0.2 * level),
            hole_width_range=(0.2 * level, 0.2 * level),
            fill=128,
            p=p,
        ),
        "SamplePairing": lambda: A.NoOp(p=p),  # no albumentations equivalent
    }
    return table[name]()


def albumentations_pipelines() -> dict[str, Any]:
    import albumentations as A

    op = albumentations_op
    rand_ops = [
        "Identity", "AutoContrast", "Equalize", "Rotate", "Solarize", "Color", "Posterize",
        "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
    ]  # fmt: skip
    randaug = A.SomeOf([op(o, 0.9) for o in rand_ops], n=2, replace=True, p=1.0)
    subs = [
        A.Sequential([op(o, (m or 0) / 9, p) for o, p, m in sub], p=1.0)
        for sub in published_policy("cifar10")
    ]
    return {"randaugment": randaug, "autoaugment-cifar10": A.OneOf(subs, p=1.0)}


def _peers(device: torch.device) -> dict[str, dict[str, Callable[[], Any]] | str]:
    """Each peer's two transforms (makers), or a line saying why the peer is left out."""
    out: dict[str, dict[str, Callable[[], Any]] | str] = {}
    try:
        import kornia.augmentation.auto as KA

        out["kornia"] = {
            "randaugment": lambda: KA.RandAugment(n=2, m=27).to(device),
            "autoaugment-cifar10": lambda: KA.AutoAugment("cifar10").to(device),
        }
    except ImportError as e:
        out["kornia"] = f"kornia: not installed ({e}); pip install nasbeyond[bench]"
    try:
        from torchvision.transforms import v2  # type: ignore[import-untyped]

        out["torchvision"] = {
            "randaugment": lambda: v2.RandAugment(num_ops=2, magnitude=27),
            "autoaugment-cifar10": lambda: v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10),
        }
    except Exception as e:  # noqa: BLE001 - a torchvision built for another torch fails in many ways
        out["torchvision"] = f"torchvision: does not import here ({type(e).__name__}: {e})"
    if device.type != "cpu":
        out["albumentations"] = "albumentations: CPU only"
    else:
        try:
            pipes = albumentations_pipelines()
            out["albumentations"] = {k: (lambda p=p: p) for k, p in pipes.items()}
        except ImportError as e:
            out["albumentations"] = f"albumentations: not installed ({e})"
    return out


def _timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds one call takes: CPU-seconds of this process on the CPU, wall-seconds around a
    synchronised call on a GPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize(device)
        return time.perf_counter() - start
    start = time.process_time()
    fn()
    return time.process_time() - start


def _rates(
    calls: dict[str, Callable[[], Any]], n_images: int, device: torch.device, rounds: int
) -> dict[str, float]:
    """Images per second of each call, taking turns round by round (one warm-up round), the
    median round each."""
    for fn in calls.values():
        fn()
    spent: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            spent[name].append(_timed(fn, device))
    return {k: n_images / max(statistics.median(v), 1e-9) for k, v in spent.items()}


def _sizes(sizes: Sequence[Any]) -> list[tuple[int, int]]:
    """``(size, batch)`` pairs; a bare size gets batch 1024 up to 64 pixels a side, else 128."""
    return [
        (int(s), 1024 if int(s) <= 64 else 128) if isinstance(s, int) else (int(s[0]), int(s[1]))
        for s in sizes
    ]


def augment_table(
    device: str | torch.device,
    sizes: Sequence[Any] = SIZES,
    rounds: int = 5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """RandAugment(2, 9) and the CIFAR-10 AutoAugment policy on random uint8 batches: ours
    (per-sample ops) against kornia and torchvision v2 (one op per batch; each only where it
    imports) and albumentations (one image at a time; CPU only), in one run.

    Args:
        device: ``"cpu"``, ``"cuda"`` or a torch.device.
        sizes: ``(side, batch)`` pairs (a bare side takes batch 1024 up to 64, else 128).
        rounds: timed rounds per implementation (the median is kept), after one warm-up.
        seed: the images' and our transforms' seed.

    Returns:
        One dict per (transform, size): ``device``, ``transform``, ``size``, ``batch``, images
        per second of ``ours``, ``ours-pil`` (CPU only) and each peer (None where the peer is
        left out), and the ratios ``ours/<peer>``. On the CPU "per second" is per CPU-second
        of this process (see the module docstring), on CUDA per wall-second.
    """
    from nasbeyond.augment import ops as O

    dev = torch.device(device)
    peers = _peers(dev)
    cv = O.opencv_active()
    for why in peers.values():
        if isinstance(why, str):
            print(why)
    rows: list[dict[str, Any]] = []
    for size, batch in _sizes(sizes):
        rng = np.random.default_rng(seed + size)
        arrays = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
        x = torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous().to(dev)
        floats = x.float() / 255
        for tname in TRANSFORMS:
            ours: torch.nn.Module = (
                RandAugment(2, 9, seed=seed)
                if tname == "randaugment"
                else AutoAugment("cifar10", seed=seed)
            )
            calls: dict[str, Callable[[], Any]] = {"ours": lambda o=ours, x=x: o(x)}
            if dev.type == "cpu" and cv and x[0].numel() >= O.LARGE_VALUES:
                # the same without OpenCV's kernels (where the two routes differ)
                def plain(o: Any = ours, x: torch.Tensor = x) -> Any:
                    O.use_opencv(False)
                    try:
                        return o(x)
                    finally:
                        O.use_opencv(True)

                calls["ours-torch"] = plain
            if dev.type == "cpu":  # our PIL path, one image at a time, for comparison
                pils = [Image.fromarray(a) for a in arrays]
                calls["ours-pil"] = lambda o=ours, ps=pils: [o(p) for p in ps]
            for peer, makers in peers.items():
                if isinstance(makers, str):
                    continue
                t = makers[tname]()
                if peer == "kornia":
                    calls[peer] = lambda t=t, f=floats: t(f)
                elif peer == "torchvision":
                    calls[peer] = lambda t=t, x=x: t(x)
                else:
                    calls[peer] = lambda t=t, xs=arrays: [t(image=a) for a in xs]
            got = _rates(calls, batch, dev, rounds)
            row: dict[str, Any] = {
                "device": dev.type,
                "transform": tname,
                "size": f"{size}x{size}",
                "batch": batch,
                "ours": round(got["ours"]),
                "ours-pil": round(got["ours-pil"]) if "ours-pil" in got else None,
                "ours-torch": round(got["ours-torch"]) if "ours-torch" in got else None,
            }
            row.update({p: (round(got[p]) if p in got else None) for p in PEERS})
            row.update(
                {f"ours/{p}": (round(got["ours"] / got[p], 2) if p in got else None) for p in PEERS}
            )
            alb = got.get("albumentations")
            row["ours-torch/albumentations"] = (
                round(got["ours-torch"] / alb, 2) if alb and "ours-torch" in got else None
            )
            rows.append(row)
    return rows


OP_ORDER = (
    "AutoContrast", "Equalize", "Invert", "Solarize", "Posterize", "Contrast", "Brightness",
    "Color", "Sharpness", "Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY",
)  # fmt: skip


def op_table(
    size: int = 224, batch: int = 128, rounds: int = 5, seed: int = 0
) -> list[dict[str, Any]]:
    """Op by op on the CPU: a batch where every sample takes the same op at level 0.9 (M=9)
    with its own random sign, through ``apply_batch`` with OpenCV's kernels (``ours``, where
    ``cv2`` imports) and without (``ours-torch``), against the albumentations transform that
    stands in for it, one image at a time. Microseconds per image (CPU time, one thread)."""
    from nasbeyond.augment import ops as O

    rng = np.random.default_rng(seed + size)
    arrays = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    x = torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()
    dst = torch.empty_like(x)
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (batch,), generator=gen).double() * 2 - 1
    levels = torch.full((batch,), 0.9, dtype=torch.float64)
    every = torch.ones(batch, dtype=torch.bool)
    first = torch.zeros(batch, dtype=torch.long)
    had_cv = O.opencv_active()

    def ours(name: str, cv: bool) -> None:
        O.use_opencv(cv)
        O.apply_batch(x, first, levels, signs, every, (name,), gen, out=dst)

    rows: list[dict[str, Any]] = []
    try:
        for name in OP_ORDER:
            calls: dict[str, Callable[[], Any]] = {}
            if had_cv:
                calls["ours"] = lambda n=name: ours(n, True)
            calls["ours-torch"] = lambda n=name: ours(n, False)
            try:
                t = albumentations_op(name, 0.9)
                calls["albumentations"] = lambda t=t: [t(image=a) for a in arrays]
            except ImportError:
                pass
            got = _rates(calls, batch, torch.device("cpu"), rounds)
            us = {k: round(1e6 / v, 1) for k, v in got.items()}
            row: dict[str, Any] = {"op": name, "size": f"{size}x{size}"}
            row.update({k: us.get(k) for k in ("ours", "ours-torch", "albumentations")})
            alb = us.get("albumentations")
            row["albumentations/ours"] = (
                round(alb / us["ours"], 2) if alb and "ours" in us else None
            )
            row["albumentations/ours-torch"] = round(alb / us["ours-torch"], 2) if alb else None
            rows.append(row)
    finally:
        O.use_opencv(had_cv)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch and OpenCV")
    p.add_argument(
        "--ops",
        action="store_true",
        help="op by op at 224x224 instead: ours with and without OpenCV, albumentations",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import cv2

        cv2.setNumThreads(args.threads)
    except ImportError:
        pass
    if args.ops:
        op_rows = op_table(rounds=3 if args.quick else 5)
        print("microseconds per image, CPU time, 1 thread (lower is better)")
        head = list(op_rows[0])
        print(table(head, [[r[k] if r[k] is not None else "-" for k in head] for r in op_rows]))
        name = "augment_speed_ops_quick" if args.quick else "augment_speed_ops"
        print(f"saved {save(name, {'rows': op_rows, 'threads': args.threads})}")
        return
    rows = augment_table(args.device, rounds=3 if args.quick else 7)
    unit = "CPU-second, 1 thread each" if args.device == "cpu" else "second"
    print(
        f"images per {unit} (higher is better); ours draws per sample, the batched peers per batch"
    )
    head = list(rows[0])
    print(table(head, [[r[k] if r[k] is not None else "-" for k in head] for r in rows]))
    name = "augment_speed_quick" if args.quick else "augment_speed"
    if args.device != "cpu":
        name += f"_{torch.device(args.device).type}"
    print(f"saved {save(name, {'rows': rows, 'threads': args.threads})}")


if __name__ == "__main__":
    main()
