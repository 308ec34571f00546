"""Run directories: file names, atomic writes, checked checkpoint loading, the run lock.

A run directory holds ``config.yaml``, ``checkpoint.pt`` (rewritten atomically after every
epoch), ``model.pt``, ``metrics.json`` and the plots. Everything that reads or writes those
files' framing lives here, apart from the training itself.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import torch

from qdl.app.config import RunConfig
from qdl.errors import QDLError, first_line

CHECKPOINT, MODEL, METRICS, CONFIG = "checkpoint.pt", "model.pt", "metrics.json", "config.yaml"
FORMAT = 1


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file, fsync, then rename over ``path``.

    A kill at any moment leaves either the old file or the new one, never half of one.
    """
    _atomic(path, "wb", lambda f: torch.save(obj, f))


def atomic_write_text(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` atomically (temporary file + rename)."""
    _atomic(path, "w", lambda f: f.write(text))


def _atomic(path: Path, mode: str, write: Callable[[Any], Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        # A full disk or Ctrl-C must not leave a half-written temporary file behind.
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            # Write errors carry no file name; callers report which file could not be written.
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by QDL, loaded with ``weights_only=True`` (no code runs).

    Every field :func:`load_run` and a resumed run use is checked here, so a corrupt,
    truncated or foreign file is one ``QDLError`` naming the file and what is wrong.
    """
    if not path.is_file():
        raise QDLError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise QDLError(f"{path} is empty (0 bytes), not a QDL checkpoint")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols it dislikes
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own message advises weights_only=False, i.e. running the file's code.
        found = re.search(r"GLOBAL (\S+)", str(exc))
        name = found.group(1) if found else _pickled_global(path)
        what = f"refused to unpickle {name}" if name else "unreadable pickle data"
        raise QDLError(f"cannot load {path}: not a QDL checkpoint ({what}; checkpoints hold "
                       f"only tensors and plain data)") from None
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        # torch's messages run on with advice; the first sentence says what is wrong.
        raise QDLError(f"cannot load {path}: the file is truncated or corrupt "
                       f"({first_line(exc).split('. ')[0]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise QDLError(f"{path} is not a QDL checkpoint (format {FORMAT})")
    _check_fields(ckpt, path)
    return ckpt


def _pickled_global(path: Path) -> str | None:
    """The first object a plain (non-zip) pickle file would import, found without unpickling.

    ``None`` when it imports nothing or is no pickle at all.
    """
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(path.read_bytes()):
            if opcode.name == "GLOBAL":
                return str(arg).replace(" ", ".")
            if opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                return ".".join(strings[-2:])
            if isinstance(arg, str):
                strings.append(arg)
    except Exception:  # not a pickle stream: random bytes, a truncated file
        return None
    return None


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "model": dict, "preprocessor": dict, "config": dict, "epoch": int,
    "optimizer": dict, "history": list, "best": (dict, type(None)),
}


_FINAL = ("model", "preprocessor", "config")  # model.pt holds these; checkpoint.pt all


def _check_fields(ckpt: dict[str, Any], path: Path) -> None:
    needed = _FINAL if path.name == MODEL else tuple(_FIELDS)
    for key in needed:
        if key not in ckpt:
            raise QDLError(f"{path} is damaged: it has no {key!r} entry")
        if not isinstance(ckpt[key], _FIELDS[key]) or isinstance(ckpt[key], bool):
            raise QDLError(f"{path} is damaged: {key!r} is a {type(ckpt[key]).__name__}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor)
               for k, v in ckpt["model"].items()):
        raise QDLError(f"{path} is damaged: 'model' must map names to tensors")
    history = ckpt.get("history", [])
    if not all(isinstance(r, dict) and isinstance(r.get("epoch"), int)
               and isinstance(r.get("seconds"), (int, float)) for r in history):
        raise QDLError(f"{path} is damaged: 'history' must list one record per epoch")
    best = ckpt.get("best")
    if best is not None and not (isinstance(best.get("epoch"), int)
                                 and isinstance(best.get("val_loss"), float)
                                 and isinstance(best.get("model"), dict)):
        raise QDLError(f"{path} is damaged: 'best' must hold epoch, val_loss and model")


def check_data_file(cfg: RunConfig, run_dir: Path, fix: str) -> None:
    """``QDLError`` naming the stored path and ``fix`` when a run's CSV file is gone."""
    csv = cfg.data.csv
    if csv is None or Path(csv).is_file():
        return
    relative = "" if Path(csv).is_absolute() else \
        " (a relative path, as older QDL versions stored it: run from the training directory)"
    raise QDLError(f"the data file of {run_dir} is gone: no file at {csv}{relative}; {fix}")


def make_run_dir(run_dir: Path) -> None:
    """Create ``run_dir`` and its parents, or raise a one-line :class:`QDLError` naming it.

    >>> import tempfile
    >>> make_run_dir(Path(tempfile.mkdtemp()) / "runs" / "a")
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QDLError(f"cannot create the run directory {run_dir}: "
                       f"{exc.strerror or exc}") from None


@contextmanager
def exclusive(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` so that two trainings never mix their files.

    ``flock`` locks vanish with their process, so a killed run leaves no stale lock and
    ``--resume`` works at once.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock; runs there are not protected against each other
        yield
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise QDLError(f"another qdl train is writing to {run_dir}; wait for it to end "
                           f"or choose another --out directory") from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
