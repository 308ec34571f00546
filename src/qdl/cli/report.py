"""``qdl report efficiency``: quantum models beside classical baselines on every dataset."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from qdl.cli.train import job_progress, load_app
from qdl.errors import QDLError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report`` (with its ``efficiency`` report) to ``sub``."""
    report = sub.add_parser("report", help="measured reports")
    kinds = report.add_subparsers(dest="report", required=True, parser_class=type(report))
    eff = kinds.add_parser("efficiency", help="accuracy vs parameter count, quantum and "
                                              "classical models, several seeds")
    eff.add_argument("--datasets", help="comma list (default: every bundled dataset)")
    eff.add_argument("--models", help="comma list of hybrid, vqc, logistic, mlp-matched, "
                                      "mlp-large (default: all)")
    eff.add_argument("--seeds", type=int, default=5)
    eff.add_argument("--epochs", type=int, default=30)
    eff.add_argument("--max-samples", type=int, default=1000,
                     help="rows per dataset (a seeded subset; 0 = all)")
    eff.add_argument("-o", "--out", default="reports/efficiency")
    eff.add_argument("--ray", metavar="ADDRESS",
                     help="run the jobs on Ray: 'local' starts one here, 'auto' or an address "
                          "joins a cluster")
    eff.add_argument("-q", "--quiet", action="store_true")
    eff.set_defaults(handler=_efficiency)


def _split(text: str | None, default: Any) -> list[str]:
    return list(default) if not text else [t.strip() for t in text.split(",") if t.strip()]


def _efficiency(args: argparse.Namespace) -> None:
    load_app()
    from qdl.app import report

    jobs = report.jobs_for(_split(args.datasets, report.DEFAULT_DATASETS),
                           _split(args.models, report.MODELS), args.seeds, args.epochs,
                           args.max_samples or None)
    executor = report.local_executor
    if args.ray:
        executor = report.ray_executor(args.ray)
    out = Path(args.out)
    with job_progress(args.quiet, "efficiency report", len(jobs)) as advance:
        results = report.run_report(out, jobs, executor, on_result=lambda r: advance(
            f"{r['dataset']} {r['model']} seed {r['seed']}: {r['score']:.3f}"))
    rows = report.summarize(results)
    settings = (f"{args.seeds} seeds, {args.epochs} epochs, Adam lr 0.02, batch 32, "
                f"at most {args.max_samples or 'all'} rows per dataset, split 70/10/20")
    table = report.markdown(rows, settings)
    (out / "efficiency.md").write_text(table)
    png = report.plot(rows, out / "efficiency.png")
    print(table)
    print(f"wrote {out / 'efficiency.md'}" + (f" and {png}" if png else ""), file=sys.stderr)
    if not results:
        raise QDLError("no jobs ran")
