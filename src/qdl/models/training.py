"""A small, seeded training loop for the models (Adam, mini-batches)."""

from __future__ import annotations

import torch
from torch import nn

from qdl.errors import QDLError
from qdl.models._common import check_int, module_dtype

LOSSES = ("cross_entropy", "mse")


def train_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str = "cross_entropy",
    epochs: int = 100,
    batch_size: int | None = None,
    learning_rate: float = 0.05,
    weight_decay: float = 0.0,
    seed: int | None = None,
    verbose: bool = False,
) -> list[float]:
    """Train ``model`` on ``(x, y)`` with Adam; returns the mean loss of every epoch.

    Args:
        model: any module mapping ``x`` to logits (``cross_entropy``, ``y`` class indices) or
            to outputs of ``y``'s shape (``mse``).
        x: inputs ``(N, ...)``; moved to the model's device and cast to its dtype.
        y: targets ``(N,)`` class indices, or ``(N, ...)`` real targets.
        loss: ``cross_entropy`` or ``mse``.
        epochs: passes over the data.
        batch_size: samples per step (default: all, one step per epoch).
        learning_rate: Adam step size.
        weight_decay: Adam's L2 penalty.
        seed: seeds the shuffling (the model's initial weights are the caller's business).
        verbose: print the loss every 10 epochs.

    The model is left in ``eval()`` mode.

    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Linear(2, 2)
    >>> x, y = torch.randn(32, 2), torch.randint(0, 2, (32,))
    >>> losses = train_model(model, x, y, epochs=5, batch_size=8, seed=0)
    >>> len(losses), losses[-1] < losses[0]
    (5, True)
    """
    if loss not in LOSSES:
        raise QDLError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    epochs = check_int(epochs, "epochs", 0)
    n = len(x)
    if len(y) != n or n == 0:
        raise QDLError(f"x and y must hold the same, non-zero number of samples; got {n} and "
                       f"{len(y)}")
    size = n if batch_size is None else min(check_int(batch_size, "batch_size"), n)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.as_tensor(x).to(device=device, dtype=module_dtype(model))
    y = torch.as_tensor(y).to(device)
    y = y.long() if loss == "cross_entropy" else y.to(module_dtype(model))
    criterion = nn.CrossEntropyLoss() if loss == "cross_entropy" else nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate,
                                 weight_decay=weight_decay)
    generator = torch.Generator()
    generator.manual_seed(0 if seed is None else int(seed))
    history = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator) if size < n else torch.arange(n)
        total = 0.0
        for start in range(0, n, size):
            idx = order[start:start + size]
            optimizer.zero_grad()
            value = criterion(model(x[idx]), y[idx])
            value.backward()
            optimizer.step()
            total += value.item() * len(idx)
        history.append(total / n)
        if verbose and (epoch % 10 == 0 or epoch == epochs - 1):
            print(f"epoch {epoch:4d}  loss {history[-1]:.4f}")
    model.eval()
    return history
