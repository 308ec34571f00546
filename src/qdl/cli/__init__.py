"""The ``qdl`` command.

Each subcommand lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``handler``. Errors are one line on stderr and exit status 2; no
tracebacks for bad input. Warnings (such as evaluating a run that did not finish) are one
``qdl: warning:`` line each.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from qdl.errors import QDLError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise QDLError(message)


def _parser() -> argparse.ArgumentParser:
    from qdl import __version__
    from qdl.cli import diagnose, report, run, sweep, train, vqe

    parser = _Parser(prog="qdl", description="Quantum deep learning on torch.")
    parser.add_argument("--version", action="version", version=f"qdl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (run, train, report, sweep, diagnose, vqe):
        module.register(sub)
    return parser


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, file: TextIO | None = None, line: str | None = None) -> None:
    # Python's format adds the file, line number and source line: noise for CLI users.
    print(f"qdl: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qdl`` console script; returns the exit status.

    >>> main(["draw", "no-such-file.qasm"])
    2
    """
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            args = _parser().parse_args(argv)
            args.handler(args)
    except QDLError as exc:
        print(f"qdl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qdl: interrupted", file=sys.stderr)
        return 130
    return 0

