"""Training runs: data → model → seeded training with a checkpoint every epoch → metrics.

A run directory holds ``config.yaml`` (the resolved config), ``checkpoint.pt`` (model,
optimiser, history and the fitted preprocessing; rewritten atomically after every epoch),
``model.pt`` (final weights and preprocessing), ``metrics.json`` and the plots. Shuffling
uses a generator seeded by ``(seed, epoch)``, so a resumed run repeats exactly the batches
an uninterrupted run would have seen and ends with the same metrics.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from qdl.app.config import MAX_QUBITS, RunConfig, differences, validate

# Re-exported: callers (and tests) reach the run-directory and scoring helpers from here.
from qdl.app.evaluation import (  # noqa: F401
    circuit_of,
    confusion,
    criterion,
    metrics,
    parameter_counts,
    predict_outputs,
)
from qdl.app.rundir import (
    CHECKPOINT,
    CONFIG,
    FORMAT,
    METRICS,
    MODEL,
    atomic_save,
    atomic_write_text,
    check_data_file,
    exclusive,
    load_checkpoint,
    make_run_dir,
)
from qdl.data import Preprocessor, Table, load_csv, load_dataset, read_csv, split_indices
from qdl.data.qchem import with_qchem
from qdl.errors import QDLError, QDLWarning, first_line
from qdl.models import QCNN, VQC, HybridClassifier, HybridRegressor, QuanvolutionNet
from qdl.models.training import train_epoch
from qdl.sim import free_memory


@dataclass
class Prepared:
    """A dataset split, preprocessed with the preprocessing fitted on its training rows."""

    table: Table
    pre: Preprocessor
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]

    @property
    def task(self) -> str:
        """``classification`` or ``regression``."""
        return self.pre.task


def load_table(cfg: RunConfig) -> Table:
    """The configured dataset, subsampled to ``data.max_samples`` rows if set, with the
    feature set ``data.features`` (computed after subsampling: only the kept molecules)."""
    data = cfg.data
    if data.csv is not None:
        table = load_csv(data.csv, data.target or "", data.task)
    else:
        table = load_dataset(data.name or "", cfg.train.seed)
    n = len(table.frame)
    if data.max_samples is not None and data.max_samples < n:
        rows = np.sort(np.random.default_rng(cfg.train.seed).permutation(n)[:data.max_samples])
        smiles = None if table.smiles is None else tuple(table.smiles[i] for i in rows)
        table = Table(table.frame.iloc[rows].reset_index(drop=True), table.target, table.task,
                      table.name, table.image_shape, table.n_qubits, smiles)
    return with_qchem(table, data.features)


def _scale(cfg: RunConfig, table: Table) -> str:
    if table.n_qubits is not None:
        if cfg.model.kind in ("vqc", "quanvolution"):
            raise QDLError(f"{table.name!r} holds quantum states: use model qcnn (it reads the "
                           f"state), or hybrid, mlp or logistic (they read the amplitudes)")
        return "state"
    if cfg.model.kind == "quanvolution":
        if table.image_shape is None:
            raise QDLError(f"model quanvolution needs an image dataset (e.g. digits); "
                           f"{table.name!r} is tabular")
        return "image"
    return "angle" if cfg.model.kind in ("vqc", "qcnn") else "standard"


def prepare(cfg: RunConfig, table: Table | None = None) -> Prepared:
    """Split the configured data with the run's seed and fit the preprocessing on train."""
    table = load_table(cfg) if table is None else table
    labels = table.frame[table.target].astype(str).to_numpy() \
        if table.task == "classification" else None
    splits = split_indices(labels, len(table.frame), cfg.data.test_size, cfg.data.val_size,
                           cfg.train.seed)
    n_encoded = Preprocessor.fit(table, splits[0]).n_features
    pre = Preprocessor.fit(table, splits[0], cfg.resolved_pca(n_encoded), _scale(cfg, table))
    dtype = torch.float64 if cfg.train.dtype == "float64" else torch.float32
    x, y = {}, {}
    for name, rows in zip(("train", "val", "test"), splits, strict=True):
        frame = table.frame.iloc[rows]
        x[name] = torch.as_tensor(pre.transform(frame), dtype=dtype)
        target = torch.as_tensor(pre.encode_target(frame))
        y[name] = target if pre.classes else target.to(dtype).unsqueeze(-1)
    return Prepared(table, pre, x, y)


def build_model(cfg: RunConfig, pre: Preprocessor) -> nn.Module:
    """The configured model for ``pre.n_features`` inputs and ``pre.n_outputs`` outputs."""
    m, n_in, n_out = cfg.model, pre.n_features, pre.n_outputs
    quantum = {"init": m.init, "diff_method": cfg.train.diff_method}
    classify = pre.classes is not None
    if m.kind in ("vqc", "qcnn", "quanvolution") and not classify:
        raise QDLError(f"model {m.kind} is a classifier; use hybrid, mlp or logistic for "
                       f"regression")
    if m.kind == "hybrid":
        cls = HybridClassifier if classify else HybridRegressor
        return cls(n_in, n_out, m.qubits, m.layers, m.hidden, ansatz=m.ansatz, **quantum)
    if m.kind == "vqc":
        # Angle encoding puts one feature on each wire (PCA reduced them to <= qubits).
        if n_in > MAX_QUBITS:
            raise QDLError(f"vqc puts one feature on each qubit: {n_in} features need {n_in} "
                           f"qubits, more than {MAX_QUBITS}; set data.pca to at most "
                           f"{MAX_QUBITS} (or auto)")
        readout = "parity" if n_out == 2 else "z"
        if readout == "z" and n_out > n_in:
            raise QDLError(f"vqc reads one wire per class: {n_out} classes need >= {n_out} "
                           f"features/qubits, have {n_in}; set data.pca and model.qubits")
        return VQC(n_in, n_out, n_in, m.layers, ansatz=m.ansatz, readout=readout, **quantum)
    if m.kind == "qcnn":
        if pre.scale == "state":  # quantum data: the network acts on the states themselves
            return QCNN(n_in.bit_length() - 1, n_out, embedding="state", **quantum)
        return QCNN(m.qubits, n_out, n_features=n_in, **quantum)
    if m.kind == "quanvolution":
        shape = tuple(pre.image_shape or ())
        # Rows hold the pixels flattened; the filter wants (B, h, w) images.
        return nn.Sequential(nn.Unflatten(1, shape), QuanvolutionNet(
            shape, n_out, seed=cfg.train.seed, diff_method=cfg.train.diff_method))
    widths = [n_in, *(m.hidden if m.kind == "mlp" else []), n_out]
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers += [nn.ReLU()] if i else []
        layers.append(nn.Linear(widths[i], widths[i + 1]))
    return nn.Sequential(*layers)


def _available_memory(device: torch.device) -> int | None:
    """Bytes free for new tensors on ``device``: the simulator's own reading of it."""
    return int(free_memory(device))


def check_memory(cfg: RunConfig, pre: Preprocessor, device: torch.device) -> None:
    """``QDLError`` naming the key to change when the model cannot fit in ``device``'s memory.

    A rough lower bound, computed before anything is allocated: classical weights with
    their gradients and two optimiser moments, one batch of activations, and one batch of
    state vectors with a gradient and a scratch copy. Huge widths would otherwise end in an
    allocation error deep inside torch, or in the operating system killing the process.
    """
    m, size = cfg.model, 8 if cfg.train.dtype == "float64" else 4
    widths = {"hybrid": [pre.n_features, *m.hidden, m.qubits],
              "logistic": [pre.n_features, pre.n_outputs],
              "mlp": [pre.n_features, *m.hidden, pre.n_outputs]}.get(m.kind, [])
    params = sum((a + 1) * b for a, b in itertools.pairwise(widths))
    qubits = {"vqc": pre.n_features, "hybrid": m.qubits, "qcnn": m.qubits}.get(m.kind, 0)
    batch = min(cfg.train.batch_size, 1 << 20)
    classical = 4 * params * size + 2 * batch * sum(widths) * size
    quantum = 3 * batch * (2 * size) * 2**qubits if qubits else 0
    available = _available_memory(device)
    # Wider vqc circuits than the schema allows are refused by build_model, by name.
    if available is None or classical + quantum <= available or qubits > MAX_QUBITS:
        return
    width = "data.pca" if m.kind == "vqc" else "model.qubits"
    key = "model.hidden" if classical > quantum else f"{width} or train.batch_size"
    raise QDLError(f"the model needs at least {(classical + quantum) / 2**30:.1f} GiB of memory "
                   f"({params:,} classical parameters, {qubits} qubits, batches of {batch}), "
                   f"more than the {available / 2**30:.1f} GiB free on {device}; lower {key}")


def _device(name: str, rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise QDLError("train.device is cuda but torch sees no CUDA device; use cpu or auto")
    # Data-parallel processes take one GPU each (round robin when there are fewer GPUs).
    return torch.device(f"cuda:{rank % torch.cuda.device_count()}" if name == "cuda" else name)


def _optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    t = cfg.train
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    return cls[t.optimizer](model.parameters(), lr=t.lr, weight_decay=t.weight_decay)


def _load_weights(model: nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    """``model.load_state_dict(weights)``, with a mismatch named in one line."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unknown = sorted(set(weights) - set(expected))
    if missing or unknown:
        what = f"lacks weight {missing[0]!r}" if missing else f"has unknown weight {unknown[0]!r}"
        raise QDLError(f"{path} does not fit its configured model: it {what}")
    for name, tensor in weights.items():
        if tensor.shape != expected[name].shape:
            raise QDLError(f"{path} does not fit its configured model: weight {name!r} has "
                           f"shape {tuple(tensor.shape)}, the model needs "
                           f"{tuple(expected[name].shape)}")
    model.load_state_dict(weights)


EpochCallback = Callable[[dict[str, Any]], None]


@dataclass
class Trainer:
    """Trains one configured model; :meth:`fit` optionally checkpoints into a directory.

    With ``world > 1`` this is one of ``world`` data-parallel processes (``torch.distributed``
    must be initialised): every process walks the same batches, computes the loss on its
    share of each batch and ``DistributedDataParallel`` averages the gradients, so the
    step equals the single-process step up to rounding.
    """

    cfg: RunConfig
    data: Prepared
    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        self.device = _device(self.cfg.train.device, self.rank)
        check_memory(self.cfg, self.data.pre, self.device)
        torch.manual_seed(self.cfg.train.seed)
        model = build_model(self.cfg, self.data.pre)
        dtype = torch.float64 if self.cfg.train.dtype == "float64" else torch.float32
        self.model = model.to(device=self.device, dtype=dtype)
        self.step_model: nn.Module = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.step_model = DistributedDataParallel(self.model)
        self.optimizer = _optimizer(self.cfg, self.model)
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None

    def restore(self, ckpt: dict[str, Any], path: Path = Path(CHECKPOINT)) -> None:
        """Continue from a checkpoint's model, optimiser, history and best epoch so far."""
        _load_weights(self.model, ckpt["model"], path)
        if ckpt["best"] is not None:
            _load_weights(copy.deepcopy(self.model), ckpt["best"]["model"], path)
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (KeyError, ValueError, TypeError, RuntimeError, AttributeError,
                IndexError) as exc:
            raise QDLError(f"{path} is damaged: its optimizer state does not fit the model "
                           f"({first_line(exc)})") from None
        # load_state_dict does not compare shapes; a mismatch would crash the first step.
        for param, state in self.optimizer.state.items():
            if any(isinstance(v, torch.Tensor) and v.dim() and v.shape != param.shape
                   for v in state.values()):
                raise QDLError(f"{path} is damaged: its optimizer state does not fit the "
                               f"model (a moment of shape {tuple(param.shape)} differs)")
        if ckpt["epoch"] != len(ckpt["history"]):
            raise QDLError(f"{path} is damaged: epoch {ckpt['epoch']} but "
                           f"{len(ckpt['history'])} history records")
        self.history = list(ckpt["history"])
        self.best = ckpt["best"]

    def _track_best(self) -> None:
        val = self.history[-1].get("val_loss")
        if self.cfg.train.select != "best_val" or val is None:
            return
        if self.best is None or val < self.best["val_loss"]:
            weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.best = {"epoch": self.history[-1]["epoch"], "val_loss": val, "model": weights}

    def select(self) -> int:
        """Load the selected weights (``train.select``); returns the selected epoch."""
        if self.best is None:
            return len(self.history)
        self.model.load_state_dict(self.best["model"])
        return int(self.best["epoch"])

    def _epoch(self, epoch: int) -> dict[str, Any]:
        start = time.perf_counter()
        # The library's one training loop (qdl.models.train_epoch); DDP shares each batch.
        train_epoch(self.step_model, self.optimizer, criterion(self.data.task, "sum"),
                    self.data.x["train"], self.data.y["train"],
                    batch_size=self.cfg.train.batch_size, seed=self.cfg.train.seed,
                    epoch=epoch, rank=self.rank, world=self.world, device=self.device)
        record: dict[str, Any] = {"epoch": epoch + 1}
        for split in ("train", "val"):
            values = metrics(predict_outputs(self.model, self.data.x[split]),
                             self.data.y[split], self.data.pre)
            record.update({f"{split}_{k}": v for k, v in values.items()})
        record["seconds"] = time.perf_counter() - start
        if not math.isfinite(record["train_loss"]):
            raise QDLError(f"the training loss became {record['train_loss']} at epoch "
                           f"{epoch + 1}; lower train.lr")
        return record

    def fit(self, on_epoch: EpochCallback | None = None,
            checkpoint: Callable[[], None] | None = None) -> list[dict[str, Any]]:
        """Run the remaining epochs; call ``checkpoint`` then ``on_epoch`` after each."""
        for epoch in range(len(self.history), self.cfg.train.epochs):
            self.history.append(self._epoch(epoch))
            self._track_best()
            if checkpoint is not None:
                checkpoint()
            if on_epoch is not None:
                on_epoch(self.history[-1])
        return self.history

    def test_metrics(self) -> dict[str, float]:
        """Metrics on the held-out test rows."""
        return metrics(predict_outputs(self.model, self.data.x["test"]), self.data.y["test"],
                       self.data.pre)

    def state(self) -> dict[str, Any]:
        """Everything :meth:`restore` and :func:`load_run` need (``weights_only``-safe)."""
        return {"format": FORMAT, "epoch": len(self.history),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "history": self.history, "best": self.best,
                "preprocessor": self.data.pre.state(),
                "config": self.cfg.model_dump(mode="json")}


def _dump_config(cfg: RunConfig) -> str:
    try:
        import yaml
    except ImportError:
        raise QDLError('the qdl application needs pyyaml: pip install "qdl[app]"') from None
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


StartCallback = Callable[[RunConfig, int], None]


def train_run(
    cfg: RunConfig | None,
    run_dir: str | Path,
    *,
    resume: bool = False,
    on_epoch: EpochCallback | None = None,
    on_start: StartCallback | None = None,
    ddp: int = 1,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Train into ``run_dir`` (or continue the run there); returns the final metrics.

    Args:
        cfg: the run's configuration (``None`` with ``resume``: read it from the run).
        run_dir: directory for the config, checkpoints, metrics and plots.
        resume: continue from ``run_dir/checkpoint.pt``.
        on_epoch: called with each epoch's record (for progress bars).
        on_start: called with the config and the number of epochs already done.
        ddp: data-parallel processes (``torch.distributed``: gloo on CPU, nccl on CUDA);
            1 trains in this process.
        epochs: with ``resume``, a new ``train.epochs`` (at least the epochs already done):
            the one setting a resume may change. A finished run is extended, and ends as a
            run trained for ``epochs`` from the start would (same batches, same optimiser
            state); ``train.select`` then picks from all epochs.
    """
    run_dir = Path(run_dir)
    if isinstance(ddp, bool) or not isinstance(ddp, int) or ddp < 1:
        raise QDLError(f"ddp must be a number of processes >= 1, got {ddp!r}")
    if resume and not (run_dir / CHECKPOINT).is_file():
        load_checkpoint(run_dir / CHECKPOINT)  # raises: no checkpoint there
    if cfg is None and not resume:
        raise QDLError("train_run needs a config unless it resumes")
    cfg = None if cfg is None else absolute_data(cfg)
    make_run_dir(run_dir)
    with exclusive(run_dir):
        cfg, ckpt = _claim(run_dir, cfg, resume, epochs)
        if ckpt is not None:
            check_data_file(cfg, run_dir, "put it back there to resume")
        _device(cfg.train.device)  # a device error before any work (or worker processes)
        if on_start is not None:
            on_start(cfg, 0 if ckpt is None else ckpt["epoch"])
        if ddp == 1:
            return _train_in_dir(cfg, run_dir, ckpt, on_epoch)
        from qdl.app.distributed import spawn_training

        return spawn_training(cfg, run_dir, ckpt is not None, ddp, _train_in_dir, on_epoch)


def absolute_data(cfg: RunConfig) -> RunConfig:
    """``cfg`` with ``data.csv`` made absolute, so that the run works from any directory."""
    if cfg.data.csv is None or Path(cfg.data.csv).is_absolute():
        return cfg
    data = cfg.data.model_copy(update={"csv": os.path.abspath(cfg.data.csv)})
    return cfg.model_copy(update={"data": data})


def _claim(run_dir: Path, cfg: RunConfig | None, resume: bool, epochs: int | None = None
           ) -> tuple[RunConfig, dict[str, Any] | None]:
    """The run's config and checkpoint (``None`` for a new run), checked against ``cfg``.

    A resume keeps the saved config except ``train.epochs`` (``epochs``), which may grow.
    """
    if not resume:
        if (run_dir / CHECKPOINT).exists():
            raise QDLError(f"{run_dir} already holds a run; continue it with --resume "
                           f"{run_dir} or choose another --out directory")
        assert cfg is not None
        return cfg, None
    ckpt = load_checkpoint(run_dir / CHECKPOINT)
    saved = validate(ckpt["config"], str(run_dir / CHECKPOINT))
    if cfg is not None and cfg != saved:
        keys = differences(saved, cfg)
        raise QDLError(f"{run_dir} holds a run with other settings ({', '.join(keys)}); "
                       f"resume it unchanged or choose another output directory")
    if epochs is not None and epochs != saved.train.epochs:
        if epochs < ckpt["epoch"]:
            raise QDLError(f"{run_dir} has already trained {ckpt['epoch']} epochs; "
                           f"--epochs must be at least {ckpt['epoch']} to continue it")
        train = validate({**saved.model_dump(mode="json"),
                          "train": {**saved.train.model_dump(mode="json"), "epochs": epochs}},
                         "--epochs")
        saved = train
    return saved, ckpt


def _train_in_dir(cfg: RunConfig, run_dir: Path, ckpt: dict[str, Any] | None,
                  on_epoch: EpochCallback | None, rank: int = 0, world: int = 1
                  ) -> dict[str, Any]:
    """Train in this process; only rank 0 writes files."""
    trainer = Trainer(cfg, prepare(cfg), rank, world)
    if ckpt is not None:
        trainer.restore(ckpt, run_dir / CHECKPOINT)
    try:
        return _fit_and_save(trainer, run_dir, on_epoch, writer=rank == 0)
    except OSError as exc:  # a full disk, a removed directory, a quota
        saved = (run_dir / CHECKPOINT).is_file()
        fix = f"continue with: qdl train --resume {run_dir}" if saved else "train again"
        raise QDLError(f"cannot write {exc.filename or run_dir}: {exc.strerror or exc}; "
                       f"{'the last finished epoch is saved; ' if saved else ''}make room, "
                       f"then {fix}") from None


def _fit_and_save(trainer: Trainer, run_dir: Path, on_epoch: EpochCallback | None,
                  writer: bool) -> dict[str, Any]:
    cfg, world = trainer.cfg, trainer.world
    if writer:
        atomic_write_text(_dump_config(cfg), run_dir / CONFIG)
    started = time.perf_counter() - sum(r["seconds"] for r in trainer.history)

    events = None
    if writer and cfg.train.tensorboard:
        from qdl.app.tensorboard import EventLog

        events = EventLog(run_dir, trainer)

    def checkpoint() -> None:
        if writer:
            atomic_save(trainer.state(), run_dir / CHECKPOINT)
            _write_metrics(trainer, run_dir, time.perf_counter() - started, final=False)
        if events is not None:
            events.epoch(trainer.history[-1])

    trainer.fit(on_epoch, checkpoint)
    selected = trainer.select()
    if not writer:
        return {}
    state = trainer.state()
    atomic_save({**{k: state[k] for k in ("format", "model", "preprocessor", "config")},
                 "epoch": selected}, run_dir / MODEL)
    result = _write_metrics(trainer, run_dir, time.perf_counter() - started, final=True,
                            world=world)
    result["selected_epoch"] = selected
    from qdl.app.plots import write_plots

    result["plots"] = write_plots(run_dir, trainer, selected)
    atomic_write_text(json.dumps(result, indent=2), run_dir / METRICS)
    if events is not None:
        events.close(result)
    return result


def _width(circuit: Any) -> int:
    return 0 if circuit is None else circuit.n_qubits


def _write_metrics(trainer: Trainer, run_dir: Path, wall: float, final: bool, world: int = 1
                   ) -> dict[str, Any]:
    from qdl import __version__

    data = trainer.data
    result = {
        "status": "complete" if final else "running",
        "qdl_version": __version__,
        "dataset": {"name": data.table.name, "task": data.task,
                    "rows": {k: len(v) for k, v in data.x.items()},
                    "features": data.pre.n_features, "classes": data.pre.classes},
        "model": trainer.cfg.model.kind,
        "device": str(trainer.device),
        "processes": world,
        "parameters": parameter_counts(trainer.model),
        "qubits": _width(circuit_of(trainer.model)),
        "epochs": trainer.history,
        "test": trainer.test_metrics() if final else None,
        "wall_time_s": wall,
    }
    atomic_write_text(json.dumps(result, indent=2), run_dir / METRICS)
    return result


@dataclass
class LoadedRun:
    """A finished (or checkpointed) run: its config, preprocessing and model in eval mode.

    Attributes:
        cfg: the run's configuration.
        pre: the preprocessing fitted at training time.
        model: the selected weights, in eval mode.
        epoch: the epoch whose weights ``model`` holds (``None``: a model.pt of an older QDL).
        notice: why the weights may not be what the user expects (an unfinished run), or
            ``None``.
    """

    cfg: RunConfig
    pre: Preprocessor
    model: nn.Module
    epoch: int | None = None
    notice: str | None = None


def load_run(run_dir: str | Path) -> LoadedRun:
    """The final model of a run (``model.pt``, else the latest checkpoint)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise QDLError(f"no such run directory: {run_dir}")
    path = run_dir / MODEL if (run_dir / MODEL).exists() else run_dir / CHECKPOINT
    ckpt = load_checkpoint(path)
    cfg = validate(ckpt["config"], str(path))
    try:
        pre = Preprocessor.from_state(ckpt["preprocessor"])
    except QDLError as exc:
        raise QDLError(f"{path} is damaged: {exc}") from None
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, pre)
    model = model.to(torch.float64 if cfg.train.dtype == "float64" else torch.float32)
    weights, epoch, notice = _selected_weights(ckpt, path, cfg)
    _load_weights(model, weights, path)
    return LoadedRun(cfg, pre, model.eval(), epoch, notice)


def _selected_weights(ckpt: dict[str, Any], path: Path, cfg: RunConfig
                      ) -> tuple[dict[str, torch.Tensor], int | None, str | None]:
    """The weights to use, their epoch and, for a run that did not finish, a notice."""
    epoch = ckpt.get("epoch")
    if path.name == MODEL:
        return ckpt["model"], epoch if isinstance(epoch, int) else None, None
    # No model.pt: the run was stopped (killed, interrupted) before it finished. Use the
    # weights train.select would have picked so far, and say so.
    weights, used, how = ckpt["model"], epoch, "the last saved"
    if ckpt["best"] is not None:
        weights, used = ckpt["best"]["model"], ckpt["best"]["epoch"]
        how = "the best validation loss so far"
    notice = (f"{path.parent} did not finish (no {MODEL}; stopped after epoch {epoch} of "
              f"{cfg.train.epochs}): using the weights of epoch {used}, {how}; finish it "
              f"with qdl train --resume {path.parent}")
    return weights, used, notice


def evaluate_run(run_dir: str | Path, data_file: str | None = None) -> dict[str, Any]:
    """Metrics of a run's model on its test split, or on every row of ``data_file``.

    The result names the data (``data``) and the epoch of the weights used (``weights``);
    a run that did not finish also warns (:class:`~qdl.errors.QDLWarning`).
    """
    run = _load_and_notify(run_dir)
    if data_file is None:
        check_data_file(run.cfg, Path(run_dir), "put it back there, or evaluate on another "
                                                "file with --data FILE (all its rows)")
        data = prepare(run.cfg)
        x, y, pre = data.x["test"], data.y["test"], data.pre
        source = f"{data.table.name} (test split, {len(x)} rows)"
    else:
        table = load_csv(data_file, run.pre.target, run.pre.task)
        pre = run.pre
        x = torch.as_tensor(pre.transform(table.frame), dtype=_real(run.model))
        target = torch.as_tensor(pre.encode_target(table.frame))
        y = target if pre.classes else target.to(x.dtype).unsqueeze(-1)
        source = f"{data_file} ({len(x)} rows)"
    return {"data": source, "weights": _weights_text(run),
            **metrics(predict_outputs(run.model, x), y, pre)}


def _load_and_notify(run_dir: str | Path) -> LoadedRun:
    run = load_run(run_dir)
    if run.notice is not None:
        warnings.warn(run.notice, QDLWarning, stacklevel=3)
    return run


def _weights_text(run: LoadedRun) -> str:
    epoch = "final" if run.epoch is None else f"epoch {run.epoch} of {run.cfg.train.epochs}"
    return f"{epoch} (unfinished run)" if run.notice else epoch


def _real(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def predict_file(run_dir: str | Path, input_csv: str, output_csv: str) -> int:
    """Write predictions for every row of ``input_csv``; returns the number of rows.

    The output holds the input columns, ``prediction`` and, for classifiers, one
    ``p_<class>`` probability column per class. A run that did not finish warns
    (:class:`~qdl.errors.QDLWarning`) which epoch's weights it uses.
    """
    run = _load_and_notify(run_dir)
    frame = read_csv(input_csv)
    if len(frame) == 0:
        raise QDLError(f"{input_csv} has a header but no data rows to predict")
    features = [c for c in frame.columns if c != run.pre.target]
    if len(features) != len(run.pre.features):
        raise QDLError(f"{input_csv} has {len(features)} feature column(s); the run was "
                       f"trained on {len(run.pre.features)}: {', '.join(run.pre.features)}")
    x = torch.as_tensor(run.pre.transform(frame), dtype=_real(run.model))
    outputs = predict_outputs(run.model, x)
    out = frame.copy()
    if run.pre.classes is None:
        out["prediction"] = run.pre.decode_target(outputs[:, 0].double().numpy())
    else:
        out["prediction"] = run.pre.decode_target(outputs.argmax(-1).numpy())
        probs = outputs.softmax(-1).double().numpy()
        for k, name in enumerate(run.pre.classes):
            out[f"p_{name}"] = probs[:, k]
    try:
        out.to_csv(output_csv, index=False)
    except OSError as exc:
        raise QDLError(f"cannot write {output_csv}: {exc.strerror or exc}") from None
    return len(out)
