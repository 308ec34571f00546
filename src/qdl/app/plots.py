"""PNG plots of a run and of the efficiency report.

A run gets ``learning_curves.png`` (with the kept epoch marked), ``confusion_matrix.png``
(classification) or ``predicted_vs_true.png`` (regression), and ``circuit.png`` (the whole
circuit, wrapped into blocks; very long circuits continue in ``circuit_2.png``, ...).
Figure sizes follow the content: more classes, wires or gates give larger pictures.

matplotlib is optional (``qdl[app]``); without it the run still completes and its
``metrics.json`` says which plots were skipped and why.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from qdl.app.evaluation import circuit_of, confusion, predict_outputs

DPI = 100
BLOCK_COLUMNS = 120  # characters of the text drawing per wrapped block (about 9.5 inches)
BLOCKS_PER_PAGE = 12  # wrapped blocks per circuit PNG; more continue in circuit_2.png, ...
_CHAR_W, _LINE_H = 0.078, 0.172  # inches per monospace character / line at 9 pt


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, imported on first use."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window, works with no display
    import matplotlib.pyplot as plt

    return plt


def write_plots(run_dir: Path, trainer: Any, selected: int | None = None) -> dict[str, Any]:
    """Write the run's plots into ``run_dir``; returns ``{"files": [...], "skipped": ...}``.

    Args:
        run_dir: the run directory.
        trainer: the finished ``Trainer`` (model, data, history).
        selected: the epoch whose weights were kept (marked on the learning curves).
    """
    try:
        plt = pyplot()
    except ImportError:
        return {"files": [], "skipped": 'matplotlib is not installed: pip install "qdl[app]"'}
    data, cfg = trainer.data, trainer.cfg
    title = f"{cfg.model.kind} on {data.table.name}"
    files = [learning_curves(plt, trainer.history, run_dir / "learning_curves.png",
                             title=title, selected=selected)]
    outputs = predict_outputs(trainer.model, data.x["test"])
    if data.pre.classes is not None:
        matrix = confusion(outputs.argmax(-1), data.y["test"], len(data.pre.classes))
        files.append(confusion_plot(plt, matrix, data.pre.classes,
                                    run_dir / "confusion_matrix.png", title=title))
    elif len(outputs):
        std, mean = data.pre.target_std, getattr(data.pre, "target_mean", 0.0)
        pred = outputs[:, 0].double() * std + mean
        true = data.y["test"][:, 0].double() * std + mean
        files.append(regression_plot(plt, pred, true, run_dir / "predicted_vs_true.png",
                                     title=title, target=data.pre.target))
    circuit = circuit_of(trainer.model)
    if circuit is not None:
        files += circuit_plot(plt, circuit, run_dir / "circuit.png")
    return {"files": [f.name for f in files], "skipped": None}


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def learning_curves(plt: Any, history: list[dict[str, Any]], path: Path, *,
                    title: str = "learning curves", selected: int | None = None) -> Path:
    """Loss and accuracy (or R²) per epoch for the training and validation rows.

    Epoch ticks are integers; a dashed line marks ``selected``, the epoch whose weights the
    run kept (``train.select``).
    """
    from matplotlib.ticker import MaxNLocator

    metric = "accuracy" if "train_accuracy" in history[0] else "r2"
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    epochs = [r["epoch"] for r in history]
    for ax, key in zip(axes, ("loss", metric), strict=True):
        for split in ("train", "val"):
            values = [r.get(f"{split}_{key}") for r in history]
            if values[0] is not None:
                ax.plot(epochs, values, marker=".", label=split)
        if selected is not None:
            ax.axvline(selected, color="0.35", linestyle="--", linewidth=1,
                       label=f"kept: epoch {selected}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel({"loss": "loss", "accuracy": "accuracy", "r2": "R²"}[key])
        ax.grid(alpha=0.3)
        ax.legend()
    kept = "" if selected is None else f" (weights of epoch {selected} kept)"
    fig.suptitle(f"{title}: {len(history)} epochs{kept}")
    fig.tight_layout()
    return _save(plt, fig, path)


def confusion_plot(plt: Any, matrix: torch.Tensor, classes: list[str], path: Path, *,
                   title: str = "") -> Path:
    """Test-set confusion matrix: rows true class, columns predicted class, named."""
    n = len(classes)
    names = [c if len(c) <= 18 else c[:17] + "…" for c in map(str, classes)]
    side = max(4.8, 1.6 + 0.55 * n)  # at least ~480 px, growing with the classes
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(matrix.numpy(), cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="test rows")
    ax.set_xticks(range(n), names, rotation=45 if n > 3 else 0,
                  ha="right" if n > 3 else "center")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(matrix.sum())
    right = int(matrix.diag().sum())
    accuracy = f"accuracy {right / total:.3f} on {total} test rows" if total else "no test rows"
    ax.set_title(f"{title}\n{accuracy}" if title else accuracy)
    top = int(matrix.max()) if matrix.numel() else 0
    for i in range(n):
        for j in range(n):
            value = int(matrix[i, j])
            ax.text(j, i, str(value), ha="center", va="center", fontsize=10,
                    color="white" if value > top / 2 else "black")
    fig.tight_layout()
    return _save(plt, fig, path)


def regression_plot(plt: Any, pred: torch.Tensor, true: torch.Tensor, path: Path, *,
                    title: str = "", target: str = "target") -> Path:
    """Predicted against true test values (target units), with the line ``y = x``."""
    fig, ax = plt.subplots(figsize=(5.5, 5.2))
    p, t = pred.numpy(), true.numpy()
    ax.scatter(t, p, s=14, alpha=0.6, edgecolors="none")
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="0.3", linestyle="--", linewidth=1, label="y = x")
    err = ((pred - true) ** 2).sum()
    spread = ((true - true.mean()) ** 2).sum()
    r2 = f"R² {float(1 - err / spread):.3f}" if spread > 0 else "R² undefined"
    ax.set_xlabel(f"true {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title(f"{title}\n{r2} on {len(t)} test rows" if title else r2)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(plt, fig, path)


def wrap_drawing(drawing: str, columns: int = BLOCK_COLUMNS) -> list[list[str]]:
    """A text drawing cut into blocks of at most ``columns`` characters per line.

    Cuts fall between gates (where every wire shows a plain ``─``), so no gate label is
    split; each block after the first repeats the wire names.

    >>> for block in wrap_drawing("q0: ─H──●──RX(a)─\\nq1: ────X────────", columns=12):
    ...     print("\\n".join(block))
    q0: ─H──●─
    q1: ────X─
    q0: ──RX(a)─
    q1: ────────
    """
    lines = drawing.splitlines()
    if not lines:
        return []
    prefix = len(lines[0]) - len(lines[0].split(": ", 1)[-1])
    names = [ln[:prefix] for ln in lines]
    bodies = [ln[prefix:] for ln in lines]
    length = max(len(b) for b in bodies)
    bodies = [b.ljust(length, "─") for b in bodies]
    room = max(8, columns - prefix)
    blocks, start = [], 0
    while start < length:
        end = min(length, start + room)
        if end < length:
            cuts = [i for i in range(end, start + 1, -1)
                    if all(b[i - 1] == "─" and b[i] == "─" for b in bodies)]
            end = cuts[0] if cuts else end
        blocks.append([n + b[start:end] for n, b in zip(names, bodies, strict=True)])
        # The next block starts with the shared wire segment, so gates stay whole.
        start = end - 1 if end < length else end
    return blocks


def circuit_plot(plt: Any, circuit: Any, path: Path, columns: int = BLOCK_COLUMNS,
                 blocks_per_page: int = BLOCKS_PER_PAGE) -> list[Path]:
    """The whole circuit drawn in a monospace font, wrapped into blocks, sized by content.

    Returns the files written: ``path`` and, for circuits longer than ``blocks_per_page``
    blocks, ``<stem>_2.png``, ``<stem>_3.png``, ...
    """
    from qdl.circuit import draw

    blocks = wrap_drawing(draw(circuit, max_width=1 << 62), columns)
    pages = [blocks[i:i + blocks_per_page] for i in range(0, len(blocks), blocks_per_page)]
    n_ops, n_params = len(circuit.ops), len(circuit.parameters)
    files = []
    for k, page in enumerate(pages or [[[""]]]):
        text = "\n\n".join("\n".join(block) for block in page)
        lines = text.count("\n") + 1
        width = max(len(ln) for ln in text.splitlines())
        height = _LINE_H * lines + 0.6  # the lines, the title and margins
        fig = plt.figure(figsize=(max(4.0, _CHAR_W * width + 0.4), height))
        part = f", part {k + 1} of {len(pages)}" if len(pages) > 1 else ""
        fig.suptitle(f"circuit: {circuit.n_qubits} qubits, {n_ops} gates, {n_params} "
                     f"parameters (inputs and weights){part}", fontsize=10, x=0.01,
                     y=1 - 0.08 / height, ha="left", va="top")
        fig.text(0.01, 1 - 0.42 / height, text, family="monospace", fontsize=9, va="top")
        out = path if k == 0 else path.with_name(f"{path.stem}_{k + 1}{path.suffix}")
        files.append(_save(plt, fig, out))
    return files


def efficiency_plot(plt: Any, rows: list[dict[str, Any]], path: Path) -> Path:
    """Test score against parameter count, one panel per dataset.

    Each model has its own marker and a small horizontal offset, so models of nearly equal
    size (hybrid and mlp-matched) stay visible side by side; the y label names the metric.
    """
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    cols = min(4, len(datasets))
    nrows = math.ceil(len(datasets) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows), squeeze=False)
    markers = "osD^vP*X"
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        metric = "accuracy"
        for k, model in enumerate(models):
            r = next((r for r in rows if r["dataset"] == dataset and r["model"] == model), None)
            if r is None:
                continue
            metric = r.get("metric", metric)
            # Offsets of a few percent on the log axis: side by side, same order of magnitude.
            x = r["total"] * 1.07 ** (k - (len(models) - 1) / 2)
            ax.errorbar(x, r["mean"], yerr=r["std"], fmt=markers[k % len(markers)],
                        color=f"C{k}", label=model, capsize=3, markersize=6, alpha=0.85,
                        markerfacecolor="none" if k % 2 else f"C{k}")
        ax.set_xscale("log")
        ax.set_title(dataset)
        ax.set_xlabel("trainable parameters")
        ax.set_ylabel("test R²" if metric == "r2" else "test accuracy")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(datasets):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(models))
    fig.suptitle("test score (mean ± std over seeds) against model size")
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    return _save(plt, fig, path)
