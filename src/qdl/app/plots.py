"""PNG plots of a run: learning curves, confusion matrix, the circuit drawn.

matplotlib is optional (``qdl[app]``); without it the run still completes and its
``metrics.json`` says which plots were skipped and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window, works with no display
    import matplotlib.pyplot as plt

    return plt


def write_plots(run_dir: Path, trainer: Any) -> dict[str, Any]:
    """Write the run's plots into ``run_dir``; returns ``{"files": [...], "skipped": ...}``."""
    try:
        plt = _pyplot()
    except ImportError:
        return {"files": [], "skipped": 'matplotlib is not installed: pip install "qdl[app]"'}
    from qdl.app.evaluation import circuit_of, confusion, predict_outputs

    files = [learning_curves(plt, trainer.history, run_dir / "learning_curves.png")]
    pre = trainer.data.pre
    if pre.classes is not None:
        pred = predict_outputs(trainer.model, trainer.data.x["test"]).argmax(-1)
        matrix = confusion(pred, trainer.data.y["test"], len(pre.classes))
        files.append(confusion_plot(plt, matrix, pre.classes, run_dir / "confusion_matrix.png"))
    circuit = circuit_of(trainer.model)
    if circuit is not None:
        files.append(circuit_plot(plt, str(circuit), run_dir / "circuit.png"))
    return {"files": [f.name for f in files], "skipped": None}


def learning_curves(plt: Any, history: list[dict[str, Any]], path: Path) -> Path:
    """Loss (and accuracy or R²) per epoch for the training and validation rows."""
    metric = "accuracy" if "train_accuracy" in history[0] else "r2"
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = [r["epoch"] for r in history]
    for ax, key in zip(axes, ("loss", metric), strict=True):
        for split in ("train", "val"):
            values = [r.get(f"{split}_{key}") for r in history]
            if values[0] is not None:
                ax.plot(epochs, values, marker=".", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def confusion_plot(plt: Any, matrix: torch.Tensor, classes: list[str], path: Path) -> Path:
    """Test-set confusion matrix: rows true class, columns predicted class."""
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * n, 1.0 + 0.6 * n))
    ax.imshow(matrix.numpy(), cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = int(matrix.max()) if matrix.numel() else 0
    for i in range(n):
        for j in range(n):
            value = int(matrix[i, j])
            ax.text(j, i, str(value), ha="center", va="center",
                    color="white" if value > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def circuit_plot(plt: Any, drawing: str, path: Path, max_columns: int = 160) -> Path:
    """The circuit's text drawing rendered in a monospace font (long lines cut)."""
    lines = [ln if len(ln) <= max_columns else ln[:max_columns - 1] + "…"
             for ln in drawing.splitlines()]
    width = max((len(ln) for ln in lines), default=1)
    fig = plt.figure(figsize=(max(4.0, 0.085 * width + 0.3), max(1.0, 0.22 * len(lines))))
    fig.text(0.01, 0.5, "\n".join(lines), family="monospace", fontsize=9, va="center")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
