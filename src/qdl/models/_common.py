"""Pieces shared by the models: input checks, dtypes, small MLPs, the variational circuit."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.templates import (
    angle_embedding,
    basic_entangler_layers,
    data_reuploading,
    hardware_efficient,
    strongly_entangling_layers,
)

ANSATZE = ("strongly_entangling", "basic", "hardware_efficient", "reuploading")
# The one list of precisions a user names (configs, the CLI, the estimators): the real dtype
# of parameters and features; states are the matching complex dtype (COMPLEX_DTYPES).
DTYPES = {"float32": torch.float32, "float64": torch.float64}
COMPLEX_DTYPES = {"float32": torch.complex64, "float64": torch.complex128}
_REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64}


def check_int(value: object, what: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; ``QDLError`` naming ``what`` otherwise."""
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
        raise QDLError(f"{what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_sizes(sizes: object, what: str) -> tuple[int, ...]:
    """A sequence of positive layer widths, e.g. ``(16,)`` or ``()``."""
    if isinstance(sizes, int | np.integer) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if not isinstance(sizes, Sequence) or isinstance(sizes, str):
        raise QDLError(f"{what} must be a sequence of ints such as (16,) or (), got {sizes!r}")
    return tuple(check_int(s, f"every entry of {what}") for s in sizes)


def real_dtype(dtype: torch.dtype | None) -> torch.dtype:
    """The parameters' real dtype from a real or complex ``dtype`` (``None``: torch default)."""
    if dtype is None:
        return torch.get_default_dtype()
    dtype = _REAL.get(dtype, dtype)
    if dtype not in (torch.float32, torch.float64):
        raise QDLError(f"dtype must be torch.float32/float64 (or complex64/complex128), "
                       f"got {dtype}")
    return dtype


def module_dtype(module: nn.Module) -> torch.dtype:
    """The real dtype of the module's floating parameters or buffers (float32 if none)."""
    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def check_features(x: object, n_features: int, owner: str, dtype: torch.dtype) -> torch.Tensor:
    """Features as a real ``dtype`` tensor ``(..., n_features)``, checked for shape and NaN.

    Raises:
        QDLError: wrong last dimension, complex values, NaN or inf.

    >>> check_features(torch.zeros(3, 2), 3, "Model", torch.float32)
    Traceback (most recent call last):
    qdl.errors.QDLError: Model expects features of shape (batch, 3), got shape (3, 2)
    """
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() < 1 or t.shape[-1] != n_features:
        raise QDLError(f"{owner} expects features of shape (batch, {n_features}), got shape "
                       f"{tuple(t.shape)}")
    if t.is_complex():
        raise QDLError(f"{owner} expects real features, got a complex tensor")
    t = t.to(dtype)
    finite = torch.isfinite(t.detach())
    if not bool(finite.all()):
        where = tuple((~finite).nonzero()[0].tolist())
        raise QDLError(f"{owner} got NaN or inf features (first at index {where})")
    return t


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """``Linear`` layers through ``sizes`` with ``activation`` between them (not after the last).

    >>> mlp([3, 8, 2])
    Sequential(
      (0): Linear(in_features=3, out_features=8, bias=True)
      (1): Tanh()
      (2): Linear(in_features=8, out_features=2, bias=True)
    )
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(activation())
        layers.append(nn.Linear(a, b))
    return nn.Sequential(*layers)


def variational_circuit(n_qubits: int, layers: int, ansatz: str) -> tuple[Circuit, list[str]]:
    """Angle embedding ``ry(x_i)`` + trainable layers, or data re-uploading; and its inputs.

    ``ansatz``: ``strongly_entangling`` (Schuld et al. 2020), ``basic`` (rx + CNOT ring),
    ``hardware_efficient`` (ry, rz + linear CNOTs, Kandala et al. 2017) after the embedding,
    or ``reuploading``: the features ``x0..x{n-1}`` re-loaded before every trainable layer on
    every wire (:func:`qdl.templates.data_reuploading`, ``n_qubits`` features).

    >>> c, inputs = variational_circuit(2, 1, "basic")
    >>> inputs, c.ops[:2]
    (['x0', 'x1'], (ry(x0) q[0], ry(x1) q[1]))
    """
    if ansatz not in ANSATZE:
        raise QDLError(f"unknown ansatz {ansatz!r}; choose one of {', '.join(ANSATZE)}")
    inputs = [f"x{i}" for i in range(n_qubits)]
    if ansatz == "reuploading":
        return data_reuploading(n_qubits, layers, n_qubits), inputs
    circuit = angle_embedding(n_qubits, "y").extend(trainable_layers(ansatz, n_qubits, layers))
    return circuit, inputs


def trainable_layers(ansatz: str, n_qubits: int, layers: int) -> Circuit:
    """The weights-only template ``ansatz`` (one of ``ANSATZE`` but ``reuploading``).

    >>> trainable_layers("basic", 2, 1).ops
    (rx(w0_0) q[0], rx(w0_1) q[1], cx q[0], q[1])
    """
    builders = {"strongly_entangling": strongly_entangling_layers,
                "basic": basic_entangler_layers,
                "hardware_efficient": hardware_efficient}
    if ansatz not in builders:
        raise QDLError(f"unknown ansatz {ansatz!r}; choose one of {', '.join(builders)}")
    return builders[ansatz](n_qubits, layers)


class Classifier(nn.Module):
    """``predict_proba`` / ``predict`` for modules whose ``forward`` returns logits."""

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``softmax(logits)``, ``(B, n_classes)``."""
        return torch.softmax(self(x), -1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Most likely class index per sample, ``(B,)``."""
        return self(x).argmax(-1)
