"""What the contract suites share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


class OneTorchThread:
    """Runs each test with one torch thread: the contracts' models and controllers are tiny,
    so more threads only contend for the CPU (and slow a shared machine many times over)."""

    @pytest.fixture(autouse=True)
    def _one_torch_thread(self) -> Iterator[None]:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)
