"""One torch thread for the model tests: their tensors are small, and on a busy 2-core
machine a second intra-op thread slows small ops down several-fold."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
