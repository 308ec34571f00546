"""Fixtures shared by the CLI tests."""

import pytest

from qdl.cli import main


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A finished 2-epoch logistic run on moons (model.pt and checkpoint.pt; read-only:
    tests that damage it work on a copy)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", "--dataset", "moons", "--model", "logistic", "--epochs", "2",
                 "-o", str(run), "-q"]) == 0
    return run
