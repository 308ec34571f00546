"""The ``qdl diagnose`` report: a markdown file and PNG plots for a circuit or a family.

Two inputs:

* a QASM circuit (:func:`report_circuit`): its ``input float`` parameters are drawn
  uniformly from ``[0, 2π)``; one of them may be named the data input, whose Fourier
  spectrum is then reported (and whose gradient is left out of the variance table);
* a configuration (:func:`load_config`, JSON, TOML or YAML) naming a circuit family and a
  grid of qubit and layer counts (:func:`report_family`), e.g.
  ``{"template": "hardware_efficient", "qubits": [2, 4, 6], "layers": [1, 2, 4]}``.

Progress is shown with ``rich`` when it is installed (stderr); without it the report is
written silently. Plots need matplotlib (``pip install "qdl[app]"``).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.configfile import read_config
from qdl.diagnostics import plots
from qdl.diagnostics._common import check_count, check_names, make_generator, uniform_params
from qdl.diagnostics.entanglement import entangling_capability
from qdl.diagnostics.expressibility import (
    BINS,
    FIDELITY_SAMPLES,
    expressibility_from_fidelities,
)
from qdl.diagnostics.expressibility import fidelity_samples as sample_fidelities
from qdl.diagnostics.families import get_family
from qdl.diagnostics.fourier import accessible_frequencies, fourier_coefficients
from qdl.diagnostics.gradients import default_observable, gradient_variance, variance_scan
from qdl.errors import QDLError
from qdl.progress import progress

SAMPLES = 500
# Random draws of the other parameters over which a Fourier spectrum is shown.
SPECTRUM_DRAWS = 10
CONFIG_SUFFIXES = (".json", ".toml", ".yaml", ".yml")


@dataclass(frozen=True)
class DiagnoseConfig:
    """What a family report computes.

    Attributes:
        template: family name for :func:`qdl.diagnostics.families.get_family`.
        qubits: qubit counts.
        layers: layer counts.
        observable: cost observable (default ``Z0 Z1``, ``Z0`` on one qubit).
        samples: random parameter vectors per grid point (gradients and entanglement).
        fidelity_samples: parameter pairs for the expressibility.
        bins: histogram bins for the expressibility.
        seed: seed of every random draw.
        circuits: circuits drawn from a random family per grid point.
        options: keyword arguments for a template family.
    """

    template: str
    qubits: tuple[int, ...]
    layers: tuple[int, ...] = (1,)
    observable: str | None = None
    samples: int = SAMPLES
    fidelity_samples: int = FIDELITY_SAMPLES
    bins: int = BINS
    seed: int = 0
    circuits: int = 1
    options: dict[str, Any] = field(default_factory=dict)


def _counts(value: object, key: str) -> tuple[int, ...]:
    values = [value] if isinstance(value, int) else value
    if not isinstance(values, list | tuple) or not values:
        raise QDLError(f"config key {key!r} must be an int or a non-empty list of ints, "
                       f"got {value!r}")
    return tuple(check_count(v, f"config key {key!r}") for v in values)


def config_from_mapping(data: Mapping[str, Any]) -> DiagnoseConfig:
    """A :class:`DiagnoseConfig` from parsed JSON/TOML/YAML; ``QDLError`` naming bad keys.

    >>> config_from_mapping({"template": "sim9", "qubits": 4}).qubits
    (4,)
    """
    if not isinstance(data, Mapping):
        raise QDLError(f"a diagnose config must be a mapping of keys to values, got "
                       f"{type(data).__name__}")
    valid = [f.name for f in fields(DiagnoseConfig)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise QDLError(f"unknown config key(s) {unknown}; valid keys are {valid}")
    if "template" not in data or "qubits" not in data:
        raise QDLError('a diagnose config needs "template" and "qubits", e.g. '
                       '{"template": "hardware_efficient", "qubits": [2, 4], "layers": [1, 2]}')
    values = dict(data)
    values["qubits"] = _counts(values["qubits"], "qubits")
    values["layers"] = _counts(values.get("layers", 1), "layers")
    if not isinstance(values["template"], str):
        raise QDLError(f"config key 'template' must be a name, got {values['template']!r}")
    if not isinstance(values.get("options", {}), dict):
        raise QDLError("config key 'options' must be a mapping of template arguments")
    for key in ("samples", "fidelity_samples", "bins", "circuits"):
        if key in values:
            check_count(values[key], f"config key {key!r}")
    if "seed" in values:
        check_count(values["seed"], "config key 'seed'", 0)
    return DiagnoseConfig(**values)


def load_config(path: str | Path) -> DiagnoseConfig:
    """Read a JSON, TOML or YAML diagnose config (by file suffix).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "c.json"
    >>> _ = p.write_text('{"template": "hardware_efficient", "qubits": [2, 3]}')
    >>> load_config(p).template
    'hardware_efficient'
    """
    return config_from_mapping(read_config(path))


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator[Callable[[],
                                                                                       None]]:
    """A callable advancing the progress display (:mod:`qdl.progress`) on stderr.

    >>> with progress_bar(2, "work", enabled=False) as advance:
    ...     advance()
    """
    with progress(quiet=not enabled) as display:
        update = display.add(description, total, "steps")
        yield lambda: update(advance=1)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _sci(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.3e}"


def _variance_section(scan: Any, outdir: Path) -> list[str]:
    plots.plot_variance_scan(scan, outdir / "gradient_variance.png")
    rows = [[f"L = {layer}", *(_sci(v) for v in row)]
            for layer, row in zip(scan.layers, scan.variance, strict=True)]
    lines = ["## Gradient variance (barren plateaus)", "",
             f"Mean over parameters of Var[∂C/∂θ_k], {scan.samples} random parameter vectors "
             "per point, angles uniform in [0, 2π).", ""]
    lines += _table(["", *(f"n = {n}" for n in scan.qubits)], rows)
    fit_rows = [[f"L = {layer}", f"{fit.rate:.4f} ± {fit.stderr:.4f}",
                 f"{fit.base2_rate:.3f}"] for layer, fit in zip(scan.layers, scan.fits,
                                                                 strict=True) if fit]
    if fit_rows:
        lines += ["", "Fit ln Var = a − r·n (least squares; ± standard error). A 2-design "
                  "predicts r → ln 2 = 0.693 (1 bit per qubit).", ""]
        lines += _table(["depth", "rate r per qubit", "rate in bits"], fit_rows)
    return [*lines, "", "![gradient variance](gradient_variance.png)", ""]


def _grid_section(config: DiagnoseConfig, outdir: Path, advance: Callable[[], None]
                  ) -> list[str]:
    family = get_family(config.template, config.seed, **config.options)
    shape = (len(config.layers), len(config.qubits))
    expr, ent = np.full(shape, np.nan), np.full(shape, np.nan)
    for i, layers in enumerate(config.layers):
        for j, n in enumerate(config.qubits):
            circuit = family(n, layers)
            f = sample_fidelities(circuit, config.fidelity_samples, config.seed + 1)
            expr[i, j] = expressibility_from_fidelities(f, n, config.bins)
            if n > 1:
                ent[i, j] = entangling_capability(circuit, config.samples, config.seed + 2)
            advance()
    plots.plot_grid(expr, config.qubits, config.layers, "expressibility (KL to Haar)",
                    outdir / "expressibility.png", log=True)
    plots.plot_grid(ent, config.qubits, config.layers, "entangling capability (mean Q)",
                    outdir / "entanglement.png")
    rows = [[f"L = {layers}", *(f"{e:.4f} / {q:.4f}" for e, q in zip(expr[i], ent[i],
                                                                       strict=True))]
            for i, layers in enumerate(config.layers)]
    lines = ["## Expressibility / entangling capability", "",
             f"Expr = KL(fidelities ‖ Haar), {config.fidelity_samples} pairs, {config.bins} "
             f"bins; Ent = mean Meyer–Wallach Q over {config.samples} draws (nan: one qubit).",
             ""]
    lines += _table(["", *(f"n = {n}" for n in config.qubits)], rows)
    return [*lines, "", "![expressibility](expressibility.png)",
            "![entangling capability](entanglement.png)", ""]


def _output_folder(outdir: str | Path) -> Path:
    """``outdir``, created and known to be writable before minutes of sampling start."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise QDLError(f"{outdir} is a file; the output must be a folder (it receives "
                       f"report.md and the PNG plots): choose another -o/--outdir")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        # Creating a file is the only reliable test (permissions, read-only mounts, ACLs).
        with tempfile.TemporaryFile(dir=outdir):
            pass
    except OSError as exc:
        raise QDLError(f"cannot write into {outdir}: {exc.strerror or exc}; choose another "
                       f"-o/--outdir") from None
    return outdir


def _write_report(outdir: Path, lines: list[str]) -> Path:
    report = outdir / "report.md"
    try:
        report.write_text("\n".join(lines))
    except OSError as exc:
        raise QDLError(f"cannot write {report}: {exc.strerror or exc}") from None
    return report


def report_family(config: DiagnoseConfig, outdir: str | Path, progress: bool = True) -> Path:
    """Write ``report.md`` and plots for a circuit family over a qubit × layer grid.

    Args:
        config: what to compute.
        outdir: output folder (created).
        progress: show a ``rich`` progress bar when ``rich`` is installed.

    Returns:
        Path of the markdown report.

    >>> import tempfile
    >>> cfg = DiagnoseConfig("hardware_efficient", (1, 2), samples=20, fidelity_samples=50)
    >>> report_family(cfg, tempfile.mkdtemp(), progress=False).name
    'report.md'
    """
    outdir = _output_folder(outdir)
    family = get_family(config.template, config.seed, **config.options)
    points = len(config.qubits) * len(config.layers)
    with progress_bar(2 * points, f"diagnose {config.template}", progress) as advance:
        scan = variance_scan(family, config.qubits, config.layers, config.observable,
                             config.samples, config.seed, config.circuits, advance)
        lines = [f"# Trainability diagnostics: {config.template}", "",
                 f"qubits {list(config.qubits)}, layers {list(config.layers)}, observable "
                 f"{config.observable or 'Z0 Z1 (Z0 on one qubit)'}, seed {config.seed}.", ""]
        lines += _variance_section(scan, outdir)
        lines += _grid_section(config, outdir, advance)
    return _write_report(outdir, lines)


def _spectrum_section(circuit: Circuit, observable: str, input: str, seed: int,
                      outdir: Path) -> list[str]:
    others = [n for n in circuit.parameters if n != input]
    params = uniform_params(others, (SPECTRUM_DRAWS,), make_generator(seed), torch.complex128)
    spectrum = fourier_coefficients(circuit, observable, input, params)
    plots.plot_spectrum(spectrum, outdir / "spectrum.png")
    omega = accessible_frequencies(circuit, input)
    amplitude = np.abs(spectrum.coefficients).reshape(-1, len(spectrum.frequencies))
    rows = [[f"{w:g}", f"{a:.4f}", f"{s:.4f}"] for w, a, s in
            zip(spectrum.frequencies, amplitude.mean(0), amplitude.std(0), strict=True)]
    lines = [f"## Fourier spectrum in {input}", "",
             f"Accessible frequencies (generator spectra): {', '.join(f'{w:g}' for w in omega)}. "
             f"|c_ω| of ⟨{observable}⟩ over {SPECTRUM_DRAWS} random draws of the other "
             "parameters (mean, standard deviation):", ""]
    lines += _table(["ω", "mean \\|c_ω\\|", "std \\|c_ω\\|"], rows)
    return [*lines, "", "![spectrum](spectrum.png)", ""]


def report_circuit(
    circuit: Circuit,
    outdir: str | Path,
    name: str = "circuit",
    observable: str | None = None,
    samples: int = SAMPLES,
    fidelity_samples: int = FIDELITY_SAMPLES,
    bins: int = BINS,
    seed: int = 0,
    input: str | None = None,
    progress: bool = True,
) -> Path:
    """Write ``report.md`` and plots for one circuit whose parameters are all random.

    Args:
        circuit: the circuit (e.g. read from QASM).
        outdir: output folder (created).
        name: title of the report.
        observable: cost observable (default ``Z0 Z1``, ``Z0`` on one qubit).
        samples: random parameter vectors for gradients and entanglement.
        fidelity_samples: parameter pairs for the expressibility.
        bins: histogram bins for the expressibility.
        seed: seed of every random draw.
        input: the data input, whose Fourier spectrum is reported.
        progress: show a ``rich`` progress bar when ``rich`` is installed.

    Returns:
        Path of the markdown report.

    >>> import tempfile
    >>> c = Circuit(2).ry(0, "x").cx(0, 1).rx(1, "w")
    >>> report_circuit(c, tempfile.mkdtemp(), samples=20, fidelity_samples=50, input="x",
    ...                progress=False).name
    'report.md'
    """
    outdir = _output_folder(outdir)
    exclude = check_names(circuit, [input] if input else [], "--input")
    observable = observable or default_observable(circuit.n_qubits)
    with progress_bar(4 if input else 3, f"diagnose {name}", progress) as advance:
        stats = gradient_variance(circuit, observable, samples, seed, exclude)
        plots.plot_parameter_variance(stats, outdir / "gradient_variance.png")
        advance()
        f = sample_fidelities(circuit, fidelity_samples, seed + 1)
        expr = expressibility_from_fidelities(f, circuit.n_qubits, bins)
        plots.plot_fidelities(f, circuit.n_qubits, bins, outdir / "fidelities.png")
        advance()
        ent = (entangling_capability(circuit, samples, seed + 2) if circuit.n_qubits > 1
               else math.nan)
        advance()
        lines = [f"# Trainability diagnostics: {name}", "",
                 f"{circuit.n_qubits} qubits, {len(circuit.ops)} gates, parameters drawn "
                 f"uniformly in [0, 2π), observable {observable}, seed {seed}.", "",
                 "## Gradient variance", "",
                 f"Var[∂⟨{observable}⟩/∂θ_k] over {samples} draws: mean "
                 f"{_sci(stats.mean_variance)}.", ""]
        lines += _table(["parameter", "variance", "mean"], [
            [k, _sci(v), f"{m:.3e}"] for k, v, m in zip(stats.names, stats.variance, stats.mean,
                                                        strict=True)])
        lines += ["", "![gradient variance](gradient_variance.png)", "",
                  "## Expressibility and entangling capability", "",
                  f"Expr = {expr:.4f} (KL to Haar, {fidelity_samples} pairs, {bins} bins); "
                  f"Ent = {ent:.4f} (mean Meyer–Wallach Q, {samples} draws).", "",
                  "![fidelities](fidelities.png)", ""]
        if input:
            lines += _spectrum_section(circuit, observable, input, seed + 3, outdir)
            advance()
    return _write_report(outdir, lines)


def with_overrides(config: DiagnoseConfig, **overrides: Any) -> DiagnoseConfig:
    """``config`` with every override that is not ``None`` applied.

    >>> cfg = DiagnoseConfig("sim1", (4,))
    >>> with_overrides(cfg, samples=10, seed=None).samples
    10
    """
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


__all__ = ["DiagnoseConfig", "config_from_mapping", "load_config",
           "progress_bar", "report_circuit", "report_family", "with_overrides"]
