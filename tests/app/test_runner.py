"""Training runs: metrics against scikit-learn, every model kind, checkpoints and resume."""

import errno
import json
import os
import pickle
import re

import numpy as np
import pandas as pd
import pytest
import torch

from qdl import QDLError
from qdl.app import runner
from qdl.app.config import validate
from qdl.data import Preprocessor
from qdl.errors import QDLWarning


def _cfg(**sections):
    raw = {"data": {"name": "moons"}, "train": {"epochs": 2, "batch_size": 64}}
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return validate(raw)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small models: one torch thread (see tests/conftest.py)."""


def test_classification_metrics_match_scikit_learn(rng):
    """Accuracy, macro-F1 and cross-entropy equal scikit-learn's on random logits."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    classes = ["a", "b", "c"]
    pre = Preprocessor("classification", "t", ["x"], classes=classes)
    logits = torch.as_tensor(rng.normal(size=(50, 3)))
    y = torch.as_tensor(rng.integers(0, 3, 50))
    got = runner.metrics(logits, y, pre)
    pred = logits.argmax(-1).numpy()
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert got["loss"] == pytest.approx(log_loss(y, logits.softmax(-1).numpy()))


def test_regression_metrics_match_scikit_learn(rng):
    """RMSE (in target units) and R² equal scikit-learn's."""
    from sklearn.metrics import mean_squared_error, r2_score

    pre = Preprocessor("regression", "t", ["x"], target_mean=2.0, target_std=3.0)
    out = torch.as_tensor(rng.normal(size=(40, 1)))
    y = torch.as_tensor(rng.normal(size=(40, 1)))
    got = runner.metrics(out, y, pre)
    truth, pred = y.numpy() * 3 + 2, out.numpy() * 3 + 2
    assert got["rmse"] == pytest.approx(mean_squared_error(truth, pred) ** 0.5)
    assert got["r2"] == pytest.approx(r2_score(truth, pred))


def test_confusion_matches_scikit_learn(rng):
    """Rows are true classes and columns predictions, as in scikit-learn."""
    from sklearn.metrics import confusion_matrix

    y, p = rng.integers(0, 4, 100), rng.integers(0, 4, 100)
    got = runner.confusion(torch.as_tensor(p), torch.as_tensor(y), 4)
    np.testing.assert_array_equal(got.numpy(), confusion_matrix(y, p, labels=range(4)))


@pytest.mark.parametrize("kind, data, extra", [
    ("hybrid", "moons", {}),
    ("vqc", "iris", {"qubits": 4, "layers": 1}),
    ("qcnn", "breast-cancer", {"qubits": 4}),
    ("quanvolution", "digits", {}),
    ("logistic", "wine", {}),
    ("mlp", "chembl-pic50", {"hidden": [8]}),
    ("hybrid", "chembl-pic50", {"qubits": 2, "layers": 1}),
])
def test_every_model_kind_trains(kind, data, extra):
    """Each model kind builds for its dataset, trains two epochs and reports test metrics."""
    cfg = _cfg(data={"name": data, "max_samples": 120}, model={"kind": kind, **extra})
    trainer = runner.Trainer(cfg, runner.prepare(cfg))
    history = trainer.fit()
    assert len(history) == 2 and np.isfinite(history[-1]["train_loss"])
    test = trainer.test_metrics()
    assert ("accuracy" in test) == (trainer.data.pre.classes is not None)
    counts = runner.parameter_counts(trainer.model)
    manual = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    assert counts["total"] == manual
    assert (counts["quantum"] > 0) == (kind in ("hybrid", "vqc", "qcnn"))


def test_parameter_counts_split_quantum_and_classical():
    """A hybrid model's count splits into the circuit weights and the Linear layers."""
    cfg = _cfg(model={"qubits": 3, "layers": 2, "hidden": []})
    model = runner.build_model(cfg, runner.prepare(cfg).pre)
    # strongly entangling: 3 angles per wire per layer; pre-net Linear(2→3), head Linear(3→2).
    assert runner.parameter_counts(model) == {"quantum": 18, "classical": 9 + 8, "total": 35}


def test_classifier_only_models_refuse_regression():
    """vqc on a regression dataset is a clear error."""
    cfg = _cfg(data={"name": "chembl-pic50", "max_samples": 50}, model={"kind": "vqc"})
    with pytest.raises(QDLError, match="vqc is a classifier"):
        runner.build_model(cfg, runner.prepare(cfg).pre)


def test_quanvolution_needs_images():
    """quanvolution on a tabular dataset names the problem."""
    with pytest.raises(QDLError, match="needs an image dataset"):
        runner.prepare(_cfg(data={"name": "iris"}, model={"kind": "quanvolution"}))


def test_interrupted_run_resumes_to_identical_metrics(tmp_path):
    """A run stopped after epoch 2 and resumed ends exactly like an uninterrupted run."""
    cfg = _cfg(train={"epochs": 4, "batch_size": 16})
    full = runner.train_run(cfg, tmp_path / "full")

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.train_run(cfg, tmp_path / "cut", on_epoch=stop_after_two)
    saved = runner.load_checkpoint(tmp_path / "cut" / runner.CHECKPOINT)
    assert saved["epoch"] == 2
    resumed = runner.train_run(None, tmp_path / "cut", resume=True)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in full["epochs"]]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed["epochs"]] == strip
    assert resumed["test"] == full["test"]


def test_run_directory_refuses_to_overwrite(tmp_path):
    """Training into a directory that holds a run asks for --resume instead."""
    cfg = _cfg(train={"epochs": 1})
    runner.train_run(cfg, tmp_path)
    with pytest.raises(QDLError, match="--resume"):
        runner.train_run(cfg, tmp_path)


def test_checkpoints_refuse_arbitrary_pickles(tmp_path):
    """A checkpoint that is an arbitrary pickle is refused (weights_only loading)."""
    path = tmp_path / "checkpoint.pt"
    with open(path, "wb") as f:
        pickle.dump(pd.DataFrame({"a": [1]}), f, protocol=2)
    with pytest.raises(QDLError, match="cannot load"):
        runner.load_checkpoint(path)
    torch.save({"format": 99}, path)
    with pytest.raises(QDLError, match="not a QDL checkpoint"):
        runner.load_checkpoint(path)


def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    """If writing fails midway, the previous file is intact and no temporary is renamed."""
    path = tmp_path / "c.pt"
    runner.atomic_save({"v": 1}, path)

    def broken(obj, f):
        f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError):
        runner.atomic_save({"v": 2}, path)
    assert torch.load(path, weights_only=True) == {"v": 1}


def test_evaluate_and_predict_reuse_the_saved_preprocessing(tmp_path):
    """evaluate on a CSV equals the metrics of predict's output on the same rows."""
    cfg = _cfg(train={"epochs": 3})
    runner.train_run(cfg, tmp_path / "run")
    from qdl.data import load_dataset

    frame = load_dataset("moons").frame.iloc[:100]
    frame.to_csv(tmp_path / "rows.csv", index=False)
    result = runner.evaluate_run(tmp_path / "run", str(tmp_path / "rows.csv"))
    n = runner.predict_file(tmp_path / "run", str(tmp_path / "rows.csv"),
                            str(tmp_path / "out.csv"))
    out = pd.read_csv(tmp_path / "out.csv")
    assert n == 100
    accuracy = (out["prediction"].astype(str) == frame["label"].astype(str)).mean()
    assert result["accuracy"] == pytest.approx(accuracy)
    np.testing.assert_allclose(out[["p_0", "p_1"]].sum(axis=1), 1, atol=1e-6)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert runner.evaluate_run(tmp_path / "run")["accuracy"] == metrics["test"]["accuracy"]


def test_table_with_text_features_trains(tmp_path):
    """Categorical columns are one-hot encoded and missing numbers imputed end to end."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"n": rng.normal(size=80), "c": rng.choice(["u", "v"], 80)})
    frame.loc[3, "n"] = np.nan
    frame["y"] = np.where((frame["c"] == "u") ^ (frame["n"] > 0), "p", "q")
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    cfg = validate({"data": {"csv": str(path), "target": "y"},
                    "model": {"kind": "mlp"}, "train": {"epochs": 2}})
    trainer = runner.Trainer(cfg, runner.prepare(cfg))
    assert trainer.data.pre.n_features == 3
    assert len(trainer.fit()) == 2


@pytest.mark.parametrize("select", ["best_val", "last"])
def test_selected_weights_are_the_best_validation_epoch(tmp_path, select):
    """model.pt holds the epoch with the lowest validation loss (or the last epoch)."""
    cfg = _cfg(train={"epochs": 6, "lr": 0.2, "select": select})
    result = runner.train_run(cfg, tmp_path / "run")
    losses = [r["val_loss"] for r in result["epochs"]]
    expected = losses.index(min(losses)) + 1 if select == "best_val" else 6
    assert result["selected_epoch"] == expected
    # The saved model reproduces the selected epoch's validation loss.
    run = runner.load_run(tmp_path / "run")
    data = runner.prepare(cfg)
    val = runner.metrics(runner.predict_outputs(run.model, data.x["val"]), data.y["val"],
                         data.pre)
    assert val["loss"] == pytest.approx(losses[expected - 1], rel=1e-6)


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
    """A one-epoch logistic run on moons, shared by the predict/evaluate error tests."""
    run_dir = tmp_path_factory.mktemp("moons") / "run"
    runner.train_run(_cfg(model={"kind": "logistic"}, train={"epochs": 1}), run_dir)
    return run_dir


def test_predict_on_a_header_only_csv_is_an_error(moons_run, tmp_path):
    """A CSV with the right columns but no rows is refused, not a crash."""
    (tmp_path / "none.csv").write_text("x0,x1\n")
    with pytest.raises(QDLError, match="no data rows"):
        runner.predict_file(moons_run, str(tmp_path / "none.csv"), str(tmp_path / "o.csv"))


def test_predict_into_a_missing_directory_is_an_error(moons_run, tmp_path):
    """An output path in a directory that does not exist is a QDLError naming it."""
    from qdl.data import load_dataset

    load_dataset("moons").frame.iloc[:5].to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(QDLError, match=r"cannot write .*nowhere"):
        runner.predict_file(moons_run, str(tmp_path / "rows.csv"),
                            str(tmp_path / "nowhere" / "o.csv"))


def test_predict_reads_semicolon_files_like_evaluate(moons_run, tmp_path):
    """predict reads a semicolon-separated file with the same probabilities as a comma one."""
    from qdl.data import load_dataset

    frame = load_dataset("moons").frame.iloc[:20]
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_csv(tmp_path / "s.csv", index=False, sep=";", decimal=",")
    runner.predict_file(moons_run, str(tmp_path / "c.csv"), str(tmp_path / "c_out.csv"))
    runner.predict_file(moons_run, str(tmp_path / "s.csv"), str(tmp_path / "s_out.csv"))
    comma, semi = pd.read_csv(tmp_path / "c_out.csv"), pd.read_csv(tmp_path / "s_out.csv")
    np.testing.assert_allclose(semi[["p_0", "p_1"]], comma[["p_0", "p_1"]], atol=1e-6)


@pytest.mark.parametrize("inside", ["", "sub"])
def test_output_path_that_is_a_file_is_an_error(tmp_path, inside):
    """-o naming a file (or a path under a file) is a QDLError, not an OSError."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(QDLError, match="cannot create the run directory"):
        runner.train_run(_cfg(train={"epochs": 1}), tmp_path / "file" / inside)


def test_a_second_train_into_a_busy_directory_is_refused(tmp_path):
    """While one run trains into a directory, another run into it stops with a clear error."""
    cfg = _cfg(model={"kind": "logistic"}, train={"epochs": 1})
    refused = []

    def second(*_):
        with pytest.raises(QDLError, match="another qdl train is writing to") as info:
            runner.train_run(cfg, tmp_path / "run")
        refused.append(str(info.value))

    runner.train_run(cfg, tmp_path / "run", on_start=second)
    assert len(refused) == 1
    # The lock goes with the run: the finished directory can be resumed.
    assert runner.train_run(None, tmp_path / "run", resume=True)["status"] == "complete"


def test_resume_with_a_different_config_is_refused(tmp_path):
    """Resuming with a config other than the saved one names the differing keys."""
    cfg = _cfg(model={"kind": "logistic"}, train={"epochs": 1})
    first = runner.train_run(cfg, tmp_path)
    with pytest.raises(QDLError, match=r"other settings \(train.epochs\)"):
        runner.train_run(_cfg(model={"kind": "logistic"}, train={"epochs": 3}), tmp_path,
                         resume=True)
    assert runner.train_run(cfg, tmp_path, resume=True)["test"] == first["test"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_ddp_on_cuda_without_a_gpu_fails_before_spawning(tmp_path, monkeypatch):
    """device cuda with --ddp on a CPU machine is the one-line device error, no workers."""
    from qdl.app import distributed

    monkeypatch.setattr(distributed, "spawn_training", lambda *a, **k: pytest.fail("spawned"))
    with pytest.raises(QDLError, match="torch sees no CUDA device"):
        runner.train_run(_cfg(train={"device": "cuda"}), tmp_path, ddp=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("kind", ["hybrid", "vqc"])
def test_training_on_cuda_matches_cpu(tmp_path, kind):
    """train.device cuda trains on the GPU and ends with the CPU run's metrics."""
    results = {}
    for device in ("cpu", "cuda"):
        cfg = _cfg(model={"kind": kind}, train={"epochs": 2, "device": device,
                                                "dtype": "float64"})
        results[device] = runner.train_run(cfg, tmp_path / device)
    assert results["cuda"]["device"].startswith("cuda")
    for a, b in zip(results["cpu"]["epochs"], results["cuda"]["epochs"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6)
    assert results["cuda"]["test"]["accuracy"] == results["cpu"]["test"]["accuracy"]


def _full_disk_after(monkeypatch, n_ok):
    """torch.save fails with ENOSPC (after writing a little) once ``n_ok`` saves succeeded."""
    save, calls = torch.save, []

    def full(obj, f, *args, **kwargs):
        calls.append(f.name)
        if len(calls) > n_ok:
            f.write(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full)
    return save


def test_disk_full_keeps_the_last_checkpoint_and_resumes(tmp_path, monkeypatch):
    """ENOSPC in epoch 2's checkpoint: a QDLError with the fix, epoch 1 intact, no .tmp."""
    cfg = _cfg(model={"kind": "logistic"}, train={"epochs": 3})
    save = _full_disk_after(monkeypatch, 1)
    with pytest.raises(QDLError, match=r"cannot write .*checkpoint.pt: No space left on device; "
                                       r"the last finished epoch is saved; make room, then "
                                       r"continue with: qdl train --resume"):
        runner.train_run(cfg, tmp_path)
    assert not list(tmp_path.glob("*.tmp"))
    assert runner.load_checkpoint(tmp_path / runner.CHECKPOINT)["epoch"] == 1
    monkeypatch.setattr(torch, "save", save)
    assert runner.train_run(None, tmp_path, resume=True)["status"] == "complete"


def test_disk_full_before_any_checkpoint_says_train_again(tmp_path, monkeypatch):
    """With nothing saved yet the error asks for a new run, not --resume."""
    _full_disk_after(monkeypatch, 0)
    with pytest.raises(QDLError, match=r"checkpoint.pt: No space left on device; make room, "
                                       r"then train again"):
        runner.train_run(_cfg(model={"kind": "logistic"}, train={"epochs": 1}), tmp_path)
    assert not list(tmp_path.glob("*.tmp"))


def test_atomic_write_failure_removes_the_temporary_file(tmp_path, monkeypatch):
    """A failed write leaves the old file and no .tmp; the OSError names the target file."""
    path = tmp_path / "c.pt"
    runner.atomic_save({"v": 1}, path)
    _full_disk_after(monkeypatch, 0)
    with pytest.raises(OSError, match=r"c\.pt") as info:
        runner.atomic_save({"v": 2}, path)
    assert info.value.errno == errno.ENOSPC
    assert not (tmp_path / "c.pt.tmp").exists()
    assert torch.load(path, weights_only=True) == {"v": 1}


@pytest.mark.parametrize("content, needle", [
    (b"", "is empty (0 bytes)"),
    (b"PK\x03\x04 truncated zip", "truncated or corrupt"),
])
def test_unreadable_checkpoints_are_one_line(tmp_path, content, needle):
    """Empty or truncated files: QDLError naming the file (not EOFError or IndexError)."""
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(QDLError, match=re.escape(needle)) as info:
        runner.load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_malicious_pickles_get_our_message(tmp_path):
    """A pickle that would call os.system is refused by name, without torch's advice."""
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "checkpoint.pt"
    for write in (lambda: torch.save({"x": Evil()}, path),
                  lambda: path.write_bytes(pickle.dumps({"x": Evil()}))):
        write()
        with pytest.raises(QDLError, match=r"refused to unpickle posix.system") as info:
            runner.load_checkpoint(path)
        assert "weights_only" not in str(info.value)


def test_weights_of_another_shape_are_named(tmp_path):
    """A model.pt whose weight shapes do not fit the config names the weight and both shapes."""
    runner.train_run(_cfg(model={"kind": "logistic"}, train={"epochs": 1}), tmp_path)
    ckpt = torch.load(tmp_path / runner.MODEL, weights_only=True)
    ckpt["model"]["0.weight"] = torch.zeros(3, 3)
    torch.save(ckpt, tmp_path / runner.MODEL)
    with pytest.raises(QDLError, match=r"'0.weight' has shape \(3, 3\), the model needs "
                                       r"\(2, 2\)"):
        runner.load_run(tmp_path)


def test_unfinished_run_warns_which_epoch_it_evaluates(tmp_path):
    """A run stopped after epoch 2 of 4 evaluates the best epoch so far, and says so."""
    cfg = _cfg(model={"kind": "logistic"}, train={"epochs": 4})

    def stop(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.train_run(cfg, tmp_path, on_epoch=stop)
    best = runner.load_checkpoint(tmp_path / runner.CHECKPOINT)["best"]["epoch"]
    with pytest.warns(QDLWarning, match=f"stopped after epoch 2 of 4.*epoch {best}, the best"):
        result = runner.evaluate_run(tmp_path)
    assert result["weights"] == f"epoch {best} of 4 (unfinished run)"
    runner.train_run(None, tmp_path, resume=True)
    assert "unfinished" not in runner.evaluate_run(tmp_path)["weights"]


def test_relative_csv_paths_are_stored_absolute(tmp_path, monkeypatch):
    """data.csv is saved resolved against the training directory."""
    from qdl.data import load_dataset

    monkeypatch.chdir(tmp_path)
    load_dataset("moons").frame.to_csv("m.csv", index=False)
    cfg = _cfg(data={"name": None, "csv": "m.csv", "target": "label"},
               model={"kind": "logistic"}, train={"epochs": 1})
    runner.train_run(cfg, tmp_path / "run")
    assert runner.load_run(tmp_path / "run").cfg.data.csv == str(tmp_path / "m.csv")


def test_memory_check_names_the_key(monkeypatch):
    """Widths or circuits beyond the free memory are refused before anything is allocated."""
    monkeypatch.setattr(runner, "_available_memory", lambda device: 2**30)
    data = runner.prepare(_cfg())
    wide = _cfg(model={"kind": "mlp", "hidden": [40000, 40000]})
    with pytest.raises(QDLError, match=r"lower model.hidden"):
        runner.check_memory(wide, data.pre, torch.device("cpu"))
    big = _cfg(model={"qubits": 24}, train={"batch_size": 64})
    with pytest.raises(QDLError, match=r"24 qubits.*lower model.qubits or train.batch_size"):
        runner.check_memory(big, data.pre, torch.device("cpu"))
    runner.check_memory(_cfg(), data.pre, torch.device("cpu"))


def test_largest_seed_trains(tmp_path):
    """The top of the seed range (2**32 - 1) works in numpy's and torch's generators."""
    cfg = _cfg(model={"kind": "logistic"}, train={"epochs": 1, "seed": 2**32 - 1})
    assert runner.train_run(cfg, tmp_path)["status"] == "complete"
