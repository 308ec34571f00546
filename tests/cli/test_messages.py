"""What the command says: progress in logs, reruns, resumes that extend, and plain errors."""

import io
import json

import numpy as np
import pytest

from qdl import QDLError
from qdl.cli import main
from qdl.progress import progress

pytest.importorskip("pydantic")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small models: one torch thread (see tests/conftest.py)."""


def test_progress_in_a_log_is_plain_periodic_lines():
    """Not a terminal: whole lines with the unit, the first and last step and few between."""
    stream = io.StringIO()
    with progress(stream=stream, interval=3600) as display:
        update = display.add("efficiency report", 5, "jobs")
        for _ in range(5):
            update(advance=1, stats="iris hybrid")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("efficiency report: 1/5 jobs  iris hybrid")
    assert lines[1].startswith("efficiency report: 5/5 jobs")
    assert "…" not in stream.getvalue()


def _train(tmp_path, *extra):
    return main(["train", "--dataset", "moons", "--model", "logistic", "--epochs", "2",
                 "--max-samples", "60", *extra])


def test_train_prints_the_run_path_once_and_progress_in_epochs(tmp_path, capsys):
    """`run: DIR` once; the progress lines (stderr is no terminal here) count epochs."""
    out = tmp_path / "run"
    assert _train(tmp_path, "-o", str(out)) == 0
    captured = capsys.readouterr()
    assert f"run: {out}\n" in captured.out
    assert "logistic on moons: 2/2 epochs" in captured.err


def test_resume_with_more_epochs_extends_a_finished_run(tmp_path, capsys):
    """A finished 2-epoch run resumed with --epochs 4 equals a 4-epoch run from the start."""
    short, full = tmp_path / "short", tmp_path / "full"
    assert _train(tmp_path, "-o", str(short)) == 0
    assert main(["train", "--resume", str(short), "--epochs", "4", "-q"]) == 0
    assert main(["train", "--dataset", "moons", "--model", "logistic", "--epochs", "4",
                 "--max-samples", "60", "-o", str(full), "-q"]) == 0
    a = json.loads((short / "metrics.json").read_text())
    b = json.loads((full / "metrics.json").read_text())
    assert len(a["epochs"]) == 4
    assert a["test"] == pytest.approx(b["test"], rel=1e-6)
    assert "(resumed)" in capsys.readouterr().out
    # Fewer epochs than are done, or another setting, is refused by name.
    assert main(["train", "--resume", str(short), "--epochs", "3"]) == 2
    assert "--epochs must be at least 4" in capsys.readouterr().err
    assert main(["train", "--resume", str(short), "--lr", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "only --epochs may change" in err and "--lr" in err


def test_demo_rerun_says_it_reuses_and_other_epochs_give_no_resume_advice(tmp_path, capsys):
    """A rerun says which runs it reuses; other settings get advice the demo can follow."""
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(["demo", "-o", str(out), "--epochs", "1"]) == 0
    assert "reusing the finished run" in capsys.readouterr().err
    assert main(["demo", "-o", str(out), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "train.epochs" in err and "resume" not in err and "-o DIR" in err


def test_unknown_config_key_suggests_the_closest(tmp_path, capsys):
    """A misspelt key is 'unknown key' with the nearest real one."""
    path = tmp_path / "c.yaml"
    path.write_text("data: {name: iris}\ntrain: {epocs: 3}\n")
    assert main(["train", str(path)]) == 2
    assert "train.epocs: unknown key (did you mean 'epochs'?)" in capsys.readouterr().err


def test_datasets_on_a_core_install_are_not_ready(monkeypatch, capsys):
    """Without the app extra no dataset is marked ready, and each names what to install."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] in
                        ("pydantic", "yaml", "sklearn", "pandas") else real(name, *a))
    assert main(["datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert not any(r["installed"] for r in rows)
    assert all("app" in r["needs"] for r in rows)


def test_quanvolution_summary_does_not_say_zero_quantum():
    """A fixed quantum filter is described as such."""
    from qdl.cli.train import _parameters_text

    text = _parameters_text({"parameters": {"quantum": 0, "classical": 50, "total": 50},
                             "qubits": 4})
    assert "0 quantum" not in text and "fixed 4-qubit circuit" in text


def test_qnn_classifier_refuses_a_continuous_target():
    """Float targets with many values are a regression target, not 19 classes."""
    pytest.importorskip("sklearn")
    from qdl.sklearn import QNNClassifier

    x = np.random.default_rng(0).normal(size=(80, 2))
    with pytest.raises(QDLError, match="QNNRegressor"):
        QNNClassifier(epochs=1).fit(x, np.round(x[:, 0] * 4))
    with pytest.raises(QDLError, match="QNNRegressor"):
        QNNClassifier(epochs=1).fit(x, x[:, 0])
