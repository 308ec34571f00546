"""``qdl diagnose``: trainability report (markdown + PNG) for a QASM circuit or a config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from qdl.cli.run import read_circuit
from qdl.errors import QDLError

if TYPE_CHECKING:  # the diagnostics (torch) load when the command runs, not for its parser
    from qdl.diagnostics.report import DiagnoseConfig


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``diagnose`` subcommand to ``sub``."""
    p = sub.add_parser(
        "diagnose",
        help="gradient variance, expressibility, entanglement and Fourier spectrum report",
        description="Write a markdown report with PNG plots. SOURCE is a QASM file (its "
        "input float parameters are drawn at random) or a JSON/TOML/YAML config such as "
        '{"template": "hardware_efficient", "qubits": [2, 4, 6], "layers": [1, 2, 4]}.')
    p.add_argument("source", metavar="CONFIG_OR_QASM")
    p.add_argument("-o", "--outdir", help="output folder (default: SOURCE's stem + '_diagnose')")
    p.add_argument("-O", "--observable", help="cost observable (default 'Z0 Z1')")
    p.add_argument("--input", help="QASM parameter that is the data input (Fourier spectrum)")
    p.add_argument("--samples", type=int, help="random parameter vectors (default 500)")
    p.add_argument("--fidelity-samples", type=int,
                   help="parameter pairs for the expressibility (default 5000)")
    p.add_argument("--bins", type=int, help="fidelity histogram bins (default 75)")
    p.add_argument("--seed", type=int, help="seed of all random draws (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=diagnose)


def diagnose(args: argparse.Namespace) -> None:
    """Write the report for ``qdl diagnose`` and print its path."""
    from qdl.diagnostics.report import (
        CONFIG_SUFFIXES,
        DiagnoseConfig,
        load_config,
        report_circuit,
        report_family,
        with_overrides,
    )

    source = Path(args.source)
    outdir = Path(args.outdir) if args.outdir else Path(f"{source.stem}_diagnose")
    overrides = {"samples": args.samples, "fidelity_samples": args.fidelity_samples,
                 "bins": args.bins, "seed": args.seed}
    if source.suffix.lower() in CONFIG_SUFFIXES:
        if args.input:
            raise QDLError("--input applies to QASM files only; a config family has no data "
                           "input")
        config = with_overrides(load_config(source), observable=args.observable, **overrides)
        _check(config)
        report = report_family(config, outdir, progress=not args.no_progress)
    else:
        circuit = read_circuit(args.source)
        defaults = with_overrides(DiagnoseConfig("qasm", (circuit.n_qubits,)), **overrides)
        _check(defaults)
        report = report_circuit(circuit, outdir, source.name, args.observable, defaults.samples,
                                defaults.fidelity_samples, defaults.bins, defaults.seed,
                                args.input, progress=not args.no_progress)
    print(report)


def _check(config: DiagnoseConfig) -> None:
    """Counts from the command line must be large enough, the seed non-negative."""
    for key, minimum in (("samples", 2), ("fidelity_samples", 1), ("bins", 1), ("seed", 0)):
        value = getattr(config, key)
        if value < minimum:
            raise QDLError(f"--{key.replace('_', '-')} must be at least {minimum}, got {value}")
