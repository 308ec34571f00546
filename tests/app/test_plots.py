"""The pictures of a run: sizes that follow the content, whole circuits, marked epochs."""

import numpy as np
import pytest
import torch
from PIL import Image

from qdl.app import plots, runner
from qdl.app.config import validate
from qdl.circuit import draw
from qdl.models import HybridClassifier

matplotlib = pytest.importorskip("matplotlib")


def _circuit(layers):
    model = HybridClassifier(4, 2, 4, layers, [8])
    return runner.circuit_of(model)


def _size(path):
    with Image.open(path) as image:
        return image.size


def test_circuit_png_grows_with_the_circuit_and_pages_when_long(tmp_path):
    """More layers give a taller picture (wrapped blocks); very long circuits get more pages."""
    plt = plots.pyplot()
    small = plots.circuit_plot(plt, _circuit(1), tmp_path / "small.png")
    large = plots.circuit_plot(plt, _circuit(12), tmp_path / "large.png")
    assert len(small) == len(large) == 1
    (w1, h1), (w2, h2) = _size(small[0]), _size(large[0])
    assert h2 > 3 * h1 and w2 >= w1
    paged = plots.circuit_plot(plt, _circuit(12), tmp_path / "paged.png", blocks_per_page=2)
    assert [p.name for p in paged] == ["paged.png", "paged_2.png", "paged_3.png"]


def test_wrapped_drawing_holds_every_gate():
    """Wrapping cuts between gates only: every label of the whole drawing is in a block."""
    circuit = _circuit(6)
    blocks = plots.wrap_drawing(draw(circuit, max_width=1 << 62), columns=60)
    assert len(blocks) > 3
    assert all(len(line) <= 60 for block in blocks for line in block)
    text = "\n".join("\n".join(block) for block in blocks)
    for op in circuit.ops:
        if op.params:
            assert op.label() in text


def test_learning_curves_mark_the_kept_epoch_with_integer_ticks(tmp_path, monkeypatch):
    """A title, integer epoch ticks and a line at the selected epoch."""
    plt = plots.pyplot()
    seen = {}
    save = plots._save

    def capture(plt_, fig, path):
        ax = fig.axes[0]
        seen["ticks"] = [t for t in ax.get_xticks() if 1 <= t <= 7]
        seen["lines"] = [ln.get_label() for ln in ax.get_lines()]
        seen["title"] = fig._suptitle.get_text()
        return save(plt_, fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1 / e + 0.1 * (e == 3),
                "train_accuracy": 0.5, "val_accuracy": 0.6} for e in range(1, 8)]
    plots.learning_curves(plt, history, tmp_path / "lc.png", title="hybrid on x", selected=5)
    assert all(float(t).is_integer() for t in seen["ticks"])
    assert "kept: epoch 5" in seen["lines"]
    assert seen["title"].startswith("hybrid on x")


@pytest.mark.parametrize("n", [2, 10])
def test_confusion_matrix_is_readable_and_names_classes(tmp_path, n, monkeypatch):
    """At least ~480 px a side, growing with the classes; tick labels are the class names."""
    names = [f"class-{k}" for k in range(n)]
    labels = {}
    save = plots._save

    def capture(plt_, fig, path):
        labels["x"] = [t.get_text() for t in fig.axes[0].get_xticklabels()]
        return save(plt_, fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    matrix = torch.randint(0, 9, (n, n))
    path = plots.confusion_plot(plots.pyplot(), matrix, names, tmp_path / "cm.png")
    width, height = _size(path)
    assert min(width, height) >= 450
    assert labels["x"] == names
    if n == 10:
        assert height > 700


def test_regression_runs_get_a_predicted_vs_true_plot(tmp_path):
    """A regression run writes predicted_vs_true.png instead of a confusion matrix."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    csv = tmp_path / "reg.csv"
    csv.write_text("a,b,y\n" + "\n".join(f"{a},{b},{a + 2 * b}" for a, b in x))
    cfg = validate({"data": {"csv": str(csv), "target": "y"},
                    "model": {"kind": "mlp", "hidden": [4]}, "train": {"epochs": 2}})
    result = runner.train_run(cfg, tmp_path / "run")
    assert "predicted_vs_true.png" in result["plots"]["files"]
    assert "confusion_matrix.png" not in result["plots"]["files"]
    assert min(_size(tmp_path / "run" / "predicted_vs_true.png")) >= 450


def test_efficiency_plot_separates_models_of_equal_size(tmp_path, monkeypatch):
    """Models with the same parameter count are drawn apart; the y axis names the metric."""
    seen = {}
    save = plots._save

    def capture(plt_, fig, path):
        ax = fig.axes[0]
        seen["x"] = [c.get_children()[0].get_xdata()[0] for c in ax.containers]
        seen["ylabel"] = ax.get_ylabel()
        return save(plt_, fig, path)

    monkeypatch.setattr(plots, "_save", capture)
    rows = [{"dataset": "d", "model": m, "total": 100, "mean": 0.9, "std": 0.01,
             "metric": "r2"} for m in ("hybrid", "mlp-matched")]
    plots.efficiency_plot(plots.pyplot(), rows, tmp_path / "eff.png")
    assert seen["x"][0] != seen["x"][1]
    assert seen["ylabel"] == "test R²"


def test_tensorboard_event_files_hold_losses_metrics_and_the_circuit(tmp_path):
    """train.tensorboard writes event files with per-epoch scalars and the model summary."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = validate({"data": {"name": "moons", "max_samples": 60},
                    "model": {"kind": "hybrid", "qubits": 2, "layers": 1, "hidden": []},
                    "train": {"epochs": 2, "tensorboard": True}})
    runner.train_run(cfg, tmp_path / "run")
    logdir = tmp_path / "run" / "tensorboard"
    assert list(logdir.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/train", "loss/val", "accuracy/val", "accuracy/test"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("loss/train")] == [1, 2]
    text = events.Tensors("model/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "hybrid" in text and "circuit: 2 qubits" in text


def test_tensorboard_flag_on_the_command_line(tmp_path):
    """`qdl train --tensorboard` writes event files into RUN/tensorboard."""
    pytest.importorskip("tensorboard")
    from qdl.cli import main

    run = tmp_path / "run"
    assert main(["train", "--dataset", "moons", "--model", "logistic", "--epochs", "1",
                 "--tensorboard", "-o", str(run), "-q"]) == 0
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
