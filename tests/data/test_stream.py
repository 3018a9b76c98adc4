"""Streaming image datasets (issue 14 part 5): image folders and CIFAR-10 read a batch at a time
as uint8 and standardised on the device give the in-memory path's tensors; the choice between
them is automatic below ``IN_MEMORY_LIMIT`` and overridable with ``in_memory``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from nasbeyond.data import load_dataset, summary
from nasbeyond.data import stream as stream_module
from nasbeyond.data.stream import ImageStream
from nasbeyond.exceptions import ConfigError
from nasbeyond.space import MLPSpace
from nasbeyond.train import Trainer
from nasbeyond.trial import Budget, Context


def _folder(root, classes=3, per_class=12, size=10, mode="L", split=False):
    rng = np.random.default_rng(0)
    parts = [("train", per_class), ("test", 4)] if split else [("", per_class)]
    for part, n in parts:
        for c in range(classes):
            d = root / part / f"class{c}"
            d.mkdir(parents=True)
            for i in range(n):
                shape = (size, size) if mode == "L" else (size, size, 3)
                px = rng.integers(0, 256, shape, dtype=np.uint8) // (c + 1)
                Image.fromarray(px, mode).save(d / f"{i:03d}.png")
    return str(root)


def _all(x: ImageStream) -> torch.Tensor:
    return torch.cat(list(x.batches(torch.arange(len(x)), 7)))


@pytest.mark.parametrize(("mode", "split"), [("L", False), ("RGB", True)])
def test_streamed_folder_equals_in_memory(tmp_path, mode, split):
    root = _folder(tmp_path, mode=mode, split=split)
    mem = load_dataset("image-folder", root, in_memory=True)
    st = load_dataset("image-folder", root, in_memory=False, decode_workers=0)
    assert isinstance(st.x_train, ImageStream) and isinstance(mem.x_train, torch.Tensor)
    assert st.x_train.shape == mem.x_train.shape and st.task == mem.task
    assert torch.equal(st.y_train, mem.y_train) and torch.equal(st.y_test, mem.y_test)
    assert st.pixel_mean == pytest.approx(mem.pixel_mean, abs=1e-5)
    assert torch.allclose(_all(st.x_train), mem.x_train, atol=1e-4)
    assert isinstance(st.x_test, ImageStream)
    assert torch.allclose(_all(st.x_test), mem.x_test, atol=1e-4)
    assert "streaming" in summary(st) and "missing values: none" in summary(st)


def test_in_memory_is_chosen_below_the_limit(tmp_path, monkeypatch):
    root = _folder(tmp_path)
    assert isinstance(load_dataset("image-folder", root).x_train, torch.Tensor)
    monkeypatch.setattr(stream_module, "IN_MEMORY_LIMIT", 1000)
    streamed = load_dataset("image-folder", root, image_size=10)  # another cache entry
    assert isinstance(streamed.x_train, ImageStream)
    with pytest.raises(ConfigError, match="in_memory"):
        load_dataset("image-folder", root, in_memory="maybe")


def test_stream_subsets_and_devices(tmp_path):
    st = load_dataset("image-folder", _folder(tmp_path), in_memory=False, decode_workers=0)
    x = st.x_train
    sub = x[torch.tensor([3, 1])]
    assert len(sub) == 2 and sub.shape[1:] == x.shape[1:]
    full = _all(x)
    assert torch.equal(_all(sub), full[[3, 1]])
    assert x.to("cpu").device == torch.device("cpu")
    u8 = next(iter(x.uint8_batches(torch.arange(4), 4)))
    assert u8.dtype == torch.uint8 and u8.shape == (4, 1, 10, 10)


def _cifar_files(root, binary):
    rng = np.random.default_rng(1)
    for name, n in (("data_batch_1", 20), ("data_batch_2", 20), ("test_batch", 10)):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = np.arange(n) % 10
        if binary:
            rec = np.concatenate([y[:, None].astype(np.uint8), x], axis=1)
            (root / f"{name}.bin").write_bytes(rec.tobytes())
        else:
            with open(root / name, "wb") as f:
                pickle.dump({b"data": x, b"labels": y.tolist()}, f)
    return str(root)


@pytest.mark.parametrize("binary", [True, False])
def test_streamed_cifar10_equals_in_memory(tmp_path, binary):
    root = _cifar_files(tmp_path, binary)
    mem = load_dataset("cifar10", root)  # small: in memory by default
    st = load_dataset("cifar10", root, in_memory=False)
    assert isinstance(mem.x_train, torch.Tensor) and isinstance(st.x_train, ImageStream)
    assert st.x_train.shape == (40, 3, 32, 32) and len(st.x_test) == 10
    assert torch.equal(st.y_train, mem.y_train) and torch.equal(st.y_test, mem.y_test)
    assert torch.allclose(_all(st.x_train), mem.x_train, atol=1e-4)
    if binary:  # the images stay on disk, memory-mapped
        assert isinstance(st.x_train.reader.parts[0].base, np.memmap | np.ndarray)


@pytest.mark.parametrize("workers", [0, 2])
def test_trainer_learns_from_a_streamed_folder(tmp_path, workers):
    root = _folder(tmp_path, per_class=16)
    args = {"in_memory": False, "decode_workers": workers}
    t = Trainer(MLPSpace(), dataset="image-folder", data_dir=root, dataset_args=args)
    ref = Trainer(MLPSpace(), dataset="image-folder", data_dir=root)
    arch = {"widths": [32], "activation": "relu", "dropout": 0.0}
    r, want = (e(arch, Budget(steps=4), Context(1, 0)) for e in (t, ref))
    assert isinstance(t.splits().x_train, ImageStream)
    assert r.status == "ok" and r.metrics["steps"] == 4
    # The same batches, standardised on the device instead of in advance: the same training.
    assert r.metrics["train_loss"] == pytest.approx(want.metrics["train_loss"], rel=1e-4)
    assert abs(r.reward - want.reward) <= 1 / len(t.splits().y_val) + 1e-9  # one example at most
