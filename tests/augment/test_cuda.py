"""On a CUDA GPU every augmentation op, and every transform over a batch of mixed ops, gives the
pixels it gives on the CPU (and so PIL's: test_exact.py), uint8 and float; random draws come
from the same CPU generator on both. The CPU side is cut into small chunks (as it is for large
images) while the GPU takes each route whole, so the two also check that chunking changes
nothing. Skipped without a GPU; scripts/device-check.sh runs them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasbeyond.augment import ops
from nasbeyond.augment.ops import OPS, apply_batch
from nasbeyond.augment.transforms import AutoAugment, RandAugment, TrivialAugment

pytestmark = pytest.mark.cuda

REGISTRY = sorted(OPS)


def batch(channels: int, n: int = 12, h: int = 23, w: int = 31) -> torch.Tensor:
    rng = np.random.default_rng(channels)
    x = torch.from_numpy(rng.integers(0, 256, (n, channels, h, w), dtype=np.uint8))
    x[0] = 77  # a constant image: AutoContrast and Equalize leave it
    x[1, :, : h // 2] = 0  # a two-level one
    return x


def run(x, name, level, sign, seed):
    n = len(x)
    return apply_batch(
        x,
        torch.zeros(n, dtype=torch.long),
        torch.linspace(0, level, n, dtype=torch.float64),  # a different magnitude each
        torch.tensor([sign, -sign] * (n // 2)),
        torch.ones(n, dtype=torch.bool),
        names=(name,),
        gen=torch.Generator().manual_seed(seed),
    )


@pytest.fixture
def small_cpu_chunks(monkeypatch):
    monkeypatch.setattr(ops, "CPU_CHUNK_BYTES", 1)  # one sample a chunk on the CPU


@pytest.mark.parametrize("name", REGISTRY)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_op_on_cuda_is_its_cpu_result(name, channels, small_cpu_chunks):
    x = batch(channels)
    for level in (0.4, 1.0):
        for sign in (1.0, -1.0):
            cpu = run(x, name, level, sign, seed=5)
            gpu = run(x.cuda(), name, level, sign, seed=5)
            assert gpu.device.type == "cuda" and gpu.dtype == torch.uint8
            assert torch.equal(gpu.cpu(), cpu), f"{name} uint8, level {level}, sign {sign}"
            xf = x.float() / 255
            cpu_f = run(xf, name, level, sign, seed=5)
            gpu_f = run(xf.cuda(), name, level, sign, seed=5).cpu()
            assert torch.allclose(gpu_f, cpu_f, atol=1e-6), f"{name} float, level {level}"


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandAugment(2, 9, seed=11),
        lambda: AutoAugment("cifar10", seed=11),
        lambda: AutoAugment("imagenet", seed=11),
        lambda: TrivialAugment(seed=11),
    ],
    ids=["randaugment", "autoaugment-cifar10", "autoaugment-imagenet", "trivialaugment"],
)
def test_mixed_op_batches_on_cuda_are_their_cpu_result(make, small_cpu_chunks):
    x = batch(3, n=96, h=40, w=36)
    cpu, gpu = make(), make()
    for _ in range(2):  # the streams advance alike
        assert torch.equal(gpu(x.cuda()).cpu(), cpu(x))
