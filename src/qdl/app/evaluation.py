"""What a trained model says: outputs in batches, losses and metrics, parameter counts.

Kept apart from :mod:`qdl.app.runner` so that the plots, the reports and the distributed
workers can score a model without importing the training machinery (no import loops).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from qdl.data import Preprocessor
from qdl.nn import QuantumLayer


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Trainable parameters inside quantum layers, outside them, and in all.

    >>> parameter_counts(torch.nn.Linear(3, 2))
    {'quantum': 0, 'classical': 8, 'total': 8}
    """
    quantum_ids = {id(p) for layer in model.modules() if isinstance(layer, QuantumLayer)
                   for p in layer.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    q = sum(p.numel() for p in trainable if id(p) in quantum_ids)
    total = sum(p.numel() for p in trainable)
    return {"quantum": q, "classical": total - q, "total": total}


def circuit_of(model: nn.Module) -> Any:
    """The circuit of the model's first quantum layer, or ``None`` for classical models."""
    return next((m.circuit for m in model.modules() if isinstance(m, QuantumLayer)), None)


def criterion(task: str, reduction: str = "mean") -> nn.Module:
    """The training loss of a task: cross-entropy for classification, else squared error.

    >>> criterion("regression")
    MSELoss()
    """
    if task == "classification":
        return nn.CrossEntropyLoss(reduction=reduction)
    return nn.MSELoss(reduction=reduction)


@torch.no_grad()
def predict_outputs(model: nn.Module, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Model outputs for ``x`` in eval mode, ``batch`` rows at a time (no gradients)."""
    model.eval()
    circuit = circuit_of(model)
    if circuit is not None:  # 256 rows of 24-qubit states would need 32 GiB; keep ~512 MiB
        batch = max(1, min(batch, (1 << 26) >> circuit.n_qubits))
    device = next(model.parameters()).device
    outs = [model(x[i:i + batch].to(device)).cpu() for i in range(0, len(x), batch)]
    return torch.cat(outs) if outs else torch.zeros(0)


def metrics(outputs: torch.Tensor, y: torch.Tensor, pre: Preprocessor) -> dict[str, float]:
    """Loss and task metrics of ``outputs`` against targets ``y``.

    Classification: ``loss`` (cross-entropy), ``accuracy``, ``macro_f1``. Regression:
    ``loss`` (MSE of standardised targets), ``rmse`` (target units) and ``r2``.
    """
    if len(y) == 0:
        return {}
    out = {"loss": float(criterion(pre.task)(outputs, y))}
    if pre.classes is None:
        err = (outputs - y).double() * pre.target_std
        total = ((y.double() - y.double().mean()) * pre.target_std).pow(2).sum()
        out["rmse"] = float(err.pow(2).mean().sqrt())
        out["r2"] = float(1 - err.pow(2).sum() / total) if total > 0 else float("nan")
        return out
    matrix = confusion(outputs.argmax(-1), y, len(pre.classes))
    tp = matrix.diag().double()
    f1 = 2 * tp / (matrix.sum(0) + matrix.sum(1)).double().clamp(min=1)
    present = (matrix.sum(1) > 0) | (matrix.sum(0) > 0)
    out["accuracy"] = float(tp.sum() / matrix.sum())
    out["macro_f1"] = float(f1[present].mean())
    return out


def confusion(pred: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    """``n × n`` counts: row = true class, column = predicted class.

    >>> confusion(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]), 2).tolist()
    [[1, 1], [0, 1]]
    """
    return torch.bincount(y.long() * n + pred.long(), minlength=n * n).reshape(n, n)
