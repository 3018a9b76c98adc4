"""Strategy tests drive tiny controllers and models: one torch thread each, since more only
contend for a shared CPU (the contract classes do the same for themselves)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
