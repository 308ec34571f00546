"""Data-parallel training with ``torch.distributed``: one process per worker.

The parent process spawns ``N`` workers (gloo on CPU, nccl on CUDA, one GPU each), follows
their progress through ``metrics.json`` (which rank 0 rewrites after every epoch) and
returns the final metrics. Every worker holds the whole (small) dataset and walks the same
seeded batches; each computes the loss on its share of a batch and DDP averages the
gradients, so a run with ``N`` workers takes the same steps as one process, up to rounding.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from qdl.app.config import RunConfig, validate
from qdl.app.rundir import CHECKPOINT, load_checkpoint
from qdl.errors import QDLError

# The runner's training function, handed in by the runner (spawn pickles it by name): this
# module never imports the runner, so the two do not import each other.
TrainInDir = Callable[..., dict[str, Any]]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, cfg: dict[str, Any], run_dir: str,
            resume: bool, train: TrainInDir) -> None:
    import torch.distributed as dist

    config = validate(cfg)
    cuda = config.train.device != "cpu" and torch.cuda.is_available()
    # Workers share the machine's cores: one thread each avoids oversubscription.
    torch.set_num_threads(1)
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)
    try:
        ckpt = load_checkpoint(Path(run_dir) / CHECKPOINT) if resume else None
        train(config, Path(run_dir), ckpt, None, rank, world)
    finally:
        dist.destroy_process_group()


def spawn_training(cfg: RunConfig, run_dir: Path, resume: bool, world: int,
                   train: TrainInDir, on_epoch: Any = None) -> dict[str, Any]:
    """Train with ``world`` processes; returns rank 0's final metrics.

    Args:
        cfg: the run's configuration.
        run_dir: the (locked) run directory.
        resume: continue from its checkpoint.
        world: the number of processes.
        train: ``train(cfg, run_dir, ckpt, on_epoch, rank, world)``, run in every worker.
        on_epoch: called in this process with each epoch's record as rank 0 writes it.
    """
    import torch.multiprocessing as mp

    metrics = run_dir / "metrics.json"
    seen = 0
    if resume and metrics.exists():
        seen = len(json.loads(metrics.read_text())["epochs"])
    context = mp.spawn(_worker, args=(world, _free_port(), cfg.model_dump(mode="json"),
                                      str(run_dir), resume, train), nprocs=world, join=False)
    # torch logs a warning for every sibling it terminates after a worker fails; the
    # failure itself is reported below as one line.
    spawn_log = logging.getLogger("torch.multiprocessing.spawn")
    level = spawn_log.level
    spawn_log.setLevel(logging.ERROR)
    try:
        while True:
            finished = context.join(timeout=0.5)
            seen = _report_new_epochs(metrics, seen, on_epoch)
            if finished:
                break
    except mp.ProcessRaisedException as exc:
        raise QDLError(_worker_error(str(exc))) from None
    except mp.ProcessExitedException as exc:
        raise QDLError(f"a data-parallel worker died: {exc}") from None
    finally:
        spawn_log.setLevel(level)
        # Interrupted (SIGINT to this process only, or an error): the workers must not
        # go on writing into the run directory once its lock is released.
        _stop(context.processes)
    result = json.loads(metrics.read_text())
    if result.get("status") != "complete":
        raise QDLError("the data-parallel workers stopped before the run completed")
    return result


def _stop(processes: list[Any]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()


def _worker_error(text: str) -> str:
    """One line for a worker's exception: a QDLError's own message, else its last line."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else text
    prefix = f"{QDLError.__module__}.{QDLError.__name__}: "
    if last.startswith(prefix):
        return last.removeprefix(prefix)
    return f"a data-parallel worker failed: {last}"


def _report_new_epochs(metrics: Path, seen: int, on_epoch: Any) -> int:
    if on_epoch is None or not metrics.exists():
        return seen
    try:
        epochs = json.loads(metrics.read_text())["epochs"]
    except (ValueError, KeyError):  # the file is replaced atomically, but be lenient
        return seen
    for record in epochs[seen:]:
        on_epoch(record)
    return max(seen, len(epochs))
