"""Dense numpy reference for the tests, written from the OpenQASM 3 ``stdgates.inc`` formulas.

Nothing here calls the simulator or the gate table of qdl: matrices come from the spec
formulas, multi-qubit operators are embedded by ``np.kron`` and an explicit qubit
permutation (wire 0 is the most significant bit), and circuits are simulated by multiplying
full ``2**n × 2**n`` unitaries. The only qdl objects read are a circuit's ``ops`` (``name``,
``wires``, ``params``, ``ctrl``) and ``Expr.evaluate`` on plain floats.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Mapping, Sequence

import numpy as np

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.array([[1, 0], [0, -1]], dtype=complex)
PAULIS = {"I": I2, "X": X, "Y": Y, "Z": Z}
_FSWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, -1]], dtype=complex)


def _e(x: float) -> complex:
    return cmath.exp(1j * x)


def expm_herm(h: np.ndarray, t: float) -> np.ndarray:
    """``exp(-i t h)`` for a Hermitian matrix ``h`` (by eigendecomposition)."""
    w, v = np.linalg.eigh(h)
    return (v * np.exp(-1j * t * w)) @ v.conj().T


def u_matrix(theta: float, phi: float, lam: float) -> np.ndarray:
    """OpenQASM 3 ``U(θ, φ, λ)``."""
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -_e(lam) * s], [_e(phi) * s, _e(phi + lam) * c]], dtype=complex)


def _rpp(p: np.ndarray, theta: float) -> np.ndarray:
    """``exp(-i θ P⊗P / 2)``."""
    return expm_herm(np.kron(p, p), theta / 2)


_SX = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])


def _givens(dim: int, i: int, j: int, theta: float) -> np.ndarray:
    """Identity but ``|i> → cos(θ/2)|i> + sin(θ/2)|j>``, ``|j> → cos(θ/2)|j> − sin(θ/2)|i>``."""
    m = np.eye(dim, dtype=complex)
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    m[i, i], m[j, j], m[i, j], m[j, i] = c, c, -s, s
    return m


def _fixed(m: object):
    return lambda: np.array(m, dtype=complex)


# name -> (number of parameters, function of the parameters returning the matrix)
BASE_GATES = {
    "id": (0, _fixed(I2)),
    "x": (0, _fixed(X)),
    "y": (0, _fixed(Y)),
    "z": (0, _fixed(Z)),
    "h": (0, _fixed(np.array([[1, 1], [1, -1]]) / math.sqrt(2))),
    "s": (0, _fixed(np.diag([1, 1j]))),
    "sdg": (0, _fixed(np.diag([1, -1j]))),
    "t": (0, _fixed(np.diag([1, _e(math.pi / 4)]))),
    "tdg": (0, _fixed(np.diag([1, _e(-math.pi / 4)]))),
    "sx": (0, _fixed(_SX)),
    "sxdg": (0, _fixed(_SX.conj().T)),
    "rx": (1, lambda t: expm_herm(X, t / 2)),
    "ry": (1, lambda t: expm_herm(Y, t / 2)),
    "rz": (1, lambda t: expm_herm(Z, t / 2)),
    "p": (1, lambda lam: np.diag([1, _e(lam)])),
    "u": (3, u_matrix),
    "u2": (2, lambda phi, lam: u_matrix(math.pi / 2, phi, lam)),
    "gphase": (1, lambda g: np.array([[_e(g)]])),
    "swap": (0, _fixed(np.eye(4)[[0, 2, 1, 3]])),
    "iswap": (0, _fixed([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]])),
    "iswap_dg": (0, _fixed([[1, 0, 0, 0], [0, 0, -1j, 0], [0, -1j, 0, 0], [0, 0, 0, 1]])),
    "rxx": (1, lambda t: _rpp(X, t)),
    "ryy": (1, lambda t: _rpp(Y, t)),
    "rzz": (1, lambda t: _rpp(Z, t)),
    # PennyLane's conventions (pennylane/ops/qubit: Rot, SingleExcitation, DoubleExcitation,
    # OrbitalRotation, PauliRot), written out here from their documented matrices.
    "rot": (3, lambda phi, theta, omega: expm_herm(Z, omega / 2) @ expm_herm(Y, theta / 2)
            @ expm_herm(Z, phi / 2)),
    "single_excitation": (1, lambda t: _givens(4, 1, 2, t)),
    "double_excitation": (1, lambda t: _givens(16, 3, 12, t)),
    # Fermionic swaps of wires 1, 2 around single excitations on (0, 1) and (2, 3).
    "orbital_rotation": (1, lambda t: embed(_FSWAP, [1, 2], 4) @ embed(_givens(4, 1, 2, t),
                                                                      [0, 1], 4)
                         @ embed(_givens(4, 1, 2, t), [2, 3], 4) @ embed(_FSWAP, [1, 2], 4)),
    "pauli_rot_xyz": (1, lambda t: expm_herm(np.kron(np.kron(X, Y), Z), t / 2)),
    "pauli_rot_zzz": (1, lambda t: np.diag([_e(-t / 2 * (-1) ** bin(i).count("1"))
                                            for i in range(8)])),
}
FAMILY_EXAMPLES = ("pauli_rot_xyz", "pauli_rot_zzz")  # rows qdl makes on first use

# qelib1.inc / stdgates.inc controlled gates: name -> (base gate, number of controls)
CONTROLLED = {
    "cx": ("x", 1), "cy": ("y", 1), "cz": ("z", 1), "ch": ("h", 1), "csx": ("sx", 1),
    "cp": ("p", 1), "crx": ("rx", 1), "cry": ("ry", 1), "crz": ("rz", 1), "cu3": ("u", 1),
    "cswap": ("swap", 1), "ccx": ("x", 2), "ccz": ("z", 2), "c3x": ("x", 3),
    "c3sqrtx": ("sx", 3), "c4x": ("x", 4),
}

ALL_GATES = sorted(set(BASE_GATES) | set(CONTROLLED))


def controlled(u: np.ndarray, controls: int) -> np.ndarray:
    """``|0><0| ⊗ I + |1><1| ⊗ U`` applied ``controls`` times (controls are the leading wires)."""
    p0 = np.diag([1, 0]).astype(complex)
    p1 = np.diag([0, 1]).astype(complex)
    for _ in range(controls):
        u = np.kron(p0, np.eye(u.shape[0])) + np.kron(p1, u)
    return u


def _pauli_word_gate(name: str):
    """``pauli_rot_<word>``: ``exp(−iθ/2 P)`` for any word of X, Y, Z."""
    word = name.removeprefix("pauli_rot_").upper()
    if not name.startswith("pauli_rot_") or set(word) - set("XYZ"):
        raise KeyError(name)
    p = np.eye(1, dtype=complex)
    for letter in word:
        p = np.kron(p, PAULIS[letter])
    return 1, lambda t: expm_herm(p, t / 2)


def num_params(name: str) -> int:
    """Number of real parameters of a reference gate."""
    base = CONTROLLED[name][0] if name in CONTROLLED else name
    return BASE_GATES[base][0]


def num_wires(name: str) -> int:
    """Number of wires of a reference gate, controls included."""
    base, k = CONTROLLED.get(name, (name, 0))
    return round(math.log2(BASE_GATES[base][1](*[0.3] * BASE_GATES[base][0]).shape[0])) + k


def gate_matrix(name: str, params: Sequence[float] = (), ctrl: int = 0) -> np.ndarray:
    """The gate's matrix from the spec formulas, with ``ctrl`` extra leading controls."""
    base, k = CONTROLLED.get(name, (name, 0))
    nparams, fn = BASE_GATES[base] if base in BASE_GATES else _pauli_word_gate(base)
    if len(params) != nparams:
        raise ValueError(f"{name} takes {nparams} parameters")
    return controlled(fn(*[float(p) for p in params]), k + ctrl)


def _bits(index: int, n: int) -> list[int]:
    return [(index >> (n - 1 - q)) & 1 for q in range(n)]


def _index(bits: Sequence[int]) -> int:
    out = 0
    for b in bits:
        out = 2 * out + b
    return out


def embed(m: np.ndarray, wires: Sequence[int], n: int) -> np.ndarray:
    """``m`` (acting on ``wires``, first wire most significant) as an ``n``-qubit operator."""
    wires = list(wires)
    k = len(wires)
    assert m.shape == (2**k, 2**k) and len(set(wires)) == k
    rest = [q for q in range(n) if q not in wires]
    big = np.kron(m, np.eye(2 ** (n - k)))  # qubit order: wires..., rest...
    order = wires + rest
    # P|idx> = |big index>, qubits reordered; P^T big P by indexing: U[i, j] = big[p_i, p_j]
    p = [_index([b[q] for q in order]) for b in (_bits(idx, n) for idx in range(2**n))]
    return big[np.ix_(p, p)]


def full_unitary(
    name: str, params: Sequence[float], wires: Sequence[int], n: int, ctrl: int = 0
) -> np.ndarray:
    """``2**n × 2**n`` unitary of one gate (``ctrl`` extra controls first in ``wires``)."""
    return embed(gate_matrix(name, params, ctrl), wires, n)


def op_params(op, env: Mapping[str, float]) -> list[float]:
    """The op's angles as floats."""
    return [float(p.evaluate(dict(env))) for p in op.params]


def circuit_unitary(circuit, env: Mapping[str, float] | None = None) -> np.ndarray:
    """Dense unitary of a qdl circuit for one set of float parameter values."""
    env = dict(env or {})
    n = circuit.n_qubits
    u = np.eye(2**n, dtype=complex)
    for op in circuit.ops:
        u = full_unitary(op.name, op_params(op, env), op.wires, n, op.ctrl) @ u
    return u


def circuit_state(circuit, env: Mapping[str, float] | None = None) -> np.ndarray:
    """Output state of a circuit started in |0...0>, one parameter set."""
    return circuit_unitary(circuit, env)[:, 0]


def batched_envs(params: Mapping[str, object]) -> tuple[tuple[int, ...], list[dict]]:
    """Broadcast parameter arrays; return the batch shape and one float env per element."""
    arrays = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    shape = np.broadcast_shapes(*(a.shape for a in arrays.values())) if arrays else ()
    flat = {k: np.broadcast_to(a, shape).reshape(-1) for k, a in arrays.items()}
    size = int(np.prod(shape)) if shape else 1
    return tuple(shape), [{k: float(a[i]) for k, a in flat.items()} for i in range(size)]


def batched_state(circuit, params: Mapping[str, object]) -> np.ndarray:
    """Reference states of shape ``(*batch, 2**n)``."""
    shape, envs = batched_envs(params)
    states = np.stack([circuit_state(circuit, e) for e in envs])
    return states.reshape(*shape, 2**circuit.n_qubits)


def pauli_operator(terms: Sequence[tuple[float, Mapping[int, str]]], n: int) -> np.ndarray:
    """``Σ c · ⊗_w P_w`` from explicit ``(coeff, {wire: "X"|"Y"|"Z"})`` terms."""
    out = np.zeros((2**n, 2**n), dtype=complex)
    for coeff, word in terms:
        m = np.eye(1, dtype=complex)
        for q in range(n):
            m = np.kron(m, PAULIS[word.get(q, "I")])
        out += coeff * m
    return out


def expectation(psi: np.ndarray, op: np.ndarray) -> np.ndarray:
    """``<ψ|O|ψ>`` over the last axis of ``psi``."""
    return np.einsum("...i,ij,...j->...", psi.conj(), op, psi).real


def marginal(psi: np.ndarray, wires: Sequence[int], n: int) -> np.ndarray:
    """Probabilities of the basis states of ``wires`` (in the given order) for one state."""
    out = np.zeros(2 ** len(wires))
    for idx, amp in enumerate(psi):
        b = _bits(idx, n)
        out[_index([b[w] for w in wires])] += abs(amp) ** 2
    return out


def random_state(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-ish random normalized state."""
    v = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    return v / np.linalg.norm(v)


def random_hermitian(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A random Hermitian matrix."""
    a = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    return (a + a.conj().T) / 2


def central_diff(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Jacobian of ``f: R^k -> R^m`` (flattened) by central differences: shape ``(m, k)``."""
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        dx = np.zeros_like(x).reshape(-1)
        dx[i] = h
        dx = dx.reshape(x.shape)
        cols.append((np.ravel(f(x + dx)) - np.ravel(f(x - dx))) / (2 * h))
    return np.stack(cols, -1)


def random_circuit(
    n: int,
    rng: np.random.Generator,
    depth: int,
    gates: Sequence[str] | None = None,
    names: Sequence[str] = ("a", "b", "c"),
    max_ctrl: int = 2,
    ctrl_prob: float = 0.3,
    exprs: bool = True,
    prep: bool = True,
):
    """A random qdl circuit: gates on random wires, angles symbolic or constant, ctrl modifiers.

    Angles are a free name, an expression of names (``2*a + 0.1``, ``sin(b)``) or a number.
    With ``prep`` the circuit starts with ``ry(name) rz(number)`` on every wire.
    """
    import qdl
    from qdl.expr import Sym, func

    gates = [g for g in (gates or ALL_GATES) if num_wires(g) <= n]
    c = qdl.Circuit(n)
    if prep and names:  # a parametrized first layer: a generic state, parameters always used
        for w in range(n):
            c.ry(w, Sym(names[w % len(names)])).rz(w, float(rng.uniform(-3, 3)))
    for _ in range(depth):
        name = gates[rng.integers(len(gates))]
        k = num_wires(name)
        ctrl = 0
        if max_ctrl and rng.random() < ctrl_prob and n - k >= 1:
            ctrl = int(rng.integers(1, min(max_ctrl, n - k) + 1))
        if name == "gphase" and ctrl == 0 and n >= 1 and rng.random() < 0.5:
            ctrl = 1
        wires = [int(w) for w in rng.permutation(n)[: k + ctrl]]
        params: list[object] = []
        for _ in range(num_params(name)):
            r = rng.random()
            sym = Sym(names[rng.integers(len(names))])
            if r < 0.4 or not exprs:
                params.append(sym if r < 0.8 else float(rng.uniform(-3, 3)))
            elif r < 0.6:
                params.append(2 * sym + 0.1)
            elif r < 0.8:
                params.append(func("sin", sym) - 0.5 * Sym(names[rng.integers(len(names))]))
            else:
                params.append(float(rng.uniform(-3, 3)))
        c.add(name, wires, params, ctrl=ctrl)
    return c


def fit_mse(module, x, y, steps: int, lr: float = 0.1) -> list[float]:
    """Adam on the mean squared error of ``module(x)`` against ``y``; the loss of every step."""
    import torch

    opt = torch.optim.Adam(module.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((module(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
