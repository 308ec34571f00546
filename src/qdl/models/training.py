"""The training loop of QDL: seeded mini-batch epochs, shared by :func:`train_model` and the app.

:func:`train_epoch` is the one loop; :func:`train_model` (the library's Adam trainer, used by
``qdl.sklearn``) and the ``qdl train`` application's ``Trainer`` (checkpoints, DDP) both
call it, so both shuffle the same way: epoch ``e`` of seed ``s`` walks the permutation drawn
from a generator seeded with ``(s, e)``, which is what makes a resumed run exact.
"""

from __future__ import annotations

import torch
from torch import nn

from qdl.errors import QDLError
from qdl.models._common import check_int, module_dtype

LOSSES = ("cross_entropy", "mse")


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order in which epoch ``epoch`` visits ``n`` samples, fixed by ``(seed, epoch)``.

    Seeding per epoch (not one generator for the whole run) lets a run resumed at any epoch
    draw the batches an uninterrupted run would have drawn.

    >>> epoch_order(4, 0, 1).tolist() == epoch_order(4, 0, 1).tolist()
    True
    """
    generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=generator)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    rank: int = 0,
    world: int = 1,
    device: torch.device | None = None,
) -> float:
    """One pass over ``(x, y)`` in mini-batches; returns the mean loss of its steps.

    Args:
        model: the module to step (a ``DistributedDataParallel`` wrapper with ``world > 1``).
        optimizer: its optimiser.
        criterion: a loss with ``reduction="sum"``.
        x: inputs ``(N, ...)``.
        y: targets ``(N, ...)``.
        batch_size: samples per step.
        seed: the run's seed; with ``epoch`` it fixes the batch order (:func:`epoch_order`).
        epoch: the epoch's index, from 0.
        rank: this process's index among ``world`` data-parallel processes.
        world: the number of data-parallel processes; each takes every ``world``-th sample
            of each batch.
        device: where the batches go (default: they stay where they are).
    """
    n = len(x)
    order = epoch_order(n, seed, epoch)
    model.train()
    total = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        shard = idx[rank::world]
        # Sum over this share, scaled so that DDP's average over processes equals the mean
        # over the whole batch even when shares differ in size.
        scale = world / len(idx)
        if len(shard) == 0:  # still take part in the gradient all-reduce
            shard, scale = idx[:1], 0.0
        xb, yb = x[shard], y[shard]
        if device is not None:
            xb, yb = xb.to(device), yb.to(device)
        optimizer.zero_grad()
        loss = criterion(model(xb), yb) * scale
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx) / world
    return total / max(n, 1)


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
    criterion = nn.CrossEntropyLoss(reduction="sum") if loss == "cross_entropy" \
        else nn.MSELoss(reduction="sum")
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate,
                                 weight_decay=weight_decay)
    history = []
    for epoch in range(epochs):
        history.append(train_epoch(model, optimizer, criterion, x, y, batch_size=size,
                                   seed=0 if seed is None else int(seed), epoch=epoch))
        if verbose and (epoch % 10 == 0 or epoch == epochs - 1):
            print(f"epoch {epoch:4d}  loss {history[-1]:.4f}")
    model.eval()
    return history
