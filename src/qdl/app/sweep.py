"""``qdl sweep``: a hyperparameter grid × seeds over one run configuration.

Every grid point and seed is an independent job (a full training run, test metric at the
selected epoch), run locally or as Ray tasks with the executors of :mod:`qdl.app.report`;
finished jobs are appended to ``results.jsonl`` so an interrupted sweep continues.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qdl.app.config import merge, validate
from qdl.errors import QDLError


@dataclass(frozen=True)
class SweepJob:
    """One training run of a sweep: the base config with ``point`` applied, and a seed."""

    base: str   # the base config as JSON (hashable, picklable)
    point: tuple[tuple[str, Any], ...]
    seed: int

    @property
    def key(self) -> str:
        """Identifies the job in ``results.jsonl``."""
        return json.dumps([dict(self.point), self.seed], sort_keys=True)

    def config(self) -> dict[str, Any]:
        """The run's nested config dict."""
        overrides: dict[str, dict[str, Any]] = {}
        for dotted, value in self.point:
            section, key = dotted.split(".", 1)
            overrides.setdefault(section, {})[key] = value
        overrides.setdefault("train", {})["seed"] = self.seed
        return merge(json.loads(self.base), overrides)


def parse_grid(items: Sequence[str]) -> list[tuple[str, list[Any]]]:
    """``["train.lr=0.01,0.1", "model.layers=1,2"]`` → ``[(key, values), ...]``.

    Values are read as JSON where possible (numbers, ``true``, lists such as ``[8,8]``
    separated by ``;``), else kept as strings.

    >>> parse_grid(["train.lr=0.01,0.1", "model.kind=hybrid,mlp"])
    [('train.lr', [0.01, 0.1]), ('model.kind', ['hybrid', 'mlp'])]
    """
    grid = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key.count(".") != 1 or not text:
            raise QDLError(f"--grid {item!r}: write SECTION.KEY=V1,V2 (e.g. train.lr=0.01,0.1)")
        splitter = ";" if "[" in text else ","
        grid.append((key.strip(), [_value(v.strip()) for v in text.split(splitter)]))
    return grid


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def sweep_jobs(base: dict[str, Any], grid: list[tuple[str, list[Any]]], seeds: int
               ) -> list[SweepJob]:
    """Every grid point × seed, each config validated before anything runs."""
    if seeds < 1:
        raise QDLError("--seeds must be >= 1")
    keys = [k for k, _ in grid]
    jobs = []
    for values in itertools.product(*(v for _, v in grid)):
        point = tuple(zip(keys, values, strict=True))
        for seed in range(seeds):
            job = SweepJob(json.dumps(base), point, seed)
            validate(job.config(), f"sweep point {dict(point)}")
            jobs.append(job)
    return jobs


def run_sweep_job(job: SweepJob) -> dict[str, Any]:
    """Train one job; its test metric, parameter count and grid point."""
    import torch

    from qdl.app.runner import Trainer, parameter_counts, prepare

    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # jobs run side by side; see report.run_job
    try:
        cfg = validate(job.config())
        trainer = Trainer(cfg, prepare(cfg))
        trainer.fit()
        epoch = trainer.select()
        test = trainer.test_metrics()
    finally:
        torch.set_num_threads(threads)
    metric = "accuracy" if "accuracy" in test else "r2"
    return {"key": job.key, "point": dict(job.point), "seed": job.seed, "metric": metric,
            "score": test[metric], "epoch": epoch,
            "parameters": parameter_counts(trainer.model)["total"]}


def sweep_table(results: list[dict[str, Any]]) -> str:
    """Markdown: one row per grid point, mean ± std over seeds, best mean in bold."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(json.dumps(r["point"], sort_keys=True), []).append(r)
    rows = []
    for point, rs in groups.items():
        scores = [r["score"] for r in rs]
        std = statistics.stdev(scores) if len(scores) > 1 else 0.0
        rows.append((json.loads(point), statistics.fmean(scores), std, rs[0]["parameters"],
                     rs[0]["metric"]))
    keys = list(rows[0][0]) if rows else []
    best = max((r[1] for r in rows), default=0.0)
    metric = rows[0][4] if rows else "score"
    lines = ["| " + " | ".join(keys) + f" | test {metric} (mean ± std) | parameters |",
             "|" + "---|" * (len(keys) + 2)]
    for point, mean, std, params, _ in rows:
        score = f"{mean:.3f} ± {std:.3f}"
        score = f"**{score}**" if mean == best else score
        lines.append("| " + " | ".join(str(point[k]) for k in keys) + f" | {score} | {params} |")
    return "\n".join(lines) + "\n"
