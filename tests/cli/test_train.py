"""`qdl train | evaluate | predict | datasets` end to end, kill-and-resume, one-line errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from qdl.cli import main

TINY = """data:
  name: moons
model:
  kind: hybrid
  qubits: 2
  layers: 1
  hidden: [4]
train:
  epochs: 3
  batch_size: 64
  seed: 3
"""

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small models: one torch thread (see tests/conftest.py)."""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def _check_metrics(metrics: dict, epochs: int) -> None:
    """The promised metrics.json fields, with the right types and ranges."""
    assert metrics["status"] == "complete"
    assert len(metrics["epochs"]) == epochs
    for k, record in enumerate(metrics["epochs"], 1):
        assert record["epoch"] == k
        for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "seconds"):
            assert isinstance(record[key], float)
        assert 0 <= record["val_accuracy"] <= 1
    assert set(metrics["test"]) == {"loss", "accuracy", "macro_f1"}
    params = metrics["parameters"]
    assert params["quantum"] > 0 and params["classical"] > 0
    assert params["total"] == params["quantum"] + params["classical"]
    assert metrics["qubits"] == 2
    assert metrics["wall_time_s"] > 0
    assert metrics["dataset"]["rows"] == {"train": 280, "val": 40, "test": 80}


def test_train_writes_every_promised_file(config, tmp_path, capsys):
    """A tiny run writes config, checkpoints, metrics and three valid PNG plots."""
    run = tmp_path / "run"
    assert main(["train", str(config), "-o", str(run), "-q"]) == 0
    files = {p.name for p in run.iterdir()}
    assert {"config.yaml", "checkpoint.pt", "model.pt", "metrics.json", "learning_curves.png",
            "confusion_matrix.png", "circuit.png"} <= files
    metrics = json.loads((run / "metrics.json").read_text())
    _check_metrics(metrics, 3)
    import matplotlib.image

    for name in metrics["plots"]["files"]:
        assert (run / name).read_bytes()[:8] == PNG
        assert matplotlib.image.imread(run / name).ndim == 3
    out = capsys.readouterr().out
    assert "test: loss" in out and str(run) in out


def test_flags_override_the_config(config, tmp_path):
    """Command-line flags replace config values, and the resolved config is saved."""
    run = tmp_path / "run"
    assert main(["train", str(config), "-o", str(run), "-q", "--epochs", "1",
                 "--model", "logistic", "--dataset", "xor"]) == 0
    import yaml

    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["epochs"] == 1 and saved["model"]["kind"] == "logistic"
    assert saved["data"]["name"] == "xor"


def test_train_from_flags_on_a_csv_then_evaluate_and_predict(tmp_path, capsys):
    """Train on a user CSV from flags alone; evaluate and predict with the saved run."""
    frame = pd.DataFrame({"a": range(60), "b": [i % 7 for i in range(60)]})
    frame["label"] = ["hi" if a > 30 else "lo" for a in frame["a"]]
    frame.to_csv(tmp_path / "d.csv", index=False)
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "d.csv"), "--target", "label",
                 "--model", "mlp", "--epochs", "2", "-o", str(run), "-q"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "test split" in result["data"] and 0 <= result["accuracy"] <= 1
    frame.drop(columns=["label"]).to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(run), str(tmp_path / "new.csv"), "-o",
                 str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 60 and set(pred["prediction"]) <= {"hi", "lo"}


def _bad_csvs(tmp_path: Path) -> None:
    (tmp_path / "garbage.csv").write_bytes(b"\xff\xfe\x00\x01\x00")
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_csv(tmp_path / "xy.csv", index=False)
    pd.DataFrame({"x0": [0.1], "x1": [0.2], "x2": [0.3]}).to_csv(tmp_path / "three.csv",
                                                                   index=False)
    pd.DataFrame({"x0": [0.1]}).to_csv(tmp_path / "one.csv", index=False)
    (tmp_path / "bad.yaml").write_text("data:\n  name: moons\ntrain:\n  epochs: ten\n")
    (tmp_path / "extra.yaml").write_text("data:\n  name: moons\n  colour: red\n")


@pytest.mark.parametrize("args, needle", [
    (["train", "{t}/bad.yaml"], "train.epochs"),
    (["train", "{t}/extra.yaml"], "data.colour: unknown key"),
    (["train", "{t}/none.yaml"], "no such config file"),
    (["train", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["train", "--data", "{t}/garbage.csv", "--target", "y"], "cannot read"),
    (["train", "--data", "{t}/missing.csv", "--target", "y"], "no such file"),
    (["train", "--data", "{t}/xy.csv", "--target", "label"], "no column 'label'"),
    (["train", "--data", "{t}/xy.csv"], "data.csv needs data.target"),
    (["train", "--dataset", "moons", "--epochs", "-1"], "train.epochs"),
    (["train", "--resume", "{t}/nowhere"], "no checkpoint"),
    (["evaluate", "{t}/nowhere"], "no such run directory"),
    (["predict", "{run}", "{t}/three.csv", "-o", "{t}/o.csv"], "has 3 feature column"),
    (["predict", "{run}", "{t}/one.csv", "-o", "{t}/o.csv"], "has 1 feature column"),
    (["predict", "{run}", "{t}/garbage.csv", "-o", "{t}/o.csv"], "cannot read"),
])
def test_errors_are_one_line_with_status_2(args, needle, tmp_path, capsys, finished):
    """Config errors, bad data and wrong feature counts: one 'qdl: error:' line, status 2."""
    _bad_csvs(tmp_path)
    args = [a.replace("{t}", str(tmp_path)).replace("{run}", str(finished)) for a in args]
    assert main([*args, "-q"] if args[0] == "train" else args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qdl: error:") and "\n" not in err
    assert needle in err


def test_datasets_lists_the_registry(capsys):
    """`qdl datasets --json` lists every registry entry with its task and size."""
    from qdl.data import DATASETS

    assert main(["datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(DATASETS)
    assert {r["task"] for r in rows} == {"classification", "regression"}


def _wait_for_epochs(path: Path, n: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            done = len(json.loads(path.read_text())["epochs"])
            if done >= n:
                return
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be killed: {proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail("training made no progress")


def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    """SIGKILL mid-run, then `qdl train --resume`: final metrics equal an uninterrupted run."""
    config = tmp_path / "slow.yaml"
    config.write_text(TINY.replace("epochs: 3", "epochs: 12").replace("batch_size: 64",
                                                                        "batch_size: 4"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "qdl.cli", "train", str(config), "-q"]
    proc = subprocess.Popen([*cmd, "-o", str(tmp_path / "cut")], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_epochs(tmp_path / "cut" / "metrics.json", 3, proc, timeout=120)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert partial["status"] == "running" and 3 <= len(partial["epochs"]) < 12
    resume = [sys.executable, "-m", "qdl.cli", "train", "--resume", str(tmp_path / "cut"), "-q"]
    subprocess.run(resume, env=env, check=True, capture_output=True, timeout=300)
    subprocess.run([*cmd, "-o", str(tmp_path / "full")], env=env, check=True,
                   capture_output=True, timeout=300)
    cut = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    strip = [[{k: v for k, v in r.items() if k != "seconds"} for r in m["epochs"]]
             for m in (cut, full)]
    assert strip[0] == strip[1]
    assert cut["test"] == full["test"]


def test_ddp_worker_errors_are_one_line(tmp_path, capfd):
    """A data error inside --ddp workers is the same one-line error as without --ddp."""
    path = tmp_path / "few.csv"
    path.write_text("a,y\n" + "\n".join(f"{i},{i // 2}" for i in range(8)) + "\n")
    args = ["train", "--data", str(path), "--target", "y", "--epochs", "1", "-q"]
    assert main([*args, "-o", str(tmp_path / "one")]) == 2
    single = capfd.readouterr().err.strip()
    assert main([*args, "-o", str(tmp_path / "two"), "--ddp", "2"]) == 2
    assert capfd.readouterr().err.strip() == single


def test_demo_with_other_settings_does_not_reuse_the_old_runs(tmp_path, capsys):
    """`qdl demo --epochs 2` into a directory of a 1-epoch demo says so, not old results."""
    out = str(tmp_path / "demo")
    assert main(["demo", "--epochs", "1", "-o", out]) == 0
    capsys.readouterr()
    assert main(["demo", "--epochs", "2", "-o", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("qdl: error:") and "train.epochs" in err


# `qdl train` in a real process whose output goes through one pipe (stdout and stderr, as CI
# logs and notebooks read it), with a marker written to the same pipe when torch starts to
# import: the order of the two says what was printed before the heavy work.
WATCH_TORCH = """
import sys


class _Torch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            print("<torch import>", file=sys.stderr, flush=True)


sys.meta_path.insert(0, _Torch())
from qdl.cli import main

sys.exit(main(sys.argv[1:]))
"""


def _watched(args: list[str], cwd: Path) -> tuple[int, list[str]]:
    done = subprocess.run([sys.executable, "-c", WATCH_TORCH, *args], cwd=cwd, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    return done.returncode, done.stdout.splitlines()


def test_train_says_what_it_does_before_importing_torch(tmp_path):
    """Through a pipe, the first line names the model, the data and the run directory, and
    comes before torch is imported; the usual output follows."""
    code, lines = _watched(["train", "--dataset", "moons", "--model", "logistic", "--epochs",
                            "1", "-o", "run"], tmp_path)
    assert code == 0, lines
    assert lines[0] == ("qdl train: logistic model on moons (400 rows), 1 epoch, into run; "
                        "loading torch, the data and the model ..."), lines
    assert lines[1] == "<torch import>", lines
    assert "run: run" in lines


@pytest.mark.parametrize("args, needle", [
    (["train", "bad.yaml"], "train.epochs"),
    (["train", "extra.yaml"], "data.colour: unknown key"),
    (["train", "none.yaml"], "no such config file"),
    (["train", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["train", "--data", "missing.csv", "--target", "y"], "no such file"),
    (["train", "--dataset", "moons", "--qubits", "99"], "model.qubits"),
])
def test_config_errors_are_one_line_before_torch(args, needle, tmp_path):
    """Without -q too, a bad config or source is the only output: one `qdl: error:` line,
    exit status 2, and torch is never imported."""
    _bad_csvs(tmp_path)
    code, lines = _watched(args, tmp_path)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("qdl: error:") and needle in lines[0], lines
