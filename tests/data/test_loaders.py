"""Every loader on small files the tests write themselves, and the bundled real datasets."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from nasbeyond.data import load_dataset
from nasbeyond.data.builtin import read_idx
from nasbeyond.exceptions import DataError


def write_idx(path, array, compress=True):
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def test_bundled_real_datasets():
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (1, 8, 8) and d.num_classes == 10
    assert len(d.x_train) + len(d.x_test) == 1797
    m = load_dataset("mnist5k")
    assert m.x_train.shape == (4000, 1, 28, 28) and m.x_test.shape == (1000, 1, 28, 28)
    assert abs(float(m.x_train.mean())) < 1e-3  # standardised with training statistics
    assert np.bincount(m.y_test.numpy()).tolist() == [100] * 10  # stratified test split


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_idx(tmp_path, compress):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for split, n in (("train", 30), ("t10k", 10)):
        write_idx(
            tmp_path / f"{split}-images-idx3-ubyte{suffix}",
            rng.integers(0, 256, (n, 28, 28)),
            compress,
        )
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, compress)
    d = load_dataset("fashion-mnist", str(tmp_path))
    assert d.x_train.shape == (30, 1, 28, 28) and d.x_test.shape == (10, 1, 28, 28)
    assert d.y_test.tolist() == list(range(10))


def test_fashion_mnist_missing_folder_names_the_package(tmp_path):
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_dataset("fashion-mnist", str(tmp_path))


def test_idx_rejects_garbage(tmp_path):
    (tmp_path / "x").write_bytes(b"hello world")
    with pytest.raises(DataError, match="IDX"):
        read_idx(tmp_path / "x")
    write_idx(tmp_path / "y", np.zeros((4, 2, 2)))
    (tmp_path / "z").write_bytes(gzip.decompress((tmp_path / "y").read_bytes())[:-3])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "z")


def _cifar_arrays(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), list(np.arange(n) % 10)


def test_cifar10_python_batches(tmp_path):
    for i in range(1, 3):
        data, labels = _cifar_arrays(20, i)
        with open(tmp_path / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    data, labels = _cifar_arrays(10, 9)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": data, b"labels": labels}, f)
    d = load_dataset("cifar10", str(tmp_path))
    assert d.x_train.shape == (40, 3, 32, 32) and d.x_test.shape == (10, 3, 32, 32)


def test_cifar10_binary_batches(tmp_path):
    for name, n in (("data_batch_1.bin", 20), ("test_batch.bin", 10)):
        data, labels = _cifar_arrays(n, n)
        rec = np.concatenate([np.array(labels, dtype=np.uint8)[:, None], data], axis=1)
        (tmp_path / name).write_bytes(rec.tobytes())
    d = load_dataset("cifar10", str(tmp_path))
    assert d.x_train.shape == (20, 3, 32, 32) and d.y_test.tolist() == list(range(10))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar10_refuses_pickled_code(tmp_path):
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, f)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, f)
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        load_dataset("cifar10", str(tmp_path))


def _write_images(root, classes, n, mode="RGB", size=12):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            shape = (size, size, 3) if mode == "RGB" else (size, size)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(
                root / c / f"{i}.png"
            )


def test_image_folder_single_root(tmp_path):
    _write_images(tmp_path, ["cat", "dog", "eel"], 5)
    d = load_dataset("image-folder", str(tmp_path), image_size=8)
    assert d.x_train.shape[1:] == (3, 8, 8) and d.num_classes == 3
    assert len(d.x_train) + len(d.x_test) == 15


def test_image_folder_train_test_grayscale(tmp_path):
    _write_images(tmp_path / "train", ["a", "b"], 4, mode="L")
    _write_images(tmp_path / "test", ["a", "b"], 2, mode="L")
    d = load_dataset("image-folder", str(tmp_path))
    assert d.x_train.shape == (8, 1, 12, 12) and d.x_test.shape == (4, 1, 12, 12)


def test_image_folder_without_classes(tmp_path):
    with pytest.raises(DataError, match="one sub-folder of images per class"):
        load_dataset("image-folder", str(tmp_path))


def test_csv_with_named_target(tmp_path):
    rows = ["a,label,b"] + [f"{i},{'yes' if i % 2 else 'no'},{i * 2}" for i in range(20)]
    (tmp_path / "t.csv").write_text("\n".join(rows))
    d = load_dataset("csv", str(tmp_path / "t.csv"), target="label")
    assert d.x_train.shape[1:] == (2,) and d.num_classes == 2
    with pytest.raises(DataError, match="target: column 'nope'"):
        load_dataset("csv", str(tmp_path / "t.csv"), target="nope")


def test_csv_text_columns_are_categorical(tmp_path):
    colours = ["red", "green", "blue"]
    rows = ["size,colour,y"] + [f"{i / 7:.3f},{colours[i % 3]},{i % 2}" for i in range(30)]
    (tmp_path / "t.csv").write_text("\n".join(rows))
    d = load_dataset("csv", str(tmp_path / "t.csv"))
    assert d.categories == (3,) and d.task.categories == (3,)
    codes = torch.cat([d.x_train[:, 0], d.x_test[:, 0]])
    assert set(codes.tolist()) == {0.0, 1.0, 2.0}  # codes first, not standardised
    assert abs(float(d.x_train[:, 1].mean())) < 0.2  # numbers standardised
