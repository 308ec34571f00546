"""The model tests run small tensors: one torch thread (fixture in tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Applies ``one_torch_thread`` to every model test."""
