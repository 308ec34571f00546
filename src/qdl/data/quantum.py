"""Quantum data: exact ground states of spin chains with phase labels, and classical shadows.

Three open chains of ``n`` qubits (wire 0 is the most significant bit of a basis index, as
everywhere in QDL), each with a known phase diagram:

* :func:`tfim_terms` — transverse-field Ising chain ``H = -Σ Z_i Z_{i+1} - g Σ X_i``:
  ordered (ferromagnetic) for ``g < 1``, disordered (paramagnetic) for ``g > 1``;
* :func:`cluster_ising_terms` — the cluster-Ising chain of Cong, Choi & Lukin, Nat. Phys. 15,
  1273 (2019): ``H = -Σ Z_{i-1} X_i Z_{i+1} - h1 Σ X_i - h2 Σ X_i X_{i+1}`` (``J = 1``), with a
  Z2×Z2 symmetry-protected topological (SPT), a paramagnetic and an antiferromagnetic phase;
* :func:`dimer_terms` — the bond-alternating Heisenberg chain
  ``H = Σ (1 + δ (-1)^i) σ_i·σ_{i+1}``: a trivial dimer phase for ``δ > 0`` (the strong bonds
  hold the edge spins) and a topological dimer phase for ``δ < 0`` (free spin-½ at the edges,
  the Haldane phase's edge states), with the critical Heisenberg chain at ``δ = 0``.

Hamiltonians are sparse Pauli sums built with numpy bit operations (:func:`pauli_sum`); ground
states come from exact diagonalisation (``scipy.linalg.eigh`` up to 2**10 amplitudes,
``scipy.sparse.linalg.eigsh`` above) inside a fixed symmetry sector, so near-degenerate
ground states (cat states, edge modes) cannot make the answer depend on round-off; each
state's sign is fixed by making its largest amplitude positive. :func:`phase_dataset` builds
a labelled grid and caches it on disk (:func:`cache_dir`), written atomically.

:func:`classical_shadow` samples randomized Pauli measurements (Huang, Kueng & Preskill,
Nat. Phys. 16, 1050 (2020)) from exact states; :func:`shadow_expectation` and
:func:`shadow_features` turn them into the data a classical learner gets from an experiment.

scipy comes with the ``app`` extra; it is imported only here, lazily.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qdl.errors import QDLError

Term = tuple[float, tuple[tuple[int, str], ...]]
FORMAT = 1  # bump when the generation changes: old cache files are then ignored
DENSE_MAX = 2**10


def _scipy(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise QDLError('quantum datasets need scipy for exact diagonalisation: '
                       'pip install "qdl[app]"') from None


def _check_n(n: int, least: int = 2) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not least <= n <= 20:
        raise QDLError(f"n must be an int from {least} to 20 qubits, got {n!r}")
    return n


def tfim_terms(n: int, g: float) -> list[Term]:
    """Open transverse-field Ising chain ``-Σ Z_i Z_{i+1} - g Σ X_i`` as Pauli terms.

    >>> tfim_terms(2, 0.5)
    [(-1.0, ((0, 'Z'), (1, 'Z'))), (-0.5, ((0, 'X'),)), (-0.5, ((1, 'X'),))]
    """
    n = _check_n(n)
    terms: list[Term] = [(-1.0, ((i, "Z"), (i + 1, "Z"))) for i in range(n - 1)]
    return terms + [(-float(g), ((i, "X"),)) for i in range(n)]


def cluster_ising_terms(n: int, h1: float, h2: float) -> list[Term]:
    """Open cluster-Ising chain of Cong et al. (2019), ``J = 1``, as Pauli terms.

    ``H = -Σ_{i=1}^{n-2} Z_{i-1} X_i Z_{i+1} - h1 Σ_i X_i - h2 Σ_{i=0}^{n-2} X_i X_{i+1}``.

    >>> len(cluster_ising_terms(4, 0.1, 0.2))     # 2 cluster + 4 field + 3 Ising terms
    9
    """
    n = _check_n(n, 3)
    terms: list[Term] = [(-1.0, ((i - 1, "Z"), (i, "X"), (i + 1, "Z"))) for i in range(1, n - 1)]
    terms += [(-float(h1), ((i, "X"),)) for i in range(n)]
    return terms + [(-float(h2), ((i, "X"), (i + 1, "X"))) for i in range(n - 1)]


def dimer_terms(n: int, delta: float) -> list[Term]:
    """Open bond-alternating Heisenberg chain ``Σ (1 + δ(-1)^i) (XX + YY + ZZ)_{i,i+1}``.

    Bond ``i`` joins wires ``i`` and ``i+1``; the first bond has strength ``1 + δ``.

    >>> dimer_terms(2, 0.5)[0]
    (1.5, ((0, 'X'), (1, 'X')))
    """
    n = _check_n(n)
    return [(1.0 + float(delta) * (-1) ** i, ((i, p), (i + 1, p)))
            for i in range(n - 1) for p in "XYZ"]


def _parity(x: np.ndarray) -> np.ndarray:
    return (np.bitwise_count(x) & 1).astype(np.int64)


def _masks(n: int, term: tuple[tuple[int, str], ...]) -> tuple[int, int, int]:
    xmask = zmask = ny = 0
    for wire, p in term:
        if not 0 <= wire < n or p not in "XYZ":
            raise QDLError(f"bad Pauli factor {p}{wire} for {n} qubits")
        bit = 1 << (n - 1 - wire)  # wire 0 is the most significant bit
        if p in "XY":
            xmask |= bit
        if p in "YZ":
            zmask |= bit
        ny += p == "Y"
    return xmask, zmask, ny


def pauli_sum(terms: Sequence[Term], n: int) -> Any:
    """The ``2**n × 2**n`` sparse matrix (``scipy.sparse.csr_array``) of a sum of Pauli strings.

    A string ``P = i^{#Y} X^x Z^z`` maps ``|b⟩`` to ``i^{#Y} (-1)^{popcount(b & z)} |b ^ x⟩``,
    so every term is one signed permutation, built for all ``b`` at once. The matrix is real
    when every term has an even number of ``Y`` (all Hamiltonians here), complex otherwise.

    >>> pauli_sum([(2.0, ((0, "X"),))], 1).toarray().tolist()
    [[0.0, 2.0], [2.0, 0.0]]
    """
    sparse = _scipy("scipy.sparse")
    size = 1 << _check_n(n, 1)
    b = np.arange(size, dtype=np.int64)
    rows, cols, vals = [], [], []
    complex_ = False
    for coeff, term in terms:
        xmask, zmask, ny = _masks(n, term)
        phase = 1j ** ny
        complex_ |= ny % 2 == 1
        rows.append(b ^ xmask)
        cols.append(b)
        vals.append(coeff * phase * (1 - 2 * _parity(b & zmask)))
    data = np.concatenate(vals) if vals else np.zeros(0)
    data = data if complex_ else data.real
    m = sparse.coo_array((data, (np.concatenate(rows or [b[:0]]), np.concatenate(cols or [b[:0]]))),
                         shape=(size, size))
    return m.tocsr()


@dataclass(frozen=True)
class Symmetry:
    """A signed permutation ``(g v)[b] = sign[b] · v[perm[b]]`` and its eigenvalue on the sector.

    Attributes:
        perm: basis index each amplitude is read from.
        sign: ``±1`` per basis index.
        value: the eigenvalue ``±1`` the chosen sector has.
    """

    perm: np.ndarray
    sign: np.ndarray
    value: int = 1

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """``g v`` for a vector ``(N,)`` or a block of columns ``(N, k)``."""
        sign = self.sign if v.ndim == 1 else self.sign[:, None]
        return sign * v[self.perm]

    def then(self, other: Symmetry) -> Symmetry:
        """``other ∘ self`` (apply ``self`` first), with the product eigenvalue."""
        return Symmetry(self.perm[other.perm], other.sign * self.sign[other.perm],
                        self.value * other.value)


def flip(n: int, wires: Sequence[int], value: int = 1) -> Symmetry:
    """``Π_{w ∈ wires} X_w``: flips those wires' bits.

    >>> flip(2, [0])(np.array([1.0, 2.0, 3.0, 4.0])).tolist()
    [3.0, 4.0, 1.0, 2.0]
    """
    mask = sum(1 << (n - 1 - w) for w in wires)
    b = np.arange(1 << n)
    return Symmetry(b ^ mask, np.ones(1 << n), value)


def z_parity(n: int, value: int = 1) -> Symmetry:
    """``Π_w Z_w``: the sign ``(-1)^{number of 1 bits}``.

    >>> z_parity(2)(np.ones(4)).tolist()
    [1.0, -1.0, -1.0, 1.0]
    """
    b = np.arange(1 << n)
    return Symmetry(b, 1.0 - 2 * _parity(b), value)


def reflection(n: int, value: int = 1) -> Symmetry:
    """Site reflection ``w → n-1-w`` (reverses the bits of each basis index).

    >>> reflection(2)(np.array([1.0, 2.0, 3.0, 4.0])).tolist()
    [1.0, 3.0, 2.0, 4.0]
    """
    b = np.arange(1 << n)
    rev = np.zeros_like(b)
    for k in range(n):
        rev |= ((b >> k) & 1) << (n - 1 - k)
    return Symmetry(rev, np.ones(1 << n), value)


def _group(generators: Sequence[Symmetry]) -> list[Symmetry]:
    """All products of the generators (a small finite group), each with its eigenvalue."""
    size = len(generators[0].perm) if generators else 0
    elements = [Symmetry(np.arange(size), np.ones(size))] if generators else []
    seen = {(e.perm.tobytes(), e.sign.tobytes()) for e in elements}
    frontier = list(elements)
    while frontier:
        new = []
        for e in frontier:
            for g in generators:
                p = e.then(g)
                key = (p.perm.tobytes(), p.sign.tobytes())
                if key not in seen:
                    seen.add(key)
                    new.append(p)
        elements += new
        frontier = new
    return elements


def sector_projector(generators: Sequence[Symmetry]) -> Callable[[np.ndarray], np.ndarray]:
    """The projector onto states with eigenvalue ``value`` under every generator.

    The group average ``(1/|G|) Σ_g χ(g) g`` (with ``χ`` the product of the generators'
    values) is the orthogonal projector onto that sector, also for non-commuting generators
    such as the two sublattice flips and the reflection of an even chain.

    >>> p = sector_projector([flip(2, [0, 1])])
    >>> p(np.array([1.0, 0.0, 0.0, 0.0])).tolist()
    [0.5, 0.0, 0.0, 0.5]
    """
    elements = _group(generators)
    if not elements:
        return lambda v: v

    def project(v: np.ndarray) -> np.ndarray:
        return sum(e.value * e(v) for e in elements) / len(elements)
    return project


def fix_sign(psi: np.ndarray) -> np.ndarray:
    """``psi`` with its largest-magnitude amplitude made real positive (the first one on ties).

    Eigensolvers return an eigenvector up to a phase; fixing it makes the data reproducible.

    >>> fix_sign(np.array([0.6, -0.8])).tolist()
    [-0.6, 0.8]
    """
    mag = np.abs(psi)
    # Amplitudes equal up to round-off count as tied, so the first of them decides.
    k = int(np.flatnonzero(mag >= mag.max() * (1 - 1e-9))[0])
    return psi * (np.conj(psi[k]) / mag[k])


def ground_state(h: Any, symmetries: Sequence[Symmetry] = ()) -> tuple[float, np.ndarray]:
    """Lowest eigenvalue and eigenvector of the Hermitian ``h`` inside a symmetry sector.

    ``h`` must commute with the symmetries. The solver works on ``P h P + c (1 - P)`` with
    ``P`` the sector projector and ``c`` above the spectrum, whose lowest eigenvector is the
    sector's ground state: dense ``eigh`` up to 2**10 amplitudes, ``eigsh`` with a fixed start
    vector above. The sign is fixed by :func:`fix_sign`.

    >>> e, psi = ground_state(pauli_sum(tfim_terms(2, 0.0), 2), [flip(2, [0, 1])])
    >>> round(e, 6), np.round(psi, 4).tolist()
    (-1.0, [0.7071, 0.0, 0.0, 0.7071])
    """
    size = h.shape[0]
    project = sector_projector(symmetries)
    # Gershgorin: every eigenvalue of h lies within the largest absolute row sum.
    shift = float(abs(h).sum(axis=1).max()) + 1.0

    def apply(v: np.ndarray) -> np.ndarray:
        pv = project(v)
        return project(h @ pv) + shift * (v - pv)

    dtype = np.complex128 if np.iscomplexobj(h.data) else np.float64
    if size <= DENSE_MAX:
        # The sector's own basis: P e_b over the orbit representatives b (disjoint supports,
        # so orthogonal); eigh of the small projected matrix, lowest eigenpair only.
        columns = project(np.eye(size, dtype=dtype))
        norms = np.linalg.norm(columns, axis=0)
        first = np.array([int(np.flatnonzero(np.abs(columns[:, b]) > 1e-12)[0])
                          if norms[b] > 1e-9 else -1 for b in range(size)])
        keep = np.flatnonzero(first == np.arange(size))
        if not len(keep):
            raise QDLError("the symmetry sector is empty")
        q = columns[:, keep] / norms[keep]
        energies, vectors = _scipy("scipy.linalg").eigh(q.conj().T @ (h @ q),
                                                        subset_by_index=[0, 0])
        energy, psi = energies[0], q @ vectors[:, 0]
    else:
        linalg = _scipy("scipy.sparse.linalg")
        op = linalg.LinearOperator((size, size), matvec=apply, dtype=dtype)
        v0 = project(np.random.default_rng(0).standard_normal(size)).astype(dtype)
        energies, vectors = linalg.eigsh(op, k=1, which="SA", v0=v0, tol=1e-12)
        energy, psi = energies[0], vectors[:, 0]
    if energy >= shift - 1e-6:
        raise QDLError("the symmetry sector is empty")
    psi = fix_sign(psi / np.linalg.norm(psi))
    return float(energy), psi


def cache_dir() -> Path:
    """Where generated quantum datasets are cached: ``$QDL_CACHE``, else
    ``$XDG_CACHE_HOME/qdl``, else ``~/.cache/qdl``.

    >>> isinstance(cache_dir(), Path)
    True
    """
    if os.environ.get("QDL_CACHE"):
        return Path(os.environ["QDL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qdl"


@dataclass(frozen=True)
class PhaseData:
    """Labelled ground states of one model over a grid of couplings.

    Attributes:
        name: model name (``tfim``, ``cluster-ising`` or ``dimer``).
        n_qubits: chain length.
        param_names: names of the coupling columns of ``params``.
        params: ``(N, p)`` couplings of every state.
        states: ``(N, 2**n)`` real amplitudes (the Hamiltonians are real).
        energies: ``(N,)`` ground-state energies.
        labels: ``(N,)`` phase index into ``classes``.
        classes: phase names.
        seconds: generation time of the whole grid (0 when it was never measured).
    """

    name: str
    n_qubits: int
    param_names: tuple[str, ...]
    params: np.ndarray
    states: np.ndarray
    energies: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    seconds: float = 0.0


def tfim_phase(g: float) -> int:
    """0 (ordered) for ``g < 1``, 1 (disordered) for ``g >= 1``: the exact critical point.

    >>> tfim_phase(0.5), tfim_phase(1.5)
    (0, 1)
    """
    return int(g >= 1.0)


def dimer_phase(delta: float) -> int:
    """0 (trivial: strong bonds at the edges) for ``δ > 0``, 1 (topological) for ``δ < 0``.

    ``δ = 0`` (the critical uniform chain) counts as trivial; grids here avoid it.

    >>> dimer_phase(0.3), dimer_phase(-0.3)
    (0, 1)
    """
    return int(delta < 0)


# Phase boundaries of the cluster-Ising chain in the (h1, h2) plane (J = 1), as (h1, h2)
# polylines, linearly interpolated in h1 (and extended flat beyond h1 = 1.6). Cong et al. took
# theirs from infinite-size DMRG, which is not available offline here; these come from
# experiments/cong2019_boundary.py: exact diagonalisation of the open 12-site chain, a point
# being SPT where the string order <Z_2 X_3 X_5 X_7 Z_8> exceeds its value at the exactly
# known critical point (h1, h2) = (1, 0). Exact on h2 = 0; elsewhere a finite-size estimate.
SPT_PM_BOUNDARY = ((0.0, 0.937), (0.1, 0.781), (0.2, 0.664), (0.3, 0.562), (0.4, 0.467),
                   (0.5, 0.379), (0.6, 0.297), (0.7, 0.218), (0.8, 0.142), (0.9, 0.07),
                   (1.0, 0.0), (1.1, -0.068), (1.2, -0.134), (1.3, -0.198), (1.4, -0.261),
                   (1.5, -0.323), (1.6, -0.383))
SPT_AFM_BOUNDARY = ((0.0, -0.937), (0.1, -0.939), (0.2, -0.946), (0.3, -0.957), (0.4, -0.972),
                    (0.5, -0.992), (0.6, -1.016), (0.7, -1.044), (0.8, -1.076), (0.9, -1.111),
                    (1.0, -1.149), (1.1, -1.19), (1.2, -1.233), (1.3, -1.279), (1.4, -1.325),
                    (1.5, -1.374), (1.6, -1.423))


def phase_boundary(boundary: Sequence[tuple[float, float]], h1: float | np.ndarray
                   ) -> float | np.ndarray:
    """``h2`` of a boundary polyline at ``h1``.

    >>> phase_boundary(SPT_PM_BOUNDARY, 1.0)
    0.0
    """
    xs, ys = zip(*boundary, strict=True)
    out = np.interp(h1, xs, ys)
    return float(out) if np.ndim(out) == 0 else out


def cluster_ising_phase(h1: float, h2: float) -> int:
    """0 SPT, 1 paramagnetic, 2 antiferromagnetic (``J = 1``).

    SPT between :data:`SPT_AFM_BOUNDARY` and :data:`SPT_PM_BOUNDARY`, paramagnetic above,
    antiferromagnetic below (see the comment on the boundaries for how they were found).

    >>> cluster_ising_phase(0.2, 0.0), cluster_ising_phase(1.5, 0.0), cluster_ising_phase(0.2, -1.5)
    (0, 1, 2)
    """
    if h2 > phase_boundary(SPT_PM_BOUNDARY, h1):
        return 1
    if h2 < phase_boundary(SPT_AFM_BOUNDARY, h1):
        return 2
    return 0


@dataclass(frozen=True)
class ChainModel:
    """A spin chain with its symmetry sector, phase rule and default coupling grid.

    Attributes:
        name: dataset name.
        param_names: coupling names.
        terms: ``(n, *couplings) -> Pauli terms``.
        symmetries: ``n -> generators`` of the sector whose ground state is taken.
        phase: ``(*couplings) -> phase index``.
        classes: phase names.
        grid: default couplings ``(N, p)``.
    """

    name: str
    param_names: tuple[str, ...]
    terms: Callable[..., list[Term]]
    symmetries: Callable[[int], list[Symmetry]]
    phase: Callable[..., int]
    classes: tuple[str, ...]
    grid: np.ndarray


def _midpoints(low: float, high: float, k: int) -> np.ndarray:
    # Cell midpoints: symmetric about the centre and never on a critical value like g = 1.
    return low + (high - low) * (np.arange(k) + 0.5) / k


def _plane(h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    a, b = np.meshgrid(h1, h2)
    return np.stack([a.ravel(), b.ravel()], axis=1)


def _tfim_sector(n: int) -> list[Symmetry]:
    # The ground state is the symmetric cat state in the ordered phase (Perron-Frobenius).
    return [flip(n, range(n)), reflection(n)]


def _cluster_sector(n: int) -> list[Symmetry]:
    # Z2 x Z2 (flips of each sublattice) and reflection: one state out of the SPT phase's
    # four edge states and the AFM phase's two, the one connected to |+...+>.
    return [flip(n, range(0, n, 2)), flip(n, range(1, n, 2)), reflection(n)]


def _dimer_sector(n: int) -> list[Symmetry]:
    # Total singlet (unique ground state by Lieb-Mattis for even n): the spin flip and the
    # z-parity both have eigenvalue (-1)^(n/2) on it, which drops the edge triplet.
    s = (-1) ** (n // 2)
    return [flip(n, range(n), s), z_parity(n, s)]


MODELS: dict[str, ChainModel] = {m.name: m for m in (
    ChainModel("tfim", ("g",), tfim_terms, _tfim_sector, tfim_phase,
               ("ordered", "disordered"), _midpoints(0.2, 1.8, 200)[:, None]),
    ChainModel("cluster-ising", ("h1", "h2"), cluster_ising_terms, _cluster_sector,
               cluster_ising_phase, ("spt", "paramagnetic", "antiferromagnetic"),
               _plane(_midpoints(0.0, 1.6, 24), _midpoints(-1.6, 1.6, 24))),
    ChainModel("dimer", ("delta",), dimer_terms, _dimer_sector, dimer_phase,
               ("trivial", "topological"), _midpoints(-0.9, 0.9, 200)[:, None]),
)}


def _model(name: str) -> ChainModel:
    if name not in MODELS:
        raise QDLError(f"unknown chain {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def generate(name: str, n_qubits: int, grid: np.ndarray | None = None) -> PhaseData:
    """Exact ground states and phase labels of chain ``name`` over ``grid`` (no cache).

    >>> d = generate("tfim", 4, np.array([[0.5], [1.5]]))
    >>> d.states.shape, d.labels.tolist(), d.classes
    ((2, 16), [0, 1], ('ordered', 'disordered'))
    """
    model = _model(name)
    n = _check_n(n_qubits, 4)
    if name == "cluster-ising" and n % 4:
        # With n/2 odd the two AFM states lie outside the symmetric sector (see _cluster_sector).
        raise QDLError(f"cluster-ising needs a multiple of 4 qubits, got {n}")
    grid = model.grid if grid is None else np.asarray(grid, dtype=float).reshape(-1, len(
        model.param_names))
    symmetries = model.symmetries(n)
    start = time.perf_counter()
    states = np.empty((len(grid), 1 << n))
    energies = np.empty(len(grid))
    with _one_blas_thread():
        for k, couplings in enumerate(grid):
            energies[k], states[k] = ground_state(pauli_sum(model.terms(n, *couplings), n),
                                                  symmetries)
    labels = np.array([model.phase(*c) for c in grid], dtype=np.int64)
    return PhaseData(name, n, model.param_names, grid, states, energies, labels, model.classes,
                     time.perf_counter() - start)


def _one_blas_thread() -> Any:
    """One BLAS thread while diagonalising: these matrices are small, and several BLAS
    threads on a busy machine made one 256 x 256 eigh 10x slower (measured)."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _cache_file(name: str, n: int, grid: np.ndarray) -> Path:
    key = json.dumps({"format": FORMAT, "name": name, "n": n, "grid": grid.tolist(),
                      "boundaries": [SPT_PM_BOUNDARY, SPT_AFM_BOUNDARY]})
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "quantum" / f"{name}-n{n}-{digest}.npz"


def phase_dataset(name: str, n_qubits: int = 8, grid: np.ndarray | None = None,
                  cache: bool = True) -> PhaseData:
    """Labelled ground states of chain ``name``, from the cache or generated and cached.

    Args:
        name: ``tfim``, ``cluster-ising`` or ``dimer`` (:data:`MODELS`).
        n_qubits: chain length (4 to 20; a multiple of 4 for ``cluster-ising``).
        grid: couplings ``(N, p)``; default the model's grid.
        cache: read and write the cache (:func:`cache_dir`).

    A cache file is written to a temporary name and renamed, so a reader never sees half a
    file; an unwritable cache only costs the regeneration next time.

    >>> d = phase_dataset("dimer", 4, np.array([[-0.5], [0.5]]), cache=False)
    >>> d.labels.tolist(), [d.classes[k] for k in d.labels]
    ([1, 0], ['topological', 'trivial'])
    """
    model = _model(name)
    grid = model.grid if grid is None else np.asarray(grid, dtype=float).reshape(
        -1, len(model.param_names))
    path = _cache_file(name, n_qubits, grid)
    if cache and path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                return PhaseData(name, n_qubits, model.param_names, f["params"], f["states"],
                                 f["energies"], f["labels"], model.classes, float(f["seconds"]))
        except (OSError, ValueError, KeyError):
            pass  # a damaged file is regenerated and replaced
    data = generate(name, n_qubits, grid)
    if cache:
        _atomic_savez(path, params=data.params, states=data.states, energies=data.energies,
                      labels=data.labels, seconds=np.float64(data.seconds))
    return data


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


# Bases of a random Pauli measurement: 0 = X, 1 = Y, 2 = Z. Each row rotates that basis'
# eigenstates onto |0>, |1> (H for X, H S^dagger for Y), so a Z measurement follows.
_ROTATIONS = np.array([[[1, 1], [1, -1]],
                       [[1, -1j], [1, 1j]],
                       [[math.sqrt(2), 0], [0, math.sqrt(2)]]]) / math.sqrt(2)


def classical_shadow(states: np.ndarray, shots: int, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Randomized single-qubit Pauli measurements of each state, ``shots`` snapshots each.

    Every snapshot picks X, Y or Z uniformly and independently on every qubit, rotates the
    state into that basis and samples one bit string from the exact probabilities — what an
    experiment records (Huang, Kueng & Preskill 2020). Seeded per state: state ``i`` uses
    ``numpy.random.default_rng([seed, i])``, so subsets give the same snapshots.

    Args:
        states: ``(B, 2**n)`` normalised amplitudes.
        shots: snapshots per state.
        seed: seeds the bases and outcomes.

    Returns:
        ``bases`` ``(B, shots, n)`` in ``{0, 1, 2}`` (X, Y, Z) and ``outcomes``
        ``(B, shots, n)`` in ``{+1, -1}`` (int8).

    >>> b, o = classical_shadow(np.array([[1.0, 0.0]]), 4, seed=1)
    >>> b.shape, bool(np.all(o[b == 2] == 1))         # |0> always gives +1 in Z
    ((1, 4, 1), True)
    """
    states = np.atleast_2d(np.asarray(states))
    n = round(math.log2(states.shape[1]))
    if 1 << n != states.shape[1] or shots < 1:
        raise QDLError(f"states need 2**n amplitudes and shots >= 1, got {states.shape}, "
                       f"{shots}")
    bases = np.empty((len(states), shots, n), dtype=np.int8)
    outcomes = np.empty((len(states), shots, n), dtype=np.int8)
    bits = np.arange(n - 1, -1, -1)
    for i, psi in enumerate(states):
        rng = np.random.default_rng([seed, i])
        basis = rng.integers(0, 3, (shots, n))
        x = np.broadcast_to(psi.astype(np.complex128), (shots, len(psi)))
        for w in range(n):
            # Per snapshot, wire w's rotation acts on the middle axis of (left, 2, right).
            x = np.matmul(_ROTATIONS[basis[:, w]][:, None],
                          x.reshape(shots, 1 << w, 2, -1))
        p = np.abs(x.reshape(shots, -1)) ** 2
        cdf = np.cumsum(p, axis=1)
        u = rng.random((shots, 1)) * cdf[:, -1:]
        index = np.minimum((cdf < u).sum(axis=1), len(psi) - 1)
        bases[i] = basis
        outcomes[i] = 1 - 2 * ((index[:, None] >> bits) & 1)
    return bases, outcomes


def shadow_expectation(bases: np.ndarray, outcomes: np.ndarray, pauli: str) -> np.ndarray:
    """Shadow estimates of a Pauli string's expectation: mean over snapshots, per state.

    A snapshot contributes ``Π_{i in support} 3 s_i`` when its basis matches the string on
    the whole support and 0 otherwise, an unbiased estimate of ``⟨P⟩`` (variance ``≤ 3^k``
    for weight ``k``).

    Args:
        bases: from :func:`classical_shadow`.
        outcomes: from :func:`classical_shadow`.
        pauli: one letter per qubit, ``I``/``X``/``Y``/``Z`` (``"ZZI"``).

    Returns:
        ``(B,)`` estimates, and per-snapshot values are averaged, so the standard error is
        ``std / sqrt(shots)``.

    >>> b, o = classical_shadow(np.array([[1.0, 0.0]]), 3000, seed=0)
    >>> abs(float(shadow_expectation(b, o, "Z")[0]) - 1.0) < 0.2
    True
    """
    return shadow_snapshots(bases, outcomes, pauli).mean(axis=1)


def shadow_snapshots(bases: np.ndarray, outcomes: np.ndarray, pauli: str) -> np.ndarray:
    """Per-snapshot single-shot estimates ``(B, shots)`` of a Pauli string (see
    :func:`shadow_expectation`).

    >>> b, o = classical_shadow(np.array([[1.0, 0.0]]), 5, seed=0)
    >>> sorted(set(shadow_snapshots(b, o, "Z").ravel().tolist())) <= [0.0, 3.0]
    True
    """
    if len(pauli) != bases.shape[-1] or set(pauli) - set("IXYZ"):
        raise QDLError(f"pauli needs one of I, X, Y, Z per qubit ({bases.shape[-1]}), "
                       f"got {pauli!r}")
    value = np.ones(bases.shape[:2])
    for w, p in enumerate(pauli):
        if p != "I":
            value = value * (3.0 * outcomes[..., w]) * (bases[..., w] == "XYZ".index(p))
    return value


def local_paulis(n: int, width: int = 3) -> list[str]:
    """Pauli strings supported on every window of 1 to ``width`` neighbouring qubits.

    Their expectations are the local reduced density matrices of Huang et al., Science 377
    (2022): the shadow features a classical learner sees.

    >>> len(local_paulis(3, 2)), local_paulis(3, 2)[:2]
    (27, ['XII', 'YII'])
    """
    out = []
    for k in range(1, width + 1):
        for start in range(n - k + 1):
            for letters in np.ndindex(*(3,) * k):
                s = ["I"] * n
                for j, letter in enumerate(letters):
                    s[start + j] = "XYZ"[letter]
                out.append("".join(s))
    return out


def shadow_features(bases: np.ndarray, outcomes: np.ndarray, width: int = 3) -> np.ndarray:
    """Shadow estimates of every :func:`local_paulis` string: ``(B, features)``.

    >>> b, o = classical_shadow(np.eye(4)[:1], 10, seed=0)
    >>> shadow_features(b, o, 2).shape
    (1, 15)
    """
    n = bases.shape[-1]
    return np.stack([shadow_expectation(bases, outcomes, p) for p in local_paulis(n, width)],
                    axis=1)
