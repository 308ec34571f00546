"""Data-parallel training (torch.distributed, gloo): two processes match one process."""

import pytest

from qdl import QDLError
from qdl.app import runner
from qdl.app.config import validate

CFG = {"data": {"name": "moons"},
       "model": {"kind": "hybrid", "qubits": 2, "layers": 1, "hidden": [4]},
       # 280 training rows in batches of 25: the last batch (5 rows) splits 3 + 2, so the
       # unequal-share weighting is exercised.
       "train": {"epochs": 3, "batch_size": 25, "seed": 5}}


def test_two_processes_match_one_process(tmp_path, one_torch_thread):
    """--ddp 2 takes the same steps as single-process training (to float32 rounding)."""
    cfg = validate(CFG)
    single = runner.train_run(cfg, tmp_path / "one")
    seen = []
    double = runner.train_run(cfg, tmp_path / "two", ddp=2, on_epoch=seen.append)
    assert double["processes"] == 2 and len(seen) == 3
    for a, b in zip(single["epochs"], double["epochs"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4, abs=1e-5)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4, abs=1e-5)
    assert double["test"]["loss"] == pytest.approx(single["test"]["loss"], rel=1e-4, abs=1e-5)
    assert double["test"]["accuracy"] == single["test"]["accuracy"]
    again = runner.load_run(tmp_path / "two")
    assert runner.parameter_counts(again.model) == single["parameters"]


def test_bad_process_counts_are_errors(tmp_path):
    """ddp must be a positive int."""
    with pytest.raises(QDLError, match="ddp must be"):
        runner.train_run(validate(CFG), tmp_path, ddp=0)


def test_worker_errors_surface_as_one_line(tmp_path):
    """A QDLError inside a worker is the same one-line error as in one process, not a hang."""
    cfg = validate({**CFG, "data": {"csv": str(tmp_path / "missing.csv"), "target": "y"}})
    with pytest.raises(QDLError, match=r"^no such file: .*missing.csv$"):
        runner.train_run(cfg, tmp_path / "run", ddp=2)


def test_interrupt_stops_the_workers(tmp_path):
    """Ctrl-C (or SIGINT) in the parent stops every worker: no orphan keeps writing."""
    import multiprocessing
    import time

    cfg = validate({**CFG, "train": {**CFG["train"], "epochs": 40}})

    def stop(record):
        if record["epoch"] >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.train_run(cfg, tmp_path, ddp=2, on_epoch=stop)
    assert multiprocessing.active_children() == []
    saved = runner.load_checkpoint(tmp_path / runner.CHECKPOINT)["epoch"]
    time.sleep(2)
    assert runner.load_checkpoint(tmp_path / runner.CHECKPOINT)["epoch"] == saved < 40
