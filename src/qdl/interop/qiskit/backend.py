"""Expectation values on Qiskit: any EstimatorV2 primitive, or any backend.

:class:`QiskitEstimator` turns ``(circuit, observables, parameter batch)`` into one Estimator
PUB: the circuit converted once (and transpiled once for a backend), the observables as
``SparsePauliOp`` s, the whole batch as one array of parameter values. It is the ``backend``
that :func:`qdl.expval` and :class:`qdl.nn.QuantumLayer` accept: their forward pass is one
job, and each backward pass one more job holding every parameter-shifted copy of the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.interop.qiskit._common import require
from qdl.interop.qiskit.circuits import to_qiskit
from qdl.observables import Observable, parse_observables

__all__ = ["QiskitEstimator", "pauli_sum_to_qiskit"]


def pauli_sum_to_qiskit(obs: Observable, n_qubits: int) -> Any:
    """A QDL observable as a ``SparsePauliOp`` (wire ``w`` on Qiskit qubit ``w``).

    >>> pauli_sum_to_qiskit(Observable.parse("0.5 X0 Z2 + -1"), 3).to_list()
    [('ZIX', (0.5+0j)), ('III', (-1+0j))]
    """
    info = require("qiskit.quantum_info")
    terms = [("".join(p for _, p in t.paulis), [w for w, _ in t.paulis], t.coeff)
             for t in obs.terms]
    return info.SparsePauliOp.from_sparse_list(terms, num_qubits=n_qubits)


class QiskitEstimator:
    """Expectation values of QDL circuits through Qiskit's Estimator primitive (V2).

    Args:
        target: an EstimatorV2 primitive (``qiskit.primitives.StatevectorEstimator``,
            ``qiskit_aer.primitives.EstimatorV2``, IBM Runtime's ``EstimatorV2`` ...), or a
            ``BackendV2`` (``AerSimulator``, a fake or real device), which is wrapped in
            ``BackendEstimatorV2`` with circuits transpiled for it. ``None``: Qiskit's exact
            ``StatevectorEstimator``.
        precision: the target standard error of each estimate, passed to ``run`` (sampling
            primitives take about ``1/precision²`` shots); ``None`` keeps the primitive's
            default.
        pass_manager: transpiles circuits before they run (hardware needs ISA circuits);
            with a backend the default is Qiskit's preset pass manager for it.
        optimization_level: of the default preset pass manager.

    >>> est = QiskitEstimator()
    >>> c = Circuit(1).ry(0, "a")
    >>> est.expval(c, ["Z0", "X0"], {"a": torch.tensor([0.0, 1.5707963])}).round(decimals=6)
    tensor([[1., 0.],
            [0., 1.]], dtype=torch.float64)
    """

    def __init__(self, target: Any = None, *, precision: float | None = None,
                 pass_manager: Any = None, optimization_level: int = 1):
        primitives = require("qiskit.primitives")
        providers = require("qiskit.providers")
        self.pass_manager = pass_manager
        if target is None:
            target = primitives.StatevectorEstimator()
        if isinstance(target, providers.BackendV2):
            if pass_manager is None:
                transpiler = require("qiskit.transpiler")
                self.pass_manager = transpiler.generate_preset_pass_manager(
                    optimization_level=optimization_level, backend=target)
            target = primitives.BackendEstimatorV2(backend=target)
        if not isinstance(target, primitives.BaseEstimatorV2):
            raise QDLError("QiskitEstimator needs an EstimatorV2 primitive or a BackendV2, got "
                           f"{type(target).__name__}")
        self.estimator = target
        self.precision = precision
        self._compiled: dict[Circuit, Any] = {}

    def _circuit(self, circuit: Circuit) -> Any:
        qc = self._compiled.get(circuit)
        if qc is None:
            qc = to_qiskit(circuit)
            if self.pass_manager is not None:
                qc = self.pass_manager.run(qc)
            if len(self._compiled) > 64:  # parameter-shift reuses one circuit; keep a few
                self._compiled.clear()
            self._compiled[circuit] = qc
        return qc

    def expval(self, circuit: Circuit, observables: Sequence[str | Observable] | str,
               params: Mapping[str, Any] | None = None) -> torch.Tensor:
        """``<O>`` for each observable: ``(*batch, len(observables))`` float64, no gradient.

        ``params`` maps every circuit parameter to a float or array; batch shapes broadcast.
        For gradients use ``qdl.expval(..., backend=this)``.
        """
        obs = parse_observables(list(observables) if not isinstance(observables, str)
                                else [observables], circuit.n_qubits)
        qc = self._circuit(circuit)
        values, batch_shape = _parameter_values(qc, circuit, params or {})
        ops = [pauli_sum_to_qiskit(o, circuit.n_qubits) for o in obs]
        if getattr(qc, "layout", None) is not None:
            ops = [op.apply_layout(qc.layout) for op in ops]
        pub = (qc, [ops]) if values is None else (qc, [ops], values[:, None, :])
        job = self.estimator.run([pub], precision=self.precision)
        evs = np.asarray(job.result()[0].data.evs, dtype=np.float64)
        return torch.from_numpy(evs.reshape(*batch_shape, len(obs)).copy())


def _parameter_values(qc: Any, circuit: Circuit, params: Mapping[str, Any]
                      ) -> tuple[np.ndarray | None, tuple[int, ...]]:
    """``(B, P)`` values in the order of ``qc.parameters``, and the broadcast batch shape."""
    missing = [n for n in circuit.parameters if n not in params]
    extra = [n for n in params if n not in circuit.parameters]
    if missing or extra:
        raise QDLError(f"parameters {sorted(params)} do not match the circuit's "
                       f"{list(circuit.parameters)} (missing {missing}, unknown {extra})")
    arrays = {k: np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v,
                            dtype=np.float64) for k, v in params.items()}
    shape = np.broadcast_shapes(*(a.shape for a in arrays.values())) if arrays else ()
    names = [p.name for p in qc.parameters]
    if not names:
        return None, tuple(shape)
    flat = [np.broadcast_to(arrays[n], shape).reshape(-1) for n in names]
    return np.stack(flat, -1), tuple(shape)
