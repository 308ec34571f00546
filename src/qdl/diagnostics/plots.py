"""PNG plots of the diagnostics (matplotlib, Agg backend, imported only when plotting).

matplotlib is an optional dependency (the ``app`` extra); without it every function here
raises :class:`~qdl.errors.QDLError` saying how to install it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from qdl.diagnostics.expressibility import fidelity_histogram, haar_log_probabilities
from qdl.diagnostics.fourier import FourierSpectrum
from qdl.diagnostics.gradients import GradientStats, VarianceScan
from qdl.errors import QDLError


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend; ``QDLError`` if missing.

    >>> pyplot().get_backend().lower()
    'agg'
    """
    try:
        import matplotlib
    except ImportError:
        raise QDLError('plots need matplotlib, which is not installed; run '
                       'pip install "qdl[app]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    except OSError as exc:  # a full disk, a read-only folder, a file where a folder should be
        raise QDLError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        pyplot().close(fig)
    return path


def plot_variance_scan(scan: VarianceScan, path: str | Path) -> Path:
    """Semi-log plot of the gradient variance against the qubit count, one line per depth.

    Dashed lines are the fitted exponential decays.

    >>> import tempfile
    >>> scan = VarianceScan((2, 3), (1,), np.array([[0.1, 0.05]]), np.array([[0.1, 0.05]]),
    ...                     (None,), 10)
    >>> plot_variance_scan(scan, Path(tempfile.mkdtemp()) / "v.png").name
    'v.png'
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    n = np.asarray(scan.qubits, dtype=float)
    for row, layers, fit in zip(scan.variance, scan.layers, scan.fits, strict=True):
        label = f"L = {layers}"
        if fit is not None:
            error = "" if np.isnan(fit.stderr) else f" ± {fit.stderr:.3f}"
            label += f" (rate {fit.rate:.3f}{error})"
        line = ax.semilogy(n, row, "o-", label=label)[0]
        if fit is not None:
            ax.semilogy(n, np.exp(fit.intercept - fit.rate * n), "--", color=line.get_color(),
                        alpha=0.6)
    ax.set_xticks(n)
    ax.set_xlabel("qubits n")
    ax.set_ylabel("Var[∂C/∂θ] (mean over parameters)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_fidelities(
    fidelities: np.ndarray, n_qubits: int, bins: int, path: str | Path
) -> Path:
    """Histogram of the sampled fidelities beside the Haar distribution, per bin.

    >>> import tempfile
    >>> plot_fidelities(np.array([0.2, 0.5]), 1, 10, Path(tempfile.mkdtemp()) / "f.png").name
    'f.png'
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    centers = (np.arange(bins) + 0.5) / bins
    ax.bar(centers, fidelity_histogram(fidelities, bins), width=1 / bins, alpha=0.6,
           label="circuit")
    ax.plot(centers, np.exp(haar_log_probabilities(n_qubits, bins)), "k-", label="Haar")
    ax.set_xlabel("fidelity F")
    ax.set_ylabel("probability per bin")
    ax.legend()
    return _save(fig, path)


def plot_spectrum(spectrum: FourierSpectrum, path: str | Path) -> Path:
    """``|c_ω|`` against ``ω``: mean over batch elements, with their spread as error bars.

    >>> import tempfile
    >>> s = FourierSpectrum(np.array([-1.0, 0.0, 1.0]), np.array([0.5, 0.0, 0.5]))
    >>> plot_spectrum(s, Path(tempfile.mkdtemp()) / "s.png").name
    's.png'
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    amplitude = np.abs(spectrum.coefficients).reshape(-1, len(spectrum.frequencies))
    ax.bar(spectrum.frequencies, amplitude.mean(0), yerr=amplitude.std(0), width=0.6)
    ax.set_xlabel("frequency ω")
    ax.set_ylabel("|c_ω|")
    return _save(fig, path)


def plot_parameter_variance(stats: GradientStats, path: str | Path) -> Path:
    """Bar chart of ``Var[∂C/∂θ_k]`` for every parameter, on a log scale.

    >>> import tempfile
    >>> stats = GradientStats(("a", "b"), np.array([0.5, 0.1]), np.zeros(2), 10)
    >>> plot_parameter_variance(stats, Path(tempfile.mkdtemp()) / "p.png").name
    'p.png'
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.5, 0.25 * len(stats.names)), 4))
    ax.bar(range(len(stats.names)), stats.variance)
    ax.set_yscale("log")
    ax.set_xticks(range(len(stats.names)), stats.names, rotation=90, fontsize=7)
    ax.set_ylabel("Var[∂C/∂θ_k]")
    return _save(fig, path)


def plot_grid(
    values: np.ndarray, qubits: tuple[int, ...], layers: tuple[int, ...], ylabel: str,
    path: str | Path, log: bool = False,
) -> Path:
    """One line per qubit count of ``values[layer, qubit]`` against the layer count.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "g.png"
    >>> plot_grid(np.array([[0.3], [0.1]]), (2,), (1, 2), "Expr", out, log=True).name
    'g.png'
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for j, n in enumerate(qubits):
        ax.plot(layers, values[:, j], "o-", label=f"n = {n}")
    if log:
        ax.set_yscale("log")
    ax.set_xticks(layers)
    ax.set_xlabel("layers L")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return _save(fig, path)
