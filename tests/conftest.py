"""Shared fixtures: the tests directory on ``sys.path`` (for ``helpers``), seeds, tolerances."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The dense reference does many small matrix products; OpenBLAS's thread pool makes those
# orders of magnitude slower on small shared machines. Set before numpy loads its BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

DTYPES = [torch.complex64, torch.complex128]
BATCHES = [(), (3,), (2, 3)]
# State/expectation agreement with the dense reference, per precision.
ATOL = {torch.complex64: 1e-4, torch.complex128: 1e-6}


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    """Every test starts from the same torch seed."""
    torch.manual_seed(1234)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A numpy generator seeded from the test's id, so each test is reproducible."""
    seed = sum(ord(ch) * (i + 1) for i, ch in enumerate(request.node.nodeid)) % 2**32
    return np.random.default_rng(seed)


@pytest.fixture(params=DTYPES, ids=["c64", "c128"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """Both supported complex precisions."""
    return request.param


@pytest.fixture
def atol(dtype: torch.dtype) -> float:
    """Tolerance matching ``dtype``."""
    return ATOL[dtype]


@pytest.fixture
def one_torch_thread():
    """One torch intra-op thread for the duration of a test.

    Small tensors gain nothing from a second thread, and on a busy 2-core machine OpenMP
    spin-waiting makes them several times slower (see README, known limitations).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance (two CPUs, one thread per worker) shared by the Ray tests."""
    ray = pytest.importorskip("ray")
    # address="local" starts a fresh instance even if `ray start` left a cluster record.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()
