"""``QuantumLayer``: a circuit as one layer of an ordinary torch model.

The layer owns parameters and calls :func:`qdl.expval`; it simulates nothing itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.grad import Backend, DiffMethod, Stacked, expval
from qdl.noise import NoiseModel
from qdl.observables import parse_observables
from qdl.sim import REAL, check_dtype

INITS = ("uniform", "small", "zeros")
_COMPLEX = {real: dtype for dtype, real in REAL.items()}


class QuantumLayer(nn.Module):
    """Expectation values of a parameterized circuit, fed by features, trained by torch.

    Circuit parameters named in ``inputs`` take the last dimension of the input tensor, in
    that order; every other circuit parameter becomes one entry of the trainable
    ``weights`` vector (names in ``weight_names``).

    Args:
        circuit: a :class:`~qdl.Circuit` or OpenQASM source text.
        observables: one output feature each: Pauli sums (e.g. ``["Z0", "Z1"]``) or
            observable objects (:class:`qdl.Hermitian`, :class:`qdl.Projector`, ...).
        inputs: names of the circuit parameters fed from the input features.
        diff_method: see :func:`qdl.expval` (``best`` = adjoint, parameter-shift with shots).
        dtype: ``torch.complex64`` (weights float32) or ``torch.complex128`` (float64). The
            simulation follows the weights' dtype, so ``layer.double()`` switches to
            complex128.
        init: ``uniform`` (angles in [0, 2π)), ``small`` (normal, std ``init_scale``: starts
            near the identity, which keeps gradients from vanishing in deep circuits, cf.
            Grant et al. 2019, arXiv:1903.05076), or ``zeros``.
        init_scale: standard deviation for ``small``.
        shots: estimate outputs from shots (hardware-like, noisy) instead of exactly.
        noise: a :class:`qdl.noise.NoiseModel`; the layer then simulates density matrices
            (``best`` = backprop).
        backend: evaluate on an external backend (e.g.
            :class:`qdl.interop.qiskit.QiskitEstimator`), gradients by parameter shift
            through it; see :func:`qdl.expval`.
        state_input: the layer reads quantum states: ``layer(psi)`` runs the circuit on the
            statevectors ``psi`` ``(*batch, 2**n)`` (density matrices ``(*batch, 2**n,
            2**n)`` with ``noise``) instead of ``|0...0>``, and every circuit parameter is a
            weight (``inputs`` must be empty).

    >>> c = Circuit(2).ry(0, "x0").ry(1, "x1").cx(0, 1).rx(0, "w0").rx(1, "w1")
    >>> layer = QuantumLayer(c, ["Z0", "Z1"], inputs=["x0", "x1"])
    >>> layer(torch.zeros(5, 2)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        circuit: Circuit | str,
        observables: Sequence[str],
        inputs: Sequence[str] = (),
        *,
        diff_method: str = "best",
        dtype: torch.dtype = torch.complex64,
        init: str = "uniform",
        init_scale: float = 0.1,
        shots: int | None = None,
        noise: NoiseModel | None = None,
        backend: Backend | None = None,
        state_input: bool = False,
    ):
        super().__init__()
        self.circuit = Circuit.from_qasm(circuit) if isinstance(circuit, str) else circuit
        self.observables = parse_observables(observables, self.circuit.n_qubits)
        self.diff_method = DiffMethod.parse(diff_method).value
        self.input_names = list(inputs)
        self.state_input = bool(state_input)
        if self.state_input and self.input_names:
            raise QDLError("a state_input layer reads states, not features: give inputs=() "
                           "(every circuit parameter is then a weight)")
        unknown = [n for n in self.input_names if n not in self.circuit.parameters]
        if unknown:
            raise QDLError(f"inputs {unknown} are not parameters of the circuit; its "
                           f"parameters are {list(self.circuit.parameters)}")
        self.weight_names = [n for n in self.circuit.parameters if n not in self.input_names]
        real = REAL[check_dtype(dtype)]
        self.weights = nn.Parameter(_init(init, len(self.weight_names), init_scale, real))
        self.shots = shots
        self.noise = noise
        self.backend = backend

    def forward(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Outputs ``(*batch, len(observables))`` for features ``x`` of shape
        ``(*batch, len(inputs))`` (no argument when the layer has no inputs), or for states
        ``x`` of shape ``(*batch, 2**n)`` with ``state_input``."""
        # Stacked: the simulator reads the weights (and features) as whole tensors.
        groups = [(self.weight_names, self.weights)]
        dtype = _COMPLEX.get(self.weights.dtype, torch.complex64)
        if self.state_input:
            if x is None:
                raise QDLError(f"this layer reads states: call it with a tensor of shape "
                               f"(batch, {2**self.circuit.n_qubits})")
            return expval(self.circuit, self.observables, Stacked(*groups),
                          diff_method=self.diff_method, dtype=dtype, shots=self.shots,
                          device=self.weights.device, noise=self.noise, backend=self.backend,
                          initial_state=x)
        if self.input_names:
            if x is None or x.shape[-1:] != (len(self.input_names),):
                got = None if x is None else tuple(x.shape)
                raise QDLError(f"QuantumLayer expects features of shape (..., "
                               f"{len(self.input_names)}) for inputs {self.input_names}, "
                               f"got {got}")
            groups.append((self.input_names, x))
        return expval(self.circuit, self.observables, Stacked(*groups),
                      diff_method=self.diff_method, dtype=dtype, shots=self.shots,
                      device=self.weights.device, noise=self.noise, backend=self.backend)

    def extra_repr(self) -> str:
        return (f"n_qubits={self.circuit.n_qubits}, gates={len(self.circuit)}, "
                + ("state_input" if self.state_input else f"inputs={len(self.input_names)}")
                + f", weights={len(self.weight_names)}, "
                f"outputs={[o.text for o in self.observables]}, "
                f"diff_method={self.diff_method!r}"
                + (", noise" if self.noise is not None else "")
                + (f", backend={type(self.backend).__name__}" if self.backend is not None
                   else ""))


def _init(kind: str, size: int, scale: float, dtype: torch.dtype) -> torch.Tensor:
    if kind == "uniform":
        return torch.rand(size, dtype=dtype) * (2 * math.pi)
    if kind == "small":
        return torch.randn(size, dtype=dtype) * scale
    if kind == "zeros":
        return torch.zeros(size, dtype=dtype)
    raise QDLError(f"unknown init {kind!r}; choose one of {', '.join(INITS)}")
