"""Hybrid models: classical pre-net → quantum layer → classical head."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from qdl.models._common import (
    Classifier,
    check_features,
    check_int,
    check_sizes,
    mlp,
    module_dtype,
    real_dtype,
    variational_circuit,
)
from qdl.nn import QuantumLayer


class _Hybrid(nn.Module):
    """Shared body of :class:`HybridClassifier` and :class:`HybridRegressor`."""

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        n_qubits: int,
        layers: int,
        hidden: Sequence[int],
        head_hidden: Sequence[int],
        ansatz: str,
        init: str,
        diff_method: str,
        dtype: torch.dtype | None,
    ):
        super().__init__()
        self.n_features = check_int(n_features, "n_features")
        self.n_outputs = check_int(n_outputs, "n_outputs")
        self.n_qubits = check_int(n_qubits, "n_qubits")
        circuit, inputs = variational_circuit(self.n_qubits, check_int(layers, "layers"), ansatz)
        self.pre = mlp([self.n_features, *check_sizes(hidden, "hidden"), self.n_qubits])
        self.quantum = QuantumLayer(circuit, [f"Z{i}" for i in range(self.n_qubits)], inputs,
                                    diff_method=diff_method, init=init)
        self.head = mlp([self.n_qubits, *check_sizes(head_hidden, "head_hidden"),
                         self.n_outputs])
        self.to(real_dtype(dtype))

    def angles(self, x: torch.Tensor) -> torch.Tensor:
        """The encoding angles ``(π/2)·tanh(pre(x))`` fed to the circuit, ``(B, n_qubits)``."""
        x = check_features(x, self.n_features, type(self).__name__, module_dtype(self))
        return (math.pi / 2) * torch.tanh(self.pre(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B, n_outputs)`` for features ``(B, n_features)``."""
        return self.head(self.quantum(self.angles(x)))


class HybridClassifier(Classifier, _Hybrid):
    """Classical pre-net → quantum layer → classical head, returning class logits.

    The pre-net (``Linear`` layers of widths ``hidden`` with ``tanh`` between them) maps the
    features to ``n_qubits`` numbers ``z``; the circuit encodes ``(π/2)·tanh(z_i)`` by
    ``ry`` on wire ``i``, applies ``layers`` trainable layers of ``ansatz`` and returns
    ``⟨Z_i⟩`` for every wire; the head (widths ``head_hidden``) maps those to ``n_classes``
    logits (train with ``torch.nn.CrossEntropyLoss``). The design follows the "dressed
    quantum circuit" of Mari, Bromley, Izaac, Schuld & Killoran, Quantum 4, 340 (2020).

    Args:
        n_features: number of input features.
        n_classes: number of classes (logits).
        n_qubits: circuit width.
        layers: trainable circuit layers.
        hidden: widths of the pre-net's hidden layers (``()``: one ``Linear``).
        head_hidden: widths of the head's hidden layers.
        ansatz: ``strongly_entangling``, ``basic``, ``hardware_efficient`` or ``reuploading``
            (see :func:`qdl.models._common.variational_circuit`).
        init: initialisation of the circuit weights (see :class:`qdl.nn.QuantumLayer`).
        diff_method: gradient method of the quantum layer (see :func:`qdl.expval`).
        dtype: real dtype of all parameters (default: torch's default dtype); the circuit
            is simulated in the matching complex dtype, and ``.double()`` switches both.

    Inputs are cast to the model's dtype; a wrong feature count or NaN/inf raises
    ``QDLError``.

    >>> _ = torch.manual_seed(0)
    >>> model = HybridClassifier(n_features=2, n_classes=3, n_qubits=2, layers=1)
    >>> model(torch.zeros(5, 2)).shape
    torch.Size([5, 3])
    >>> model.predict(torch.zeros(5, 2)).shape
    torch.Size([5])
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int = 2,
        n_qubits: int = 4,
        layers: int = 2,
        hidden: Sequence[int] = (16,),
        head_hidden: Sequence[int] = (),
        *,
        ansatz: str = "strongly_entangling",
        init: str = "uniform",
        diff_method: str = "best",
        dtype: torch.dtype | None = None,
    ):
        self.n_classes = check_int(n_classes, "n_classes", 2)
        super().__init__(n_features, n_classes, n_qubits, layers, hidden, head_hidden, ansatz,
                         init, diff_method, dtype)



class HybridRegressor(_Hybrid):
    """Classical pre-net → quantum layer → classical head, returning real outputs.

    The same architecture as :class:`HybridClassifier` with ``n_outputs`` linear outputs
    (train with ``torch.nn.MSELoss``; standardised targets train best).

    Args:
        n_features: number of input features.
        n_outputs: number of regression targets.
        n_qubits: circuit width.
        layers: trainable circuit layers.
        hidden: widths of the pre-net's hidden layers.
        head_hidden: widths of the head's hidden layers.
        ansatz: see :class:`HybridClassifier`.
        init: see :class:`HybridClassifier`.
        diff_method: see :class:`HybridClassifier`.
        dtype: see :class:`HybridClassifier`.

    >>> model = HybridRegressor(n_features=3, n_qubits=2).double()
    >>> out = model(torch.ones(4, 3))
    >>> out.shape, out.dtype
    (torch.Size([4, 1]), torch.float64)
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int = 1,
        n_qubits: int = 4,
        layers: int = 2,
        hidden: Sequence[int] = (16,),
        head_hidden: Sequence[int] = (),
        *,
        ansatz: str = "strongly_entangling",
        init: str = "uniform",
        diff_method: str = "best",
        dtype: torch.dtype | None = None,
    ):
        super().__init__(n_features, n_outputs, n_qubits, layers, hidden, head_hidden, ansatz,
                         init, diff_method, dtype)
