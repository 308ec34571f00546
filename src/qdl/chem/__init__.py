"""Quantum chemistry: qubit Hamiltonians of molecules, Hartree–Fock states, UCCSD ansätze.

Integrals come from PySCF (``pip install "qdl[chem]"``; imported only here, lazily): RHF,
then the active space's one- and two-electron integrals in the molecular orbital basis
(``mcscf.CASCI``: frozen core folded into the constant and the one-body term). The
second-quantised Hamiltonian ``E_core + Σ h_pq a†_p a_q + ½ Σ (pq|rs) a†_p a†_r a_s a_q``
is mapped to qubits by Jordan–Wigner, parity or Bravyi–Kitaev, all through one binary
encoding (Seeley, Richard & Love, J. Chem. Phys. 137, 224109 (2012)). Qubits follow
PennyLane: spin orbitals interleaved, qubit ``2i`` = orbital ``i`` spin α, ``2i + 1`` = spin β,
so Hamiltonians and states compare term by term with ``qml.qchem``.

Pauli strings are kept as bit masks ``(x, z)`` (letter X for x only, Z for z only, Y for
both), so products are a few integer operations.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qdl.circuit import Circuit
from qdl.errors import QDLError

__all__ = [
    "MAPPINGS", "MOLECULES", "excitations", "fci_energy", "hartree_fock_state",
    "k_upccgsd", "molecular_hamiltonian", "qubit_terms", "read_xyz", "uccsd",
]

MAPPINGS = ("jordan_wigner", "parity", "bravyi_kitaev")
INSTALL_HINT = 'pip install "qdl[chem]"'
ANGSTROM_PER_BOHR = 0.529177210903

# Standard geometries (Å): H2 at 0.7414 (experimental), LiH at 1.5949, BeH2 linear at 1.3264
# (NIST CCCBDB experimental bond lengths).
MOLECULES: dict[str, tuple[list[str], list[list[float]]]] = {
    "H2": (["H", "H"], [[0, 0, 0], [0, 0, 0.7414]]),
    "LiH": (["Li", "H"], [[0, 0, 0], [0, 0, 1.5949]]),
    "BeH2": (["Be", "H", "H"], [[0, 0, 0], [0, 0, 1.3264], [0, 0, -1.3264]]),
}

Term = tuple[int, int]  # (x mask, z mask)


def _pyscf() -> Any:
    try:
        import pyscf  # noqa: F401
        from pyscf import ao2mo, gto, mcscf, scf
    except ImportError:
        raise QDLError(f"qdl.chem needs the optional package 'pyscf'; install it with: "
                       f"{INSTALL_HINT}") from None
    return gto, scf, mcscf, ao2mo


# --------------------------------------------------------------------------------------------
# Integrals
# --------------------------------------------------------------------------------------------


def _mean_field(symbols: Sequence[str], coordinates: object, basis: str, charge: int,
                mult: int, unit: str) -> Any:
    gto, scf, _, _ = _pyscf()
    xyz = np.asarray(coordinates, dtype=float).reshape(len(symbols), 3)
    if unit not in ("angstrom", "bohr"):
        raise QDLError(f"unit must be 'angstrom' or 'bohr', got {unit!r}")
    try:
        mol = gto.M(atom=[(s, tuple(p)) for s, p in zip(symbols, xyz, strict=True)],
                    basis=basis, charge=charge, spin=mult - 1, unit=unit, verbose=0)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise QDLError(f"PySCF could not build the molecule: {exc}") from None
    mf = scf.RHF(mol) if mult == 1 else scf.ROHF(mol)
    try:
        mf.kernel()
    except (np.linalg.LinAlgError, RuntimeError) as exc:
        # A singular overlap matrix or PySCF's 'Ill geometry': atoms (nearly) on top of another.
        raise QDLError(f"Hartree–Fock failed ({str(exc).splitlines()[0] if str(exc) else exc!r}"
                       "): are two atoms at (nearly) the same position?") from None
    if not mf.converged:
        raise QDLError("Hartree–Fock did not converge for this geometry")
    return mf


def _active(mf: Any, active_electrons: int | None, active_orbitals: int | None
            ) -> tuple[int, int]:
    n_elec, n_orb = mf.mol.nelectron, mf.mo_coeff.shape[1]
    ne = n_elec if active_electrons is None else active_electrons
    no = n_orb - (n_elec - ne) // 2 if active_orbitals is None else active_orbitals
    if ne <= 0 or ne > n_elec or (n_elec - ne) % 2 or no <= 0 or 2 * no < ne or (
            (n_elec - ne) // 2 + no > n_orb):
        raise QDLError(f"active space of {ne} electron(s) in {no} orbital(s) does not fit "
                       f"{n_elec} electrons in {n_orb} orbitals (core = (electrons − active "
                       "electrons)/2 doubly occupied orbitals)")
    return ne, no


def _integrals(mf: Any, ne: int, no: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Constant, one-body ``h[p, q]`` and two-body ``(pq|rs)`` of the active space."""
    _, _, mcscf, ao2mo = _pyscf()
    cas = mcscf.CASCI(mf, no, ne)
    h1, core = cas.get_h1eff()
    eri = ao2mo.restore(1, cas.get_h2eff(), no)
    return float(core), np.asarray(h1), np.asarray(eri)


# --------------------------------------------------------------------------------------------
# Fermions to qubits
# --------------------------------------------------------------------------------------------


def _encoding(n: int, mapping: str) -> np.ndarray:
    """Binary matrix β with qubits = β · occupations (mod 2)."""
    if mapping == "jordan_wigner":
        return np.eye(n, dtype=np.int64)
    if mapping == "parity":
        return np.tril(np.ones((n, n), dtype=np.int64))
    if mapping == "bravyi_kitaev":
        beta = np.array([[1]], dtype=np.int64)
        while beta.shape[0] < n:  # β_{2m} = [[β_m, 0], [A, β_m]], A = ones in the last row
            m = beta.shape[0]
            low = np.zeros((m, m), dtype=np.int64)
            low[-1, :] = 1
            beta = np.block([[beta, np.zeros((m, m), dtype=np.int64)], [low, beta]])
        return beta[:n, :n]
    raise QDLError(f"mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}")


def _inverse_mod2(beta: np.ndarray) -> np.ndarray:
    n = beta.shape[0]
    a = np.concatenate([beta % 2, np.eye(n, dtype=np.int64)], 1)
    for col in range(n):
        pivot = next(r for r in range(col, n) if a[r, col])
        a[[col, pivot]] = a[[pivot, col]]
        for r in range(n):
            if r != col and a[r, col]:
                a[r] ^= a[col]
    return a[:, n:]


def _mask(qubits: Sequence[int] | np.ndarray) -> int:
    return sum(1 << int(q) for q in qubits)


def _ladders(n: int, mapping: str) -> list[dict[Term, complex]]:
    """``a†_j`` for each mode as a Pauli sum: ½ X_U (X_j Z_P − i Y_j Z_ρ) (Seeley et al.)."""
    beta = _encoding(n, mapping)
    inv = _inverse_mod2(beta)
    parity = np.tril(np.ones((n, n), dtype=np.int64), -1)  # Σ_{k<j} n_k
    pset = (parity @ inv) % 2
    out = []
    for j in range(n):
        update = [i for i in range(n) if i != j and beta[i, j]]
        par = [i for i in range(n) if pset[j, i]]
        flip = {i for i in range(n) if i != j and inv[j, i]}
        rho = [i for i in par if i not in flip]
        xu, bit = _mask(update), 1 << j
        out.append({(xu | bit, _mask(par)): 0.5, (xu | bit, bit | _mask(rho)): -0.5j})
    return out


def _times(a: dict[Term, complex], b: dict[Term, complex]) -> dict[Term, complex]:
    out: dict[Term, complex] = {}
    for (x1, z1), c1 in a.items():
        for (x2, z2), c2 in b.items():
            x, z = x1 ^ x2, z1 ^ z2
            # letter(x, z) = i^{x·z} X^x Z^z; Z^{z1} X^{x2} = (−1)^{z1·x2} X^{x2} Z^{z1}.
            k = ((x1 & z1).bit_count() + (x2 & z2).bit_count() + 2 * (z1 & x2).bit_count()
                 - (x & z).bit_count()) % 4
            out[(x, z)] = out.get((x, z), 0) + c1 * c2 * 1j**k
    return out


def _adjoint(a: dict[Term, complex]) -> dict[Term, complex]:
    return {t: c.conjugate() for t, c in a.items()}


def _add(total: dict[Term, complex], part: dict[Term, complex], scale: complex) -> None:
    for t, c in part.items():
        total[t] = total.get(t, 0) + scale * c


def _fermion_hamiltonian(core: float, h1: np.ndarray, eri: np.ndarray, mapping: str,
                         tol: float) -> dict[Term, complex]:
    n = 2 * h1.shape[0]
    up = _ladders(n, mapping)
    down = [_adjoint(a) for a in up]
    one = {(p, q): _times(up[p], down[q]) for p in range(n) for q in range(n)}
    total: dict[Term, complex] = {(0, 0): core}
    for p, q in itertools.product(range(n), repeat=2):
        if p % 2 == q % 2 and abs(h1[p // 2, q // 2]) > tol:
            _add(total, one[(p, q)], h1[p // 2, q // 2])
    # ½ Σ (pq|rs) a†_p a†_r a_s a_q, spins σ(p) = σ(q), σ(r) = σ(s).
    for p, q, r, s in itertools.product(range(n), repeat=4):
        v = eri[p // 2, q // 2, r // 2, s // 2]
        if p % 2 != q % 2 or r % 2 != s % 2 or p == r or q == s or abs(v) <= tol:
            continue
        left = _times(up[p], up[r])
        _add(total, _times(left, _times(down[s], down[q])), 0.5 * v)
    return total


def qubit_terms(
    symbols: Sequence[str], coordinates: object, basis: str = "sto-3g", *, charge: int = 0,
    mult: int = 1, active_electrons: int | None = None, active_orbitals: int | None = None,
    mapping: str = "jordan_wigner", unit: str = "angstrom", tol: float = 1e-10,
) -> dict[str, float]:
    """The qubit Hamiltonian as ``{"X0 Y1 ...": coefficient}`` (``""``: the constant).

    Arguments as :func:`molecular_hamiltonian`; ``tol`` drops smaller coefficients.

    >>> terms = qubit_terms(["H", "H"], [[0, 0, 0], [0, 0, 0.7]])  # doctest: +SKIP
    >>> round(terms["Z0"], 6)  # doctest: +SKIP
    0.177713
    """
    return _qubit_hamiltonian(symbols, coordinates, basis, charge, mult, active_electrons,
                              active_orbitals, mapping, unit, tol)[0]


def _qubit_hamiltonian(symbols: Sequence[str], coordinates: object, basis: str, charge: int,
                       mult: int, active_electrons: int | None, active_orbitals: int | None,
                       mapping: str, unit: str, tol: float) -> tuple[dict[str, float], int]:
    _encoding(1, mapping)  # an unknown mapping fails before any integrals are computed
    mf = _mean_field(symbols, coordinates, basis, charge, mult, unit)
    ne, no = _active(mf, active_electrons, active_orbitals)
    core, h1, eri = _integrals(mf, ne, no)
    out = {}
    for (x, z), c in _fermion_hamiltonian(core, h1, eri, mapping, tol).items():
        if abs(c) > tol:
            if abs(c.imag) > 1e-8:  # a Hermitian operator: only rounding may be imaginary
                raise QDLError(f"internal: complex coefficient {c} in the qubit Hamiltonian")
            out[_word(x, z, 2 * no)] = float(c.real)
    return out, 2 * no


def _word(x: int, z: int, n: int) -> str:
    letters = {(1, 0): "X", (1, 1): "Y", (0, 1): "Z"}
    return " ".join(f"{letters[(x >> q) & 1, (z >> q) & 1]}{q}" for q in range(n)
                    if (x >> q) & 1 or (z >> q) & 1)


def molecular_hamiltonian(
    symbols: Sequence[str], coordinates: object, basis: str = "sto-3g", *, charge: int = 0,
    mult: int = 1, active_electrons: int | None = None, active_orbitals: int | None = None,
    mapping: str = "jordan_wigner", unit: str = "angstrom",
) -> tuple[str, int]:
    """The qubit Hamiltonian of a molecule, as an observable string for :func:`qdl.expval`.

    Args:
        symbols: element symbols, e.g. ``["H", "H"]``.
        coordinates: ``(atoms, 3)`` or flat positions, in ``unit`` (Å by default;
            PennyLane's ``qml.qchem`` takes Bohr: pass ``unit="bohr"`` to compare).
        basis: a PySCF basis name.
        charge, mult: net charge and spin multiplicity.
        active_electrons, active_orbitals: the active space (default: all); the remaining
            (electrons − active electrons)/2 lowest orbitals are a frozen core.
        mapping: ``"jordan_wigner"``, ``"parity"`` or ``"bravyi_kitaev"``.
        unit: ``"angstrom"`` or ``"bohr"``.

    Returns:
        ``(observable, n_qubits)`` with ``n_qubits = 2 · active orbitals``.

    Raises:
        QDLError: without PySCF (naming the ``chem`` extra), for an active space that does
            not fit, an unknown mapping, or a geometry PySCF refuses.

    >>> h, n = molecular_hamiltonian(["H", "H"], [[0, 0, 0], [0, 0, 0.7]])  # doctest: +SKIP
    >>> n  # doctest: +SKIP
    4
    """
    terms, n = _qubit_hamiltonian(symbols, coordinates, basis, charge, mult, active_electrons,
                                  active_orbitals, mapping, unit, 1e-10)
    text = " + ".join(f"{c!r} {w}".strip() for w, c in terms.items())
    return text or "0.0", n


def fci_energy(
    symbols: Sequence[str], coordinates: object, basis: str = "sto-3g", *, charge: int = 0,
    mult: int = 1, active_electrons: int | None = None, active_orbitals: int | None = None,
    unit: str = "angstrom",
) -> float:
    """PySCF's full-CI energy of the active space (CASCI), the reference for VQE.

    >>> round(fci_energy(["H", "H"], [[0, 0, 0], [0, 0, 0.7414]]), 6)  # doctest: +SKIP
    -1.137284
    """
    _, _, mcscf, _ = _pyscf()
    mf = _mean_field(symbols, coordinates, basis, charge, mult, unit)
    ne, no = _active(mf, active_electrons, active_orbitals)
    cas = mcscf.CASCI(mf, no, ne)
    cas.verbose = 0
    return float(cas.kernel()[0])


# --------------------------------------------------------------------------------------------
# States and ansätze (excitation gates act in the Jordan–Wigner encoding)
# --------------------------------------------------------------------------------------------


def hartree_fock_state(electrons: int, qubits: int, mapping: str = "jordan_wigner"
                       ) -> list[int]:
    """The Hartree–Fock basis state: the lowest ``electrons`` spin orbitals filled, encoded.

    >>> hartree_fock_state(2, 4)
    [1, 1, 0, 0]
    >>> hartree_fock_state(2, 4, "parity")
    [1, 0, 0, 0]
    """
    if not 0 <= electrons <= qubits:
        raise QDLError(f"hartree_fock_state: {electrons} electrons do not fit {qubits} qubits")
    occupation = np.array([1] * electrons + [0] * (qubits - electrons), dtype=np.int64)
    return [int(b) for b in (_encoding(qubits, mapping) @ occupation) % 2]


def excitations(electrons: int, qubits: int) -> tuple[list[list[int]], list[list[int]]]:
    """Spin-conserving single and double excitations from the Hartree–Fock state.

    Same enumeration as PennyLane's ``qml.qchem.excitations(..., delta_sz=0)``: singles
    ``[occupied, virtual]``, doubles ``[occ1, occ2, virt1, virt2]``.

    >>> excitations(2, 4)
    ([[0, 2], [1, 3]], [[0, 1, 2, 3]])
    """
    occ, virt = range(electrons), range(electrons, qubits)
    singles = [[r, p] for r in occ for p in virt if r % 2 == p % 2]
    doubles = [[s, r, q, p] for s in occ for r in occ if r > s for q in virt for p in virt
               if p > q and (s % 2 + r % 2) == (q % 2 + p % 2)]
    return singles, doubles


def uccsd(electrons: int, qubits: int, prefix: str = "t") -> Circuit:
    """UCCSD ansatz (Jordan–Wigner): Hartree–Fock, then a double excitation gate per double
    and a single excitation gate per single, parameters ``t0, t1, ...`` (doubles first).

    This is PennyLane's ``AllSinglesDoubles`` form, which reaches the full-CI energy of small
    molecules (H2, LiH and BeH2 in small active spaces).

    >>> c = uccsd(2, 4)
    >>> [op.name for op in c.ops], c.parameters
    (['x', 'x', 'double_excitation', 'single_excitation', 'single_excitation'], ('t0', 't1', 't2'))
    """
    singles, doubles = excitations(electrons, qubits)
    c = Circuit(qubits)
    for q, bit in enumerate(hartree_fock_state(electrons, qubits)):
        if bit:
            c.x(q)
    k = 0
    for d in doubles:
        c.double_excitation(*d, f"{prefix}{k}")
        k += 1
    for s in singles:
        c.single_excitation(*s, f"{prefix}{k}")
        k += 1
    return c


def k_upccgsd(electrons: int, qubits: int, k: int = 1, prefix: str = "t") -> Circuit:
    """k-UpCCGSD (Lee et al., JCTC 15, 311 (2019)): ``k`` layers of generalised paired
    doubles (both electrons of a spatial orbital to another) and generalised singles.

    >>> c = k_upccgsd(2, 4, k=2)
    >>> len(c.parameters)
    6
    """
    if k < 1:
        raise QDLError(f"k_upccgsd: k must be >= 1, got {k}")
    c = Circuit(qubits)
    for q, bit in enumerate(hartree_fock_state(electrons, qubits)):
        if bit:
            c.x(q)
    n_spatial, m = qubits // 2, 0
    for _ in range(k):
        for i, a in itertools.combinations(range(n_spatial), 2):
            c.double_excitation(2 * i, 2 * i + 1, 2 * a, 2 * a + 1, f"{prefix}{m}")
            m += 1
        for i, a in itertools.combinations(range(n_spatial), 2):
            for spin in (0, 1):
                c.single_excitation(2 * i + spin, 2 * a + spin, f"{prefix}{m}")
                m += 1
    return c


# --------------------------------------------------------------------------------------------
# Geometry files
# --------------------------------------------------------------------------------------------


def read_xyz(path: str | Path) -> tuple[list[str], list[list[float]]]:
    """Symbols and coordinates (Å) of an .xyz file (count line, comment line, atoms).

    Raises:
        QDLError: naming the file and line when it cannot be read.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise QDLError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        count = int(lines[0].split()[0])
    except (IndexError, ValueError):
        raise QDLError(f"{path}: line 1 must be the number of atoms") from None
    symbols, coords = [], []
    for i, line in enumerate(lines[2:2 + count], start=3):
        parts = line.split()
        try:
            symbols.append(parts[0].capitalize())
            coords.append([float(v) for v in parts[1:4]])
            if len(coords[-1]) != 3 or not all(map(math.isfinite, coords[-1])):
                raise ValueError
        except (IndexError, ValueError):
            raise QDLError(f"{path}: line {i}: expected 'Symbol x y z', got {line!r}") from None
    if len(symbols) != count:
        raise QDLError(f"{path}: {count} atoms announced, {len(symbols)} found")
    return symbols, coords


# --------------------------------------------------------------------------------------------
# VQE
# --------------------------------------------------------------------------------------------

ANSATZE = ("uccsd", "k-upccgsd")


def vqe(
    symbols: Sequence[str], coordinates: object, basis: str = "sto-3g", *, charge: int = 0,
    active_electrons: int | None = None, active_orbitals: int | None = None,
    ansatz: str = "uccsd", k: int = 2, steps: int = 30, tol: float = 1e-9,
    on_step: Any = None,
) -> dict[str, Any]:
    """Ground-state energy by VQE (Jordan–Wigner, exact expectation values, L-BFGS).

    ``on_step(step, energy)`` is called after each L-BFGS iteration (progress bars).

    Returns:
        ``{"energy", "fci", "hf", "n_qubits", "parameters", "history"}`` in Hartree.

    >>> out = vqe(["H", "H"], [[0, 0, 0], [0, 0, 0.7414]])  # doctest: +SKIP
    >>> abs(out["energy"] - out["fci"]) < 1e-6  # doctest: +SKIP
    True
    """
    import torch

    from qdl.grad import expval

    if ansatz not in ANSATZE:
        raise QDLError(f"ansatz must be one of {', '.join(ANSATZE)}, got {ansatz!r}")
    kw = {"charge": charge, "active_electrons": active_electrons,
          "active_orbitals": active_orbitals}
    h, n = molecular_hamiltonian(symbols, coordinates, basis, **kw)
    mf = _mean_field(symbols, coordinates, basis, charge, 1, "angstrom")
    ne, _ = _active(mf, active_electrons, active_orbitals)
    circuit = uccsd(ne, n) if ansatz == "uccsd" else k_upccgsd(ne, n, k)
    w = torch.zeros(len(circuit.parameters), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=1, line_search_fn="strong_wolfe")

    def energy() -> torch.Tensor:
        env = dict(zip(circuit.parameters, w, strict=True))
        return expval(circuit, [h], env, dtype=torch.complex128).sum()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        e = energy()
        e.backward()
        return e

    hf = float(energy().detach())
    history = [hf]
    # No excitations (a full or one-orbital active space): the Hartree–Fock state is exact.
    for step in range(steps if circuit.parameters else 0):
        opt.step(closure)
        history.append(float(energy().detach()))
        if on_step is not None:
            on_step(step + 1, history[-1])
        if abs(history[-2] - history[-1]) < tol:
            break
    return {"energy": history[-1], "fci": fci_energy(symbols, coordinates, basis, **kw),
            "hf": hf, "n_qubits": n, "parameters": w.detach().tolist(), "history": history}
