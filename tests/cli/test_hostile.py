"""Hostile configs, CSV files, checkpoints and output paths: one `qdl: error:` line, status 2."""

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qdl.cli import main


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small models: one torch thread (see tests/conftest.py)."""


def _one_line(capsys, needle: str) -> str:
    """The captured stderr is exactly one `qdl: error:` line containing ``needle``."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Warning" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qdl: error:"), err
    assert needle in lines[0], lines[0]
    return lines[0]


def _train(*args: str) -> int:
    return main(["train", *args, "-q"])


CONFIGS = [
    ("train:\n  seed: -5", "train.seed: Input should be greater than or equal to 0"),
    ("train:\n  seed: 100000000000000000000", "train.seed: Input should be less than or equal"),
    ("train:\n  lr: 1.0e300", "train.lr: Input should be less than or equal to 10"),
    ("train:\n  lr: 0", "train.lr: Input should be greater than or equal"),
    ("train:\n  lr: -0.1", "train.lr: Input should be greater than or equal"),
    ("train:\n  lr: .nan", "train.lr:"),
    ("train:\n  lr: .inf", "train.lr:"),
    ("train:\n  weight_decay: 1.0e39", "train.weight_decay: Input should be less than"),
    ("train:\n  epochs: 1000000000", "train.epochs: Input should be less than or equal"),
    ("train:\n  batch_size: 0", "train.batch_size: Input should be greater than"),
    ("train:\n  batch_size: 100000000000000000000", "train.batch_size: Input should be less"),
    ("model:\n  hidden: [100000000000]", "model.hidden: model.hidden widths must be between"),
    ("model:\n  hidden: [-3]", "model.hidden: model.hidden widths must be between"),
    ("model:\n  layers: 100000000", "model.layers: Input should be less than or equal to 1000"),
    ("model:\n  qubits: 60", "model.qubits: Input should be less than or equal to 24"),
    ("data:\n  name: moons\n  pca: 10000000", "data.pca: data.pca must be between 1 and"),
    ("data:\n  name: moons\n  max_samples: 100000000000000", "data.max_samples: Input should"),
]


@pytest.mark.parametrize("text, needle", CONFIGS, ids=[c[1].split(":")[0] for c in CONFIGS])
def test_hostile_configs(text, needle, tmp_path, capsys):
    """Values that pass the type check but would crash or hang later name the key."""
    path = tmp_path / "c.yaml"
    path.write_text(text if text.startswith("data") else f"data:\n  name: moons\n{text}\n")
    assert _train(str(path), "-o", str(tmp_path / "run")) == 2
    _one_line(capsys, needle)
    assert not (tmp_path / "run").exists()


def test_widths_beyond_memory_are_refused_before_allocation(tmp_path, capsys, monkeypatch):
    """Hidden widths whose weights cannot fit in memory are refused, naming model.hidden."""
    from qdl.app import runner

    monkeypatch.setattr(runner, "_available_memory", lambda device: 2**30)
    assert _train("--dataset", "moons", "--model", "mlp", "--hidden", "50000,50000",
                  "-o", str(tmp_path / "run")) == 2
    _one_line(capsys, "more than the 1.0 GiB free on cpu; lower model.hidden")


def _rows(n: int = 80) -> list[str]:
    rng = np.random.default_rng(0)
    return [f"{a:.3f},{b:.3f},{int(a > b)}" for a, b in rng.normal(size=(n, 2))]


def _csv(tmp_path: Path, edits: dict[int, str], header: str = "a,b,y") -> Path:
    rows = _rows()
    for index, row in edits.items():
        rows[index] = row
    path = tmp_path / "d.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


CSVS = [
    ({60: "inf,0.5,1"}, "column 'a' holds inf in data row 61 (1 = the first row below"),
    ({60: "0.5,-inf,1"}, "column 'b' holds -inf in data row 61"),
    ({60: "0.5,0.2,inf"}, "column 'y' holds inf in data row 61"),
    ({60: "0.5,0.2,"}, "the target column 'y' is empty or NaN in data row 61"),
    ({60: "0.5,0.2,nan"}, "the target column 'y' is empty or NaN in data row 61"),
    ({3: "1e300,0.2,1", 4: "-1e300,0.2,0"}, "feature column 'a' holds values too large"),
]


@pytest.mark.parametrize("edits, needle", CSVS, ids=[c[1][:22] for c in CSVS])
def test_hostile_csvs(edits, needle, tmp_path, capsys):
    """inf anywhere, a missing target or overflowing values: the row and column, no warnings."""
    path = _csv(tmp_path, edits)
    assert _train("--data", str(path), "--target", "y", "--model", "logistic", "--epochs", "1",
                  "-o", str(tmp_path / "run")) == 2
    _one_line(capsys, needle)


def test_regression_target_too_large_is_named(tmp_path, capsys):
    """A regression target whose spread overflows names the target, before training."""
    path = _csv(tmp_path, {3: "1,0.2,1e300", 4: "1,0.2,-1e300"})
    assert _train("--data", str(path), "--target", "y", "--task", "regression", "--model",
                  "logistic", "--epochs", "1", "-o", str(tmp_path / "run")) == 2
    _one_line(capsys, "the target 'y' holds values too large")


def test_missing_feature_values_are_imputed_silently(tmp_path, capsys):
    """Empty feature cells keep their documented median imputation (no error, no warning)."""
    path = _csv(tmp_path, {5: ",0.2,1", 6: "nan,0.1,0"})
    assert _train("--data", str(path), "--target", "y", "--model", "logistic", "--epochs", "1",
                  "-o", str(tmp_path / "run")) == 0
    assert capsys.readouterr().err == ""


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _rewrite(key, value):
    def edit(path: Path) -> None:
        ckpt = torch.load(path, weights_only=True)
        ckpt[key] = value(ckpt) if callable(value) else value
        torch.save(ckpt, path)
    return edit


def _write(data: bytes):
    return lambda path: path.write_bytes(data)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _evil(path: Path) -> None:
    torch.save({"format": 1, "model": _Evil()}, path)


def _plain_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"format": 1, "model": _Evil()}))


def _wrong_shape(ckpt):
    return {k: torch.zeros(7, 7) for k in ckpt["model"]}


def _wrong_groups(ckpt):
    return {"state": {}, "param_groups": []}


def _bad_moments(ckpt):
    state = {k: {**v, "exp_avg": torch.zeros(9)} for k, v in ckpt["optimizer"]["state"].items()}
    return {**ckpt["optimizer"], "state": state}


CHECKPOINTS = [
    ("model.pt", _write(b""), "model.pt is empty (0 bytes), not a QDL checkpoint"),
    ("model.pt", _write(np.random.default_rng(0).bytes(1000)), "not a QDL checkpoint"),
    ("model.pt", _truncate, "model.pt: the file is truncated or corrupt"),
    ("model.pt", _evil, "not a QDL checkpoint (refused to unpickle posix.system"),
    ("model.pt", _plain_pickle, "not a QDL checkpoint (refused to unpickle posix.system"),
    ("model.pt", lambda path: torch.save([1, 2], path), "is not a QDL checkpoint (format 1)"),
    ("model.pt", _write(pickle.dumps([1, 2])), "not a QDL checkpoint (unreadable pickle data"),
    ("model.pt", _rewrite("model", {}), "does not fit its configured model: it lacks weight"),
    ("model.pt", _rewrite("model", _wrong_shape),
     "weight '0.weight' has shape (7, 7), the model needs (2, 2)"),
    ("model.pt", _rewrite("model", 5), "model.pt is damaged: 'model' is a int"),
    ("model.pt", _rewrite("preprocessor", lambda c: {**c["preprocessor"], "colour": 1}),
     "model.pt is damaged: the saved preprocessing has unknown field 'colour'"),
    ("model.pt", _rewrite("preprocessor", lambda c: {**c["preprocessor"], "mean": [0.0]}),
     "mean/std do not have the 2 encoded columns"),
    ("model.pt", _rewrite("config", {"data": {"name": "moons"}, "train": {"seed": -1}}),
     "model.pt: train.seed: Input should be greater than or equal to 0"),
    ("checkpoint.pt", _rewrite("history", 5), "checkpoint.pt is damaged: 'history' is a int"),
    ("checkpoint.pt", _rewrite("optimizer", _wrong_groups), "optimizer state does not fit"),
    ("checkpoint.pt", _rewrite("optimizer", _bad_moments), "optimizer state does not fit"),
    ("checkpoint.pt", _rewrite("epoch", 1), "epoch 1 but 2 history records"),
    ("checkpoint.pt", _write(b""), "checkpoint.pt is empty (0 bytes)"),
]


@pytest.mark.parametrize("name, damage, needle", CHECKPOINTS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CHECKPOINTS)])
def test_hostile_checkpoints(name, damage, needle, finished, tmp_path, capsys):
    """Corrupt, truncated, foreign or malicious run files: one line naming the file."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    damage(run / name)
    # model.pt is read by evaluate and predict, checkpoint.pt by --resume.
    args = ["evaluate", str(run)] if name == "model.pt" else ["train", "--resume", str(run),
                                                              "-q"]
    assert main(args) == 2
    assert str(run / name) in _one_line(capsys, needle)


def test_malicious_pickle_runs_no_code(finished, tmp_path, capfd):
    """A checkpoint whose unpickling would run a command is refused without running it."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    _plain_pickle(run / "model.pt")
    assert main(["predict", str(run), str(tmp_path / "x.csv"), "-o", str(tmp_path / "o.csv")])\
        == 2
    out, err = capfd.readouterr()
    assert "pwned" not in out and "weights_only" not in err


def test_unfinished_run_says_which_epoch_it_uses(tmp_path, capsys):
    """evaluate/predict on a run stopped after epoch 1 of 3 warn and report that epoch."""
    from qdl.app import config, runner

    cfg = config.validate({"data": {"name": "moons"}, "model": {"kind": "logistic"},
                           "train": {"epochs": 3, "select": "last"}})

    def stop(record):
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.train_run(cfg, tmp_path / "run", on_epoch=stop)
    assert main(["evaluate", str(tmp_path / "run"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["weights"] == "epoch 1 of 3 (unfinished run)"
    assert err.startswith("qdl: warning:") and err.count("\n") == 1
    assert "did not finish" in err and "epoch 1" in err and "--resume" in err
    (tmp_path / "x.csv").write_text("x0,x1\n0.1,0.2\n")
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "x.csv"), "-o",
                 str(tmp_path / "o.csv")]) == 0
    assert "epoch 1 of 3" in capsys.readouterr().err


def test_csv_path_is_stored_absolute(tmp_path, monkeypatch, capsys):
    """A run trained on a relative CSV path evaluates and resumes from another directory."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    _csv(tmp_path / "work", {})
    assert _train("--data", "d.csv", "--target", "y", "--model", "logistic", "--epochs", "1",
                  "-o", str(tmp_path / "run")) == 0
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert str(tmp_path / "work" / "d.csv") in capsys.readouterr().out
    (tmp_path / "work" / "d.csv").rename(tmp_path / "moved.csv")
    assert main(["evaluate", str(tmp_path / "run")]) == 2
    line = _one_line(capsys, f"no file at {tmp_path / 'work' / 'd.csv'}")
    assert "--data" in line
    assert main(["train", "--resume", str(tmp_path / "run"), "-q"]) == 2
    _one_line(capsys, "put it back there to resume")


@pytest.mark.parametrize("target", ["file", "under-file"])
def test_diagnose_output_that_cannot_be_a_folder(target, tmp_path, capsys):
    """diagnose -o onto an existing file, or below one, is one line before any sampling."""
    (tmp_path / "c.json").write_text('{"template": "hardware_efficient", "qubits": [2], '
                                     '"layers": [1], "samples": 4, "fidelity_samples": 4}')
    (tmp_path / "taken").write_text("mine")
    out = tmp_path / "taken" if target == "file" else tmp_path / "taken" / "sub"
    assert main(["diagnose", str(tmp_path / "c.json"), "-o", str(out), "--no-progress"]) == 2
    _one_line(capsys, "taken")
    assert (tmp_path / "taken").read_text() == "mine"


ENOSPC = """
import errno, sys, torch
from qdl.cli import main
save, calls = torch.save, []

def full(obj, f, *args, **kwargs):
    calls.append(f.name)
    if str(f.name).endswith("checkpoint.pt.tmp") and len(calls) > 1:
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    return save(obj, f, *args, **kwargs)

torch.save = full
sys.exit(main(sys.argv[1:]))
"""


def test_disk_full_during_a_checkpoint_is_one_line_and_resumable(tmp_path):
    """ENOSPC in a checkpoint write (real subprocess): one line, no .tmp, --resume finishes."""
    run = tmp_path / "run"
    args = ["train", "--dataset", "moons", "--model", "logistic", "--epochs", "3", "-q",
            "-o", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = subprocess.run([sys.executable, "-c", ENOSPC, *args], capture_output=True,
                          text=True, env=env, timeout=300)
    assert full.returncode == 2
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], full.stderr
    assert f"qdl train --resume {run}" in lines[0]
    assert not (run / "checkpoint.pt.tmp").exists()
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert main(["train", "--resume", str(run), "-q"]) == 0
    assert json.loads((run / "metrics.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("case", ["config", "checkpoint"])
def test_hostile_inputs_through_the_console(case, finished, tmp_path):
    """As a real process: exit status 2, one stderr line, no traceback and nothing on stdout."""
    if case == "config":
        (tmp_path / "c.yaml").write_text("data:\n  name: moons\ntrain:\n  seed: -5\n")
        args = ["train", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "run"), "-q"]
    else:
        shutil.copytree(finished, tmp_path / "run")
        (tmp_path / "run" / "model.pt").write_bytes(b"")
        args = ["evaluate", str(tmp_path / "run")]
    done = subprocess.run([sys.executable, "-m", "qdl.cli", *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("qdl: error:"), done.stderr
