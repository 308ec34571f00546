"""``qdl report efficiency``: quantum models beside classical baselines, measured.

For every dataset, every model of :data:`MODELS` is trained with several seeds on the same
splits and preprocessing (a seed fixes split, initial weights and batch order alike); the
report gives test accuracy (R² for regression) mean ± std, trainable parameter counts and
training time, as a markdown table and a plot of accuracy against parameter count.

Each (dataset, model, seed) job is independent: results are appended to
``results.jsonl`` as they finish, so an interrupted report continues where it stopped,
and the jobs can run on a Ray cluster (``executor="ray"``).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qdl.app.config import RunConfig, validate
from qdl.app.quantum_data import QUANTUM_MODELS, run_quantum_job
from qdl.app.runner import Trainer, build_model, parameter_counts, prepare
from qdl.errors import QDLError

MODELS: dict[str, dict[str, Any]] = {
    # A Linear pre-net into a 4-qubit circuit, then a Linear head: the quantum layer is
    # the only non-linearity, so the comparison is about the circuit, not a big MLP.
    "hybrid": {"kind": "hybrid", "qubits": 4, "layers": 2, "hidden": []},
    # All trainable weights in the circuit (features PCA-reduced to one per qubit; one
    # qubit per class when there are more than 4 classes).
    "vqc": {"kind": "vqc", "qubits": 4, "layers": 2},
    "logistic": {"kind": "logistic"},
    # One hidden layer sized so its parameter count is closest to the hybrid model's.
    "mlp-matched": {"kind": "mlp", "hidden": "matched"},
    "mlp-large": {"kind": "mlp", "hidden": [64, 64]},
}
# Quantum data (states): a QCNN reading them, classical learners on their shadows; these
# models run on quantum datasets only, the ones above on the tabular ones only.
MODELS.update(QUANTUM_MODELS)
CLASSIFIER_ONLY = ("vqc",)
DEFAULT_DATASETS = ("iris", "wine", "breast-cancer", "digits", "moons", "circles", "xor",
                    "bbbp", "chembl-pic50", "credit", "smarket", "phishing",
                    "tfim", "cluster-ising", "dimer")


@dataclass(frozen=True)
class Job:
    """One training run of the report."""

    dataset: str
    model: str
    seed: int
    epochs: int = 30
    max_samples: int | None = 1000

    @property
    def key(self) -> str:
        """Identifies the job in ``results.jsonl``."""
        return f"{self.dataset}/{self.model}/{self.seed}/{self.epochs}/{self.max_samples}"


def job_config(job: Job, model: dict[str, Any]) -> RunConfig:
    """The run configuration that trains ``model`` on ``job``'s dataset, seed and epochs."""
    return validate({"data": {"name": job.dataset, "max_samples": job.max_samples},
                     "model": model,
                     "train": {"epochs": job.epochs, "seed": job.seed, "lr": 0.02,
                               "batch_size": 32, "device": "cpu"}}, f"report job {job.key}")


def _matched_width(job: Job, data: Any) -> int:
    """Hidden width of a one-layer MLP with about as many parameters as the hybrid model."""
    hybrid = build_model(job_config(job, MODELS["hybrid"]), data.pre)
    target = parameter_counts(hybrid)["total"]
    d, c = data.pre.n_features, data.pre.n_outputs
    return max(1, round((target - c) / (d + 1 + c)))


def run_job(job: Job) -> dict[str, Any]:
    """Train one job and return its test metric, parameter counts and time.

    >>> r = run_job(Job("xor", "logistic", seed=0, epochs=2))
    >>> sorted(r)
    ['dataset', 'epochs', 'key', 'max_samples', 'metric', 'model', 'parameters', 'score', \
'seconds', 'seed']
    """
    import torch

    from qdl.data.registry import is_quantum

    if is_quantum(job.dataset):
        return run_quantum_job(job)
    # Jobs may run in worker processes beside each other: one thread each avoids
    # oversubscribing the cores (small circuits gain nothing from a second thread).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec = dict(MODELS[job.model])
        data = prepare(job_config(job, {"kind": "logistic"}))
        if spec.get("hidden") == "matched":
            spec["hidden"] = [_matched_width(job, data)]
        if spec["kind"] == "vqc":
            # The vqc reads one wire per class: digits (10 classes) needs 10 qubits.
            spec["qubits"] = max(spec["qubits"], data.pre.n_outputs)
        cfg = job_config(job, spec)
        start = time.perf_counter()
        trainer = Trainer(cfg, prepare(cfg, data.table))
        trainer.fit()
        trainer.select()
        seconds = time.perf_counter() - start
        test = trainer.test_metrics()
    finally:
        torch.set_num_threads(threads)
    metric = "accuracy" if "accuracy" in test else "r2"
    return {**asdict(job), "key": job.key, "metric": metric, "score": test[metric],
            "parameters": parameter_counts(trainer.model), "seconds": seconds}


def jobs_for(datasets: Sequence[str], models: Sequence[str], seeds: int, epochs: int,
             max_samples: int | None) -> list[Job]:
    """Every (dataset, model, seed) job, skipping classifier-only models on regression."""
    from qdl.data import DATASETS

    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise QDLError(f"unknown report model(s) {unknown}; choose from {', '.join(MODELS)}")
    bad = [d for d in datasets if d not in DATASETS]
    if bad:
        raise QDLError(f"unknown dataset(s) {bad}; see qdl datasets")
    if seeds < 1 or epochs < 1:
        raise QDLError("--seeds and --epochs must be >= 1")
    from qdl.data.registry import is_quantum

    return [Job(d, m, s, epochs, max_samples) for d in datasets for m in models
            if not (m in CLASSIFIER_ONLY and DATASETS[d].task == "regression")
            and (m in QUANTUM_MODELS) == is_quantum(d)
            for s in range(seeds)]


Executor = Callable[[Callable[[Job], dict[str, Any]], list[Job]], Iterable[dict[str, Any]]]


def local_executor(fn: Callable[[Job], dict[str, Any]], jobs: list[Job]
                   ) -> Iterable[dict[str, Any]]:
    """Run the jobs one after another in this process, yielding results as they finish."""
    for job in jobs:
        yield fn(job)


def run_report(
    out_dir: str | Path,
    jobs: list[Job],
    executor: Executor = local_executor,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the jobs not yet in ``out_dir/results.jsonl``; return all results of ``jobs``."""
    return run_jobs(out_dir, jobs, run_job, executor, on_result)


def run_jobs(
    out_dir: str | Path,
    jobs: Sequence[Any],
    fn: Callable[[Any], dict[str, Any]],
    executor: Executor = local_executor,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``fn`` on the jobs (anything with a ``key``) missing from ``out_dir/results.jsonl``.

    Results are appended one line per finished job, flushed, so a kill loses at most the
    running jobs; returns the results of all ``jobs`` in their order. Used by the efficiency
    report and by ``qdl sweep``.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QDLError(f"cannot create the report directory {out}: {exc.strerror or exc}"
                       ) from None
    path = out / "results.jsonl"
    done = _read_results(path)
    todo = [j for j in jobs if j.key not in done]
    with open(path, "a") as f:
        for result in executor(fn, todo):
            # One line per finished job, flushed: a kill loses at most the running jobs.
            f.write(json.dumps(result) + "\n")
            f.flush()
            done[result["key"]] = result
            if on_result is not None:
                on_result(result)
    return [done[j.key] for j in jobs]


def _read_results(path: Path) -> dict[str, dict[str, Any]]:
    """The finished jobs in ``path`` by key; a line cut short by a kill is dropped.

    The file is rewritten without such a line, so that the next result starts a fresh line.
    """
    if not path.exists():
        return {}
    text = path.read_text()
    done, kept = {}, []
    for line in text.splitlines():
        try:
            record = json.loads(line)
            done[record["key"]] = record
        except (ValueError, TypeError, KeyError):
            continue
        kept.append(line)
    clean = "".join(line + "\n" for line in kept)
    if clean != text:
        from qdl.app.runner import atomic_write_text

        atomic_write_text(clean, path)
    return done


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (dataset, model): mean ± std of the score over seeds, parameters, time."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["dataset"], r["model"]), []).append(r)
    rows = []
    for (dataset, model), rs in groups.items():
        scores = [r["score"] for r in rs]
        params = rs[0]["parameters"]
        rows.append({"dataset": dataset, "model": model, "metric": rs[0]["metric"],
                     "mean": statistics.fmean(scores),
                     "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                     "seeds": len(scores), "quantum": params["quantum"],
                     "total": params["total"],
                     "seconds": statistics.fmean(r["seconds"] for r in rs)})
    return rows


def markdown(rows: list[dict[str, Any]], settings: str) -> str:
    """The summary as a markdown table, best mean marked in bold per dataset."""
    lines = [f"Settings: {settings}", "",
             "| dataset | model | test score (mean ± std) | parameters (quantum) | "
             "train time (s) |", "|---|---|---|---|---|"]
    best = {}
    for r in rows:
        best[r["dataset"]] = max(best.get(r["dataset"], -math.inf), r["mean"])
    for r in rows:
        score = f"{r['mean']:.3f} ± {r['std']:.3f}"
        if r["mean"] == best[r["dataset"]]:
            score = f"**{score}**"
        metric = "" if r["metric"] == "accuracy" else f" ({r['metric']})"
        lines.append(f"| {r['dataset']}{metric} | {r['model']} | {score} | {r['total']} "
                     f"({r['quantum']}) | {r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Score against parameter count, one panel per dataset (None without matplotlib)."""
    try:
        from qdl.app.plots import pyplot

        plt = pyplot()
    except ImportError:
        return None
    from qdl.app.plots import efficiency_plot

    return efficiency_plot(plt, rows, path)


def _join(ray: Any, address: str) -> None:
    """``ray.init(address)``, a failure to join being one line that names the likely cause."""
    try:
        ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        token = "" if os.environ.get("RAY_AUTH_MODE") else (
            "; a head started by `ray start --head` with Ray >= 2.5x uses token "
            "authentication: set RAY_AUTH_MODE=token (and the head's token, e.g. "
            "RAY_AUTH_TOKEN) before joining")
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise QDLError(f"cannot join the Ray cluster at {address}: {first[:200]}"
                       f"{token}") from None


def ray_executor(address: str = "local", num_cpus: int | None = None,
                 max_retries: int = 3) -> Executor:
    """An executor running each job as a Ray task (``pip install "qdl[ray]"``).

    Args:
        address: ``local`` starts a Ray instance in this process; ``auto`` or a
            ``ray://host:port`` / ``host:port`` address joins an existing cluster.
        num_cpus: CPUs of a ``local`` instance (default: all).
        max_retries: times Ray reruns a job whose worker process died.

    Results are yielded as jobs finish (not in submission order). A worker that dies
    mid-job (killed, out of memory) is retried by Ray; a job that raises is not retried,
    and its error is re-raised here.
    """
    try:
        import ray
    except ImportError:
        raise QDLError('--ray needs the ray package: pip install "qdl[ray]"') from None

    def execute(fn: Callable[[Job], dict[str, Any]], jobs: list[Job]
                ) -> Iterable[dict[str, Any]]:
        if not jobs:
            return
        if not ray.is_initialized():
            if address == "local":
                # address="local": a new instance here even when `ray start` has recorded a
                # cluster on this machine (plain ray.init() would try to join that one).
                ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                         log_to_driver=False)
            else:
                _join(ray, address)
        remote = ray.remote(num_cpus=1, max_retries=max_retries)(fn)
        pending = [remote.remote(job) for job in jobs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])

    return execute
