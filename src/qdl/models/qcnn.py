"""A quantum convolutional neural network classifier (Cong, Choi & Lukin 2019)."""

from __future__ import annotations

import torch
from torch import nn

from qdl.errors import QDLError
from qdl.models._common import check_features, check_int, module_dtype, real_dtype
from qdl.nn import QuantumLayer
from qdl.templates import (
    amplitude_angles,
    amplitude_embedding,
    angle_embedding,
    qcnn,
    remap,
)

EMBEDDINGS = ("angle", "amplitude", "state")


class QCNN(nn.Module):
    """QCNN classifier: embedding → conv/pool layers down to one wire → ``⟨Z⟩`` → logits.

    The circuit is :func:`qdl.templates.qcnn` (shared two-qubit convolution unitaries and
    controlled-rotation pooling, halving the wires until one is left, then a final ``U``
    rotation) after an embedding of the features:

    * ``angle``: ``ry(x_i)`` on wire ``i``; ``n_features = n_qubits``, features in radians
      (scale them to about ``[0, π]``);
    * ``amplitude``: the ``2**n_qubits`` amplitudes of ``x / ‖x‖`` (zero-padded), prepared by
      :func:`qdl.templates.amplitude_embedding`; ``n_features <= 2**n_qubits``, and an
      all-zero sample raises ``QDLError``.
    * ``state``: the inputs are quantum states, normalised statevectors ``(B, 2**n_qubits)``
      (quantum data, e.g. ground states of a spin chain), on which the network acts directly.

    The only output of the circuit, ``⟨Z⟩`` of the readout wire, becomes ``n_classes``
    logits through ``Linear(1, n_classes)`` (a scale and a bias per class).

    Args:
        n_qubits: number of wires (``8`` gives three conv/pool layers).
        n_classes: number of classes.
        embedding: ``angle`` or ``amplitude``.
        n_features: number of features (default ``n_qubits``, or ``2**n_qubits`` for
            amplitude embedding).
        init: initialisation of the circuit weights (see :class:`qdl.nn.QuantumLayer`).
        diff_method: see :func:`qdl.expval`.
        dtype: real dtype of the parameters (default: torch's default dtype).

    >>> _ = torch.manual_seed(0)
    >>> model = QCNN(n_qubits=4)
    >>> model.readout, model(torch.rand(3, 4)).shape
    (3, torch.Size([3, 2]))
    >>> QCNN(n_qubits=2, embedding="amplitude")(torch.rand(3, 4)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        n_qubits: int = 8,
        n_classes: int = 2,
        *,
        embedding: str = "angle",
        n_features: int | None = None,
        init: str = "uniform",
        diff_method: str = "best",
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        n = self.n_qubits = check_int(n_qubits, "n_qubits")
        self.n_classes = check_int(n_classes, "n_classes", 2)
        if embedding not in EMBEDDINGS:
            raise QDLError(f"unknown embedding {embedding!r}; choose one of "
                           f"{', '.join(EMBEDDINGS)}")
        self.embedding = embedding
        most = n if embedding == "angle" else 2**n
        self.n_features = most if n_features is None else check_int(n_features, "n_features")
        if embedding == "state" and self.n_features != most:
            raise QDLError(f"state inputs on {n} qubit(s) have {most} amplitudes, got "
                           f"n_features={self.n_features}")
        if self.n_features > most:
            raise QDLError(f"{embedding} embedding on {n} qubit(s) takes at most {most} "
                           f"features, got n_features={self.n_features}")
        net = qcnn(n)
        self.readout = net.readout
        encoder = None
        if embedding == "angle":  # wires beyond the features stay in |0>
            encoder = remap(angle_embedding(self.n_features, "y"), range(self.n_features), n)
        elif embedding == "amplitude":
            encoder = amplitude_embedding(n)
        inputs = () if encoder is None else list(encoder.parameters)  # before extend() adds
        self.quantum = QuantumLayer(
            net.circuit if encoder is None else encoder.extend(net.circuit), [net.observable],
            inputs, diff_method=diff_method, init=init, state_input=encoder is None)
        self.head = nn.Linear(1, self.n_classes)
        self.to(real_dtype(dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_classes)`` for features ``(B, n_features)`` (states with the
        ``state`` embedding)."""
        if self.embedding == "state":
            return self.head(self.quantum(x))
        x = check_features(x, self.n_features, "QCNN", module_dtype(self))
        if self.embedding == "amplitude":
            x = torch.stack(list(amplitude_angles(x, self.n_qubits).values()), -1)
        return self.head(self.quantum(x))
