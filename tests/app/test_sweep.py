"""Hyperparameter sweeps: grid parsing, job expansion, resumable results, Ray equals local."""

import json

import pytest

from qdl import QDLError
from qdl.app import report, sweep
from qdl.cli import main

BASE = {"data": {"name": "xor"}, "model": {"kind": "mlp", "hidden": [4]},
        "train": {"epochs": 2}}


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small models: one torch thread (see tests/conftest.py)."""


def test_grid_values_are_typed():
    """Numbers, booleans, strings and ;-separated lists parse to their JSON types."""
    grid = sweep.parse_grid(["train.lr=0.1,1e-2", "model.hidden=[4];[8,8]", "model.kind=mlp"])
    assert grid == [("train.lr", [0.1, 0.01]), ("model.hidden", [[4], [8, 8]]),
                    ("model.kind", ["mlp"])]


@pytest.mark.parametrize("item", ["lr=0.1", "train.lr", "train.lr=", "a.b.c=1"])
def test_bad_grid_items(item):
    """Grid items must look like SECTION.KEY=V1,V2."""
    with pytest.raises(QDLError, match=r"SECTION\.KEY"):
        sweep.parse_grid([item])


def test_jobs_are_the_product_times_seeds_and_validated():
    """Each grid point × seed is one job; an invalid value fails before anything runs."""
    jobs = sweep.sweep_jobs(BASE, sweep.parse_grid(["train.lr=0.1,0.2", "model.hidden=[2];[3]"]),
                            seeds=2)
    assert len(jobs) == 8 and len({j.key for j in jobs}) == 8
    cfg = jobs[-1].config()
    assert cfg["train"] == {"epochs": 2, "lr": 0.2, "seed": 1}
    assert cfg["model"]["hidden"] == [3]
    with pytest.raises(QDLError, match=r"train\.epochs"):
        sweep.sweep_jobs(BASE, sweep.parse_grid(["train.epochs=0"]), seeds=1)


def test_sweep_job_equals_a_training_run(tmp_path):
    """A sweep job's score is the test metric of the same config trained by qdl train."""
    from qdl.app import runner
    from qdl.app.config import validate

    (job,) = sweep.sweep_jobs(BASE, sweep.parse_grid(["train.lr=0.05"]), seeds=1)
    result = sweep.run_sweep_job(job)
    run = runner.train_run(validate(job.config()), tmp_path / "run")
    assert result["score"] == run["test"]["accuracy"]
    assert result["epoch"] == run["selected_epoch"]


def test_cli_sweep_resumes_and_tabulates(tmp_path, capsys):
    """`qdl sweep` writes results.jsonl and sweep.md; a rerun computes nothing again."""
    config = tmp_path / "base.json"
    config.write_text(json.dumps(BASE))
    args = ["sweep", str(config), "--grid", "train.lr=0.01,0.1", "--seeds", "2",
            "-o", str(tmp_path / "s"), "-q"]
    assert main(args) == 0
    lines = (tmp_path / "s" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4
    table = (tmp_path / "s" / "sweep.md").read_text()
    assert "| 0.01 |" in table and "| 0.1 |" in table
    assert main(args) == 0
    assert (tmp_path / "s" / "results.jsonl").read_text().splitlines() == lines


def test_sweep_on_ray_equals_local(ray_local):
    """Sweep jobs run as Ray tasks give the local scores."""
    jobs = sweep.sweep_jobs(BASE, sweep.parse_grid(["train.lr=0.05"]), seeds=2)
    local = {j.key: sweep.run_sweep_job(j)["score"] for j in jobs}
    remote = {r["key"]: r["score"]
              for r in report.ray_executor("local")(sweep.run_sweep_job, jobs)}
    assert remote == local
