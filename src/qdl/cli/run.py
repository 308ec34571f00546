"""``qdl run`` and ``qdl draw``: expectation values, gradients and drawings of a QASM file."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qdl.app.choices import DIFF_METHODS, PRECISIONS
from qdl.errors import QDLError

if TYPE_CHECKING:  # torch and the simulator load when a command runs, not for its parser
    import torch

    from qdl.circuit import Circuit

# --dtype means the same as in `qdl train`: the real precision of the parameters (float32 or
# float64); the state is the matching complex dtype. The complex names are kept as aliases
# for scripts written before the two commands agreed.
DTYPES = {**dict(zip(PRECISIONS, ("complex64", "complex128"), strict=True)),
          "complex64": "complex64", "complex128": "complex128"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` and ``draw`` subcommands to ``sub``."""
    run_p = sub.add_parser("run", help="expectation values (and gradients) of a QASM circuit")
    run_p.add_argument("file", help="OpenQASM 3 or 2.0 file ('-' reads stdin)")
    run_p.add_argument("-O", "--observable", action="append", required=True,
                       help="Pauli sum such as 'Z0' or '0.5 X0 X1 + -1 Z2' (repeatable)")
    run_p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                       help="parameter value; 'theta=0.1,0.2' gives a batch (repeatable)")
    run_p.add_argument("--grad", action="store_true", help="also print d<O>/d(parameter)")
    run_p.add_argument("--diff-method", default="best", choices=DIFF_METHODS,
                       help="gradient method")
    run_p.add_argument("--shots", type=int, help="estimate from this many shots per term")
    run_p.add_argument("--seed", type=int, help="seed for shot sampling")
    run_p.add_argument("--dtype", default="float32", choices=list(DTYPES),
                       help="precision of the parameters, as in qdl train (the state is "
                            "complex64 / complex128; those names are accepted too)")
    run_p.add_argument("--json", action="store_true", help="print one JSON object")
    run_p.set_defaults(handler=run)
    draw = sub.add_parser("draw", help="print a text drawing of a QASM circuit")
    draw.add_argument("file")
    draw.set_defaults(handler=lambda args: print(read_circuit(args.file, args.max_ops)))
    for parser in (run_p, draw):
        parser.add_argument("--max-ops", type=int, metavar="N",
                            help="operation budget of the reader (default: 100,000, or 16 per "
                                 "character of a longer file)")


def read_circuit(path: str, max_ops: int | None = None) -> Circuit:
    """The circuit of a QASM file ('-': stdin); ``max_ops`` as in ``Circuit.from_qasm``."""
    from qdl.circuit import Circuit

    options = {} if max_ops is None else {"max_ops": max_ops}
    if path == "-":
        return Circuit.from_qasm(sys.stdin.read(), **options)
    file = Path(path)
    if not file.is_file():
        raise QDLError(f"no such file: {path}")
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise QDLError(f"cannot read {path}: {exc}") from None
    return Circuit.from_qasm(text, **options)


def _parse_params(items: Sequence[str], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    import torch

    real = torch.float64 if dtype == torch.complex128 else torch.float32
    params = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise QDLError(f"--param {item!r}: write NAME=VALUE, e.g. theta=0.3")
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise QDLError(f"--param {item!r}: {text!r} is not a number or comma list") from None
        tensor = torch.tensor(values if len(values) > 1 else values[0], dtype=real)
        params[name.strip()] = tensor.requires_grad_()
    return params


def _check_names(circuit: Circuit, params: dict[str, torch.Tensor]) -> None:
    """``QDLError`` for a ``-p NAME=...`` that the circuit has no parameter called."""
    known = list(circuit.parameters)
    for name in params:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            listed = ", ".join(known) if known else "none"
            raise QDLError(f"--param {name}: unknown parameter {name!r}, the circuit has no "
                           f"such parameter ({hint}its parameters: {listed})")


def run(args: argparse.Namespace) -> None:
    """Print expectation values (and gradients) for ``qdl run``."""
    import torch

    from qdl.grad import expval

    circuit = read_circuit(args.file, args.max_ops)
    dtype = getattr(torch, DTYPES[args.dtype])
    params = _parse_params(args.param, dtype)
    _check_names(circuit, params)
    values = expval(circuit, args.observable, params, diff_method=args.diff_method,
                    dtype=dtype, shots=args.shots, seed=args.seed)
    digits = _digits(dtype)
    result: dict[str, object] = {"observables": args.observable,
                                 "expval": _clean(values.tolist(), digits)}
    if args.grad and params:
        grads = {}
        for k, obs in enumerate(args.observable):
            g = torch.autograd.grad(values[..., k].sum(), list(params.values()),
                                    retain_graph=True, allow_unused=True)
            grads[obs] = {n: (_clean(x.tolist(), digits) if x is not None else 0.0)
                          for n, x in zip(params, g, strict=True)}
        result["grad"] = grads
    if args.json:
        print(json.dumps(result))
        return
    for k, obs in enumerate(args.observable):
        print(f"<{obs}> = {_fmt(_column(result, k))}")
        for name, g in result.get("grad", {}).get(obs, {}).items():  # type: ignore[union-attr]
            print(f"  d/d{name} = {_fmt(g)}")


def _digits(dtype: torch.dtype) -> int:
    """Significant digits a state of ``dtype`` carries (float32: 7, float64: 15)."""
    import torch

    return 15 if dtype == torch.complex128 else 7


def _clean(value: object, digits: int) -> object:
    """Values rounded to the precision they were computed in.

    float32 rounding shows as ``-0.026000001`` or ``-7.45e-09`` (for an exact 0); both are
    noise below the dtype's resolution. Expectation values of Pauli sums are of order one,
    so anything below ``10**-(digits-1)`` in magnitude is 0, and the rest keeps ``digits``
    significant digits.

    >>> _clean([-0.026000001, -7.45e-09, 0.5], 7)
    [-0.026, 0.0, 0.5]
    """
    if isinstance(value, list):
        return [_clean(v, digits) for v in value]
    number = float(value)  # type: ignore[arg-type]
    if abs(number) < 10.0 ** -(digits - 1):
        return 0.0
    return float(f"{number:.{digits}g}")


def _column(result: dict[str, object], k: int) -> object:
    values = result["expval"]
    if isinstance(values, list) and values and isinstance(values[0], list):
        return [row[k] for row in values]
    return values[k]  # type: ignore[index]


def _fmt(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return f"{value:.8g}"  # type: ignore[str-format]
