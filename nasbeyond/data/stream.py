"""Image datasets larger than memory: images stay on disk (or in one uint8 array, possibly
memory-mapped) and are read a batch at a time by ``torch.utils.data.DataLoader`` workers, kept as
uint8 until the batch is on the training device, and standardised there.

An ``ImageStream`` stands where an in-memory dataset holds its float32 input tensor: it has the
few tensor traits the trainer uses (``len``, ``shape``, ``device``, ``stream[idx]`` for a subset,
``.to(device)``) and yields standardised batches with ``batches(order, batch_size)``. The loaders
of ``image-folder`` and ``cifar10`` choose it when the float32 inputs would pass
``IN_MEMORY_LIMIT``, or when ``in_memory=false`` is given.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasbeyond.exceptions import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}

# Above this many bytes of float32 inputs (train + test) a dataset streams from disk unless
# in_memory=true: CIFAR-10 (737 MB as float32) stays in memory; 200,000 64x64 images stream.
IN_MEMORY_LIMIT = 1 << 30
STATS_SAMPLE = 2000  # training images whose pixels give the per-channel mean and std
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


class ImageReader(torch.utils.data.Dataset[torch.Tensor]):
    """Reads image ``i`` as a ``(C, H, W)`` uint8 tensor; picklable (DataLoader workers)."""

    channels: int
    size: tuple[int, int]

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> torch.Tensor:
        raise NotImplementedError


class FileReader(ImageReader):
    """Image files decoded with Pillow, converted to ``mode`` (``L`` or ``RGB``) and resized to
    ``size`` x ``size`` as the in-memory image-folder loader does."""

    def __init__(self, paths: Sequence[str], mode: str, size: int) -> None:
        self.paths = np.asarray(paths)  # one array, not 200,000 str objects: no copy-on-read
        self.mode, self.channels, self.size = mode, 1 if mode == "L" else 3, (size, size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        path = str(self.paths[i])
        try:
            with Image.open(path) as f:
                im = f.convert(self.mode)
            if im.size != self.size:
                im = im.resize(self.size)
            a = np.array(im, dtype=np.uint8)  # a writable copy
        except OSError as e:
            raise DataError(f"data_dir: cannot read image {path} ({e})") from None
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(a))


class ArrayReader(ImageReader):
    """Rows of ``(N, C, H, W)`` uint8 arrays (in memory or ``np.memmap``), concatenated."""

    def __init__(self, parts: Sequence[np.ndarray]) -> None:
        self.parts = list(parts)
        self.ends = np.cumsum([len(p) for p in self.parts])
        c, h, w = self.parts[0].shape[1:]
        self.channels, self.size = int(c), (int(h), int(w))

    def __len__(self) -> int:
        return int(self.ends[-1])

    def __getitem__(self, i: int) -> torch.Tensor:
        k = int(np.searchsorted(self.ends, i, side="right"))
        row = i - (int(self.ends[k - 1]) if k else 0)
        return torch.from_numpy(np.array(self.parts[k][row], dtype=np.uint8))


class ImageStream:
    """The inputs of an image dataset read a batch at a time.

    Args:
        reader: reads one image as ``(C, H, W)`` uint8.
        index: the reader's images this stream holds, in order (``(N,)`` int64).
        mean, std: per-channel statistics of the standardisation, of pixels in 0..1 (the same
            ``pixel_mean`` / ``pixel_std`` an in-memory ``Dataset`` carries).
        device: where batches are standardised and returned.
        workers: DataLoader processes decoding images (0: in this process; a daemonic
            process, such as a search's worker, cannot start them and decodes itself).
    """

    def __init__(
        self,
        reader: ImageReader,
        index: np.ndarray,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str = "cpu",
        workers: int = 0,
    ) -> None:
        self.reader, self.index = reader, np.asarray(index, dtype=np.int64)
        self.mean, self.std = tuple(mean), tuple(std)
        self.device, self.workers = torch.device(device), workers
        self._stats: tuple[torch.Tensor, ...] | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return f"ImageStream({tuple(self.shape)}, uint8 -> float32 on {self.device})"

    @property
    def shape(self) -> torch.Size:
        """``(N, C, H, W)``, as a float tensor of these images would have."""
        return torch.Size((len(self), self.reader.channels, *self.reader.size))

    def __getitem__(self, idx: torch.Tensor | np.ndarray) -> ImageStream:
        """The subset at positions ``idx`` (as ``tensor[idx]`` would select)."""
        pos = idx.cpu().numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
        return self._with(index=self.index[pos])

    def to(self, device: torch.device | str) -> ImageStream:
        """The same images, standardised on ``device``."""
        return self._with(device=torch.device(device))

    def _with(self, **changes: Any) -> ImageStream:
        kw = {
            "reader": self.reader,
            "index": self.index,
            "mean": self.mean,
            "std": self.std,
            "device": self.device,
            "workers": self.workers,
        }
        return ImageStream(**{**kw, **changes})

    def uint8_batches(self, order: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
        """``(B, C, H, W)`` uint8 batches (on the CPU) of the images at positions ``order``
        (``(M,)`` int64), ``batch_size`` at a time, decoded by DataLoader workers."""
        rows = self.index[order.cpu().numpy()]
        chunks = [rows[i : i + batch_size].tolist() for i in range(0, len(rows), batch_size)]
        workers = 0 if multiprocessing.current_process().daemon else self.workers
        loader = torch.utils.data.DataLoader(
            self.reader,
            batch_sampler=chunks,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if workers else None,
        )
        yield from loader

    def standardise(self, batch: torch.Tensor) -> torch.Tensor:
        """A uint8 ``(B, C, H, W)`` batch as float32 on this stream's device, standardised per
        channel: ``(pixel / 255 - mean) / std``."""
        x = batch.to(self.device, non_blocking=True).float().div_(255)
        if self._stats is None:  # copied to the device once, not per batch
            self._stats = tuple(
                torch.tensor(v, device=self.device).view(1, -1, 1, 1) for v in (self.mean, self.std)
            )
        mean, std = self._stats
        return x.sub_(mean).div_(std)

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
        """Standardised float32 ``(B, C, H, W)`` batches on ``device`` in the order given."""
        for b in self.uint8_batches(order, batch_size):
            yield self.standardise(b)


def pixel_stats(
    reader: ImageReader, index: np.ndarray, sample: int = STATS_SAMPLE
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation (pixels in 0..1, plus 1e-6 as the in-memory
    path adds) of up to ``sample`` of the images at ``index`` (a fixed-seed draw; all of them
    when there are no more), so a stream's standardisation needs no pass over every image."""
    rng = np.random.default_rng(0)
    picked = index if len(index) <= sample else rng.choice(index, sample, replace=False)
    x = torch.stack([reader[int(i)] for i in np.sort(picked)]).numpy().astype(np.float64) / 255
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3)) + 1e-6
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def stream_or_memory(in_memory: bool | None, n_images: int, shape: tuple[int, ...]) -> bool:
    """Whether to load into memory: ``in_memory`` if given, else whether the float32 inputs
    (``n_images`` of ``shape``) fit in ``IN_MEMORY_LIMIT`` bytes."""
    if in_memory is not None:
        if not isinstance(in_memory, bool):
            from nasbeyond.exceptions import ConfigError

            raise ConfigError(f"in_memory: {in_memory!r}; allowed: true or false")
        return in_memory
    return n_images * int(np.prod(shape)) * 4 <= IN_MEMORY_LIMIT


def image_files(root: Path, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """Paths of the images under ``root/<class>/`` for each class (sorted) and their labels."""

    paths: list[str] = []
    labels: list[int] = []
    for c, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            continue
        found = sorted(
            e.path
            for e in os.scandir(folder)
            if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES
        )
        paths += found
        labels += [c] * len(found)
    return paths, np.asarray(labels, dtype=np.int64)


def file_mode_and_size(paths: Sequence[str], image_size: int | None) -> tuple[str, int]:
    """``L`` when the first 64 images (evenly spread) are all grey, else ``RGB``; and the side
    the images are resized to (``image_size``, else the first image's width)."""
    from PIL import Image

    step = max(1, len(paths) // 64)
    modes, width = [], 0
    for p in list(paths)[::step][:64]:
        try:
            with Image.open(p) as im:
                modes.append(im.mode)
                width = width or im.size[0]
        except OSError as e:
            raise DataError(f"data_dir: cannot read image {p} ({e})") from None
    mode = "L" if all(m in ("L", "1", "I;16") for m in modes) else "RGB"
    return mode, image_size or width
