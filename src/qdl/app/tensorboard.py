"""TensorBoard event files for a run (``train.tensorboard: true`` or ``--tensorboard``).

Written with ``torch.utils.tensorboard`` into ``RUN/tensorboard/``, so ``tensorboard
--logdir runs`` shows every run: per-epoch losses and metrics (``loss/train``,
``accuracy/val``, ...), the test metrics of the kept weights and, as text, the model
summary with the circuit drawing. The ``tensorboard`` package is optional
(``pip install "qdl[tensorboard]"``) and imported only when a run asks for event files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qdl.app.evaluation import circuit_of, parameter_counts
from qdl.errors import QDLError

LOGDIR = "tensorboard"


class EventLog:
    """Event files of one run; ``epoch(record)`` after each epoch, ``close(result)`` at the end.

    Args:
        run_dir: the run directory; events go to ``run_dir/tensorboard``.
        trainer: the run's ``Trainer`` (model, config, data, history so far).
    """

    def __init__(self, run_dir: Path, trainer: Any):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise QDLError('train.tensorboard needs the tensorboard package: pip install '
                           '"qdl[tensorboard]"') from None
        done = len(trainer.history)
        # A resumed run drops events a killed run wrote after its last checkpoint.
        self.writer = SummaryWriter(str(run_dir / LOGDIR), purge_step=done + 1 if done else None)
        if not done:
            self.writer.add_text("model", summary(trainer), 0)

    def epoch(self, record: dict[str, Any]) -> None:
        """Every number of an epoch's record as ``metric/split`` scalars."""
        step = record["epoch"]
        for key, value in record.items():
            split, _, metric = key.partition("_")
            if split in ("train", "val") and isinstance(value, (int, float)):
                self.writer.add_scalar(f"{metric}/{split}", value, step)
        self.writer.add_scalar("seconds/epoch", record["seconds"], step)
        self.writer.flush()

    def close(self, result: dict[str, Any]) -> None:
        """The test metrics of the kept weights (at the selected epoch), then close."""
        step = result.get("selected_epoch", 0)
        for key, value in (result.get("test") or {}).items():
            self.writer.add_scalar(f"{key}/test", value, step)
        self.writer.close()


def summary(trainer: Any) -> str:
    """Markdown: model kind, data, parameter counts and the circuit drawing."""
    cfg, data = trainer.cfg, trainer.data
    counts = parameter_counts(trainer.model)
    lines = [f"**{cfg.model.kind}** on **{data.table.name}** ({data.task})",
             f"parameters: {counts['quantum']} quantum, {counts['classical']} classical, "
             f"{counts['total']} in all"]
    circuit = circuit_of(trainer.model)
    if circuit is not None:
        from qdl.circuit import draw

        lines.append(f"circuit: {circuit.n_qubits} qubits, {len(circuit.ops)} gates")
        # Four-space indentation: TensorBoard renders it as a monospace block.
        lines.append("\n".join("    " + ln for ln in draw(circuit, 400).splitlines()))
    return "\n\n".join(lines)
