"""``qdl train``, ``evaluate``, ``predict``, ``demo`` and ``datasets``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qdl.app import choices
from qdl.data.registry import check_file, dataset_info
from qdl.errors import QDLError
from qdl.progress import progress


def load_config() -> Any:
    """The run-config module (pydantic, no torch), imported only when a command needs it."""
    try:
        from qdl.app import config
    except ImportError as exc:
        raise _missing(exc) from None
    return config


def load_app() -> Any:
    """The application modules (torch with them), imported only when a command needs them."""
    config = load_config()
    try:
        from qdl.app import runner
    except ImportError as exc:
        raise _missing(exc) from None
    return config, runner


def _missing(exc: ImportError) -> QDLError:
    return QDLError(f'this command needs the app extra ({exc.name} is missing): '
                    f'pip install "qdl[app]"')


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    data = p.add_argument_group("data (override the config file)")
    data.add_argument("--dataset", help="registry dataset (see: qdl datasets)")
    data.add_argument("--data", metavar="FILE.csv", help="a CSV file instead of a dataset")
    data.add_argument("--target", help="target column of --data")
    data.add_argument("--task", choices=choices.TASKS)
    data.add_argument("--max-samples", type=int, help="train on a random subset of rows")
    data.add_argument("--pca", type=int, help="keep this many principal components")
    data.add_argument("--features", choices=choices.FEATURE_SETS,
                      help="molecule datasets: RDKit descriptors, quantum-chemistry (qchem) "
                           "features, or both")
    model = p.add_argument_group("model")
    model.add_argument("--model", dest="kind",
                       choices=choices.MODELS)
    model.add_argument("--qubits", type=int)
    model.add_argument("--layers", type=int)
    model.add_argument("--ansatz", choices=choices.ANSATZE)
    model.add_argument("--hidden", type=_widths, help="hidden widths, e.g. 16 or 32,16")
    train = p.add_argument_group("training")
    train.add_argument("--optimizer", choices=choices.OPTIMIZERS)
    train.add_argument("--lr", type=float)
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=choices.DEVICES)
    train.add_argument("--diff-method", choices=choices.DIFF_METHODS)
    train.add_argument("--dtype", choices=choices.PRECISIONS,
                       help="precision of weights and features (states: complex64/complex128)")
    train.add_argument("--tensorboard", action="store_const", const=True,
                       help="write TensorBoard event files into RUN/tensorboard")


def _widths(text: str) -> list[int]:
    try:
        return [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of ints") from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``evaluate``, ``predict``, ``demo`` and ``datasets`` to ``sub``."""
    train = sub.add_parser("train", help="train a model; writes a run directory")
    train.add_argument("config", nargs="?", help="YAML, TOML or JSON run configuration")
    train.add_argument("-o", "--out", help="run directory (default: runs/DATASET-MODEL-TIME)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    train.add_argument("--ddp", type=int, default=1, metavar="N",
                       help="data-parallel processes (torch.distributed; gloo on CPU)")
    _add_train_flags(train)
    train.set_defaults(handler=_train)

    ev = sub.add_parser("evaluate", help="metrics of a trained run on test data or a CSV")
    ev.add_argument("run_dir")
    ev.add_argument("--data", metavar="FILE.csv", help="rows with features and the target")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(handler=_evaluate)

    pr = sub.add_parser("predict", help="predictions of a trained run for a CSV file")
    pr.add_argument("run_dir")
    pr.add_argument("input", help="CSV with the training feature columns")
    pr.add_argument("-o", "--output", required=True, help="CSV file to write")
    pr.set_defaults(handler=_predict)

    demo = sub.add_parser("demo", help="train a small hybrid model and two baselines")
    demo.add_argument("-o", "--out", default="qdl-demo", help="directory for the runs")
    demo.add_argument("--epochs", type=int, default=20)
    demo.set_defaults(handler=_demo)

    ds = sub.add_parser("datasets", help="list the bundled datasets")
    ds.add_argument("--json", action="store_true")
    ds.set_defaults(handler=_datasets)


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {
        "data": {"name": args.dataset, "csv": args.data, "target": args.target,
                 "task": args.task, "max_samples": args.max_samples, "pca": args.pca,
                 "features": args.features},
        "model": {"kind": args.kind, "qubits": args.qubits, "layers": args.layers,
                  "ansatz": args.ansatz, "hidden": args.hidden},
        "train": {"optimizer": args.optimizer, "lr": args.lr, "epochs": args.epochs,
                  "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
                  "diff_method": args.diff_method, "dtype": args.dtype,
                  "tensorboard": args.tensorboard},
    }


def _train(args: argparse.Namespace) -> None:
    # Importing torch and loading the data and the model take seconds on a busy machine. The
    # config is read and checked first, without torch (its errors come alone), then one line
    # says what is about to happen: on stderr beside the progress lines, terminal or not (CI
    # logs and notebooks read it through a pipe), before the slow part.
    config, epochs = load_config(), None
    if args.resume:
        _check_resume_flags(args)
        run_dir, cfg, source, epochs = Path(args.resume), None, "resumed", args.epochs
    else:
        cfg = _run_config(config, args)
        run_dir = Path(args.out) if args.out else _default_dir(cfg)
        source = str(run_dir)
    if not args.quiet:
        print(f"qdl train: {_plan(cfg, run_dir, args)}", file=sys.stderr, flush=True)
    _, runner = load_app()
    with _progress(args.quiet) as bar:
        try:
            result = runner.train_run(cfg, run_dir, resume=bool(args.resume), epochs=epochs,
                                      on_start=bar.start, on_epoch=bar.update, ddp=args.ddp)
        except KeyboardInterrupt:
            print(f"qdl: interrupted; the last finished epoch is saved. Continue with: "
                  f"qdl train --resume {run_dir}", file=sys.stderr)
            raise
    _print_result(result, run_dir, source)


def _run_config(config: Any, args: argparse.Namespace) -> Any:
    """The checked config of a new run: the config file, if any, updated by the flags; its
    data source must exist (checked without loading it)."""
    base = config.read_config(args.config) if args.config else {}
    section = base.get("data") if isinstance(base.get("data"), dict) else {}
    # A source given on the command line replaces the config file's source.
    if args.data is not None:
        section.pop("name", None)
    if args.dataset is not None:
        section.pop("csv", None)
    raw = config.merge(base, _overrides(args))
    cfg = config.validate(raw, args.config or "command line")
    if cfg.data.name is not None:
        dataset_info(cfg.data.name)
    else:
        check_file(cfg.data.csv)
    return cfg


def _plan(cfg: Any, run_dir: Path, args: argparse.Namespace) -> str:
    """What ``qdl train`` is about to do, in one line (after ``qdl train: ``).

    >>> from qdl.app.config import validate
    >>> args = argparse.Namespace(ddp=1, epochs=None)
    >>> _plan(validate({"data": {"name": "iris", "max_samples": 100}}), Path("run"), args)
    'hybrid model on iris (100 of 150 rows), 30 epochs, into run; loading torch, ...'
    """
    processes = f" in {args.ddp} processes" if args.ddp > 1 else ""
    if cfg is None:
        more = f" to {args.epochs} epochs" if args.epochs else ""
        return (f"resuming the run in {run_dir}{more}{processes}; loading torch, its "
                f"checkpoint and the data ...")
    if cfg.data.name is not None:
        rows = dataset_info(cfg.data.name).samples
        kept = f"{cfg.data.max_samples} of " if (cfg.data.max_samples or rows) < rows else ""
        source = f"{cfg.data.name} ({kept}{rows} rows)"
    else:
        source = f"{cfg.data.csv} (target {cfg.data.target})"
    epochs = cfg.train.epochs
    return (f"{cfg.model.kind} model on {source}, {epochs} epoch{'s' * (epochs != 1)}"
            f"{processes}, into {run_dir}; loading torch, the data and the model ...")


def _check_resume_flags(args: argparse.Namespace) -> None:
    """``--resume`` keeps the saved config; only ``--epochs`` (to extend the run) may change."""
    given = [f"--{key.replace('_', '-')}" for section in _overrides(args).values()
             for key, value in section.items() if value is not None and key != "epochs"]
    if args.config:
        given.insert(0, args.config)
    if given:
        raise QDLError(f"--resume continues a run with its saved config; only --epochs may "
                       f"change (to extend the run), got {', '.join(given)}")


def _default_dir(cfg: Any) -> Path:
    name = cfg.data.name or Path(cfg.data.csv).stem
    return Path("runs") / f"{name}-{cfg.model.kind}-{time.strftime('%Y%m%d-%H%M%S')}"


class _Bar:
    """Progress over a run's epochs (:mod:`qdl.progress`): loss and the main metric."""

    def __init__(self, display: Any):
        self.display = display
        self.update_task: Any = None

    def start(self, cfg: Any, done: int) -> None:
        source = cfg.data.name or Path(cfg.data.csv).name
        self.update_task = self.display.add(f"{cfg.model.kind} on {source}", cfg.train.epochs,
                                            "epochs", completed=done)

    def update(self, record: dict[str, Any]) -> None:
        if self.update_task is None:
            return
        stats = f"loss {record['train_loss']:.4f}"
        for key in ("val_accuracy", "train_accuracy", "val_r2", "train_r2"):
            if key in record:
                stats += f"  {key} {record[key]:.3f}"
                break
        self.update_task(completed=record["epoch"], stats=stats)


@contextmanager
def _progress(quiet: bool) -> Iterator[_Bar]:
    with progress(quiet) as display:
        yield _Bar(display)


@contextmanager
def job_progress(quiet: bool, label: str, total: int) -> Iterator[Callable[[str], None]]:
    """Progress over ``total`` jobs; yields ``advance(text)`` to call after each job."""
    with progress(quiet) as display:
        update = display.add(label, total, "jobs")
        yield lambda text: update(advance=1, stats=text)


def _print_result(result: dict[str, Any], run_dir: Path, source: str) -> None:
    test = ", ".join(f"{k} {v:.4f}" for k, v in (result["test"] or {}).items())
    print(f"run: {run_dir}" + (f" ({source})" if source != str(run_dir) else ""))
    print(f"test: {test}")
    print(f"parameters: {_parameters_text(result)}; wall time {result['wall_time_s']:.1f} s")
    plots = result.get("plots", {})
    if plots.get("files"):
        print("plots: " + ", ".join(str(run_dir / f) for f in plots["files"]))
    elif plots.get("skipped"):
        print(f"plots skipped: {plots['skipped']}")


def _parameters_text(result: dict[str, Any]) -> str:
    """``24 quantum on 4 qubits, 574 classical, 598 in all``.

    A model whose circuit has no trainable weights (quanvolution's fixed random filters)
    says so instead of "0 quantum".
    """
    params, qubits = result["parameters"], result.get("qubits") or 0
    if params["quantum"]:
        quantum = f"{params['quantum']} quantum on {qubits} qubits"
    elif qubits:
        quantum = f"a fixed {qubits}-qubit circuit (no trainable quantum weights)"
    else:
        quantum = "0 quantum"
    return f"{quantum}, {params['classical']} classical, {params['total']} in all"


def _evaluate(args: argparse.Namespace) -> None:
    _, runner = load_app()
    result = runner.evaluate_run(args.run_dir, args.data)
    if args.json:
        print(json.dumps(result))
        return
    print(f"data: {result.pop('data')}")
    print(f"weights: {result.pop('weights')}")
    for key, value in result.items():
        print(f"{key:>10}: {value:.4f}")


def _predict(args: argparse.Namespace) -> None:
    _, runner = load_app()
    n = runner.predict_file(args.run_dir, args.input, args.output)
    print(f"wrote {n} predictions to {args.output}")


def _demo(args: argparse.Namespace) -> None:
    load_config()  # a missing app extra is the only output
    out = Path(args.out)
    print("QDL demo: breast-cancer (569 tumours, 30 features), a hybrid quantum model "
          "(4 qubits) beside two classical baselines, same split and seed.", file=sys.stderr,
          flush=True)
    config, runner = load_app()
    rows = []
    for kind, extra in (("hybrid", {"qubits": 4, "layers": 2, "hidden": []}),
                        ("logistic", {}), ("mlp", {"hidden": [16]})):
        cfg = config.validate({"data": {"name": "breast-cancer"},
                               "model": {"kind": kind, **extra},
                               "train": {"epochs": args.epochs, "lr": 0.02, "seed": 0}})
        resume = _demo_rerun(config, runner, cfg, out / kind)
        with _progress(False) as bar:
            result = runner.train_run(cfg, out / kind, resume=resume, on_start=bar.start,
                                      on_epoch=bar.update)
        rows.append((kind, result))
    print(f"{'model':<10}{'test accuracy':>15}{'quantum':>9}{'classical':>11}{'seconds':>9}")
    for kind, result in rows:
        p = result["parameters"]
        print(f"{kind:<10}{result['test']['accuracy']:>15.3f}{p['quantum']:>9}"
              f"{p['classical']:>11}{result['wall_time_s']:>9.1f}")
    print(f"plots and metrics: {out}/<model>/ (learning_curves.png, confusion_matrix.png, "
          f"circuit.png, metrics.json)")


def _demo_rerun(config: Any, runner: Any, cfg: Any, run_dir: Path) -> bool:
    """Whether ``run_dir`` holds this demo run already (finished or not), saying so.

    A folder holding a demo run with other settings (another ``--epochs``) is refused with
    advice the demo can follow (``qdl demo`` has no ``--resume``).
    """
    path = run_dir / runner.CHECKPOINT
    if not path.exists():
        return False
    saved = config.validate(runner.load_checkpoint(path)["config"], str(path))
    keys = config.differences(saved, cfg)
    if keys:
        raise QDLError(f"{run_dir} holds a demo run with other settings ({', '.join(keys)}); "
                       f"remove it, or give the demo another folder with -o DIR")
    if (run_dir / runner.MODEL).exists():
        print(f"qdl demo: reusing the finished run in {run_dir} (its time is from when it "
              f"was trained; remove the folder to train it again)", file=sys.stderr)
    else:
        print(f"qdl demo: continuing the unfinished run in {run_dir}", file=sys.stderr)
    return True


def _datasets(args: argparse.Namespace) -> None:
    import importlib.util

    from qdl.data import DATASETS

    # Training any dataset needs the app extra too, whatever its loader needs.
    app = all(importlib.util.find_spec(m) is not None for m in ("pydantic", "yaml", "sklearn"))
    rows = []
    for d in DATASETS.values():
        needs = list(dict.fromkeys(([] if app else ["app"])
                                   + ([] if d.available() else [d.extra])))
        rows.append({"name": d.name, "task": d.task, "rows": d.samples,
                     "features": d.features, "classes": d.classes, "domain": d.domain,
                     "source": d.source, "installed": not needs, "extra": d.extra,
                     "needs": needs})
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'name':<14}{'task':<16}{'rows':>6}{'feat':>6}{'cls':>5}  {'ready':<18}domain")
    for r in rows:
        ready = "yes" if not r["needs"] else f"qdl[{','.join(r['needs'])}]"
        print(f"{r['name']:<14}{r['task']:<16}{r['rows']:>6}{r['features']:>6}"
              f"{r['classes'] or '-':>5}  {ready:<18}{r['domain']} ({r['source']})")
    if any(r["needs"] for r in rows):
        print('ready: yes = loads and trains now; qdl[...] = pip install "qdl[...]" first',
              file=sys.stderr)
