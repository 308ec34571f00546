"""qdl.chem against PennyLane's published H2 Hamiltonian and PySCF's full CI."""

from __future__ import annotations

import helpers as ref
import numpy as np
import pytest
import torch

import qdl
from qdl import QDLError

pytest.importorskip("pyscf")
chem = pytest.importorskip("qdl.chem")

H2_BOHR = [[0.0, 0.0, -0.66140414], [0.0, 0.0, 0.66140414]]
# PennyLane's qml.qchem.molecular_hamiltonian docstring (H2, STO-3G, the geometry above).
PENNYLANE_H2 = {
    "": -0.04207897647782188, "Z0": 0.17771287465139934, "Z1": 0.1777128746513993,
    "Z2": -0.24274280513140484, "Z3": -0.24274280513140484, "Z0 Z1": 0.17059738328801055,
    "Y0 X1 X2 Y3": 0.04475014401535161, "Y0 Y1 X2 X3": -0.04475014401535161,
    "X0 X1 Y2 Y3": -0.04475014401535161, "X0 Y1 Y2 X3": 0.04475014401535161,
    "Z0 Z2": 0.12293305056183801, "Z0 Z3": 0.1676831945771896, "Z1 Z2": 0.1676831945771896,
    "Z1 Z3": 0.12293305056183801, "Z2 Z3": 0.176276408043196,
}


def _matrix(terms: dict[str, float], n: int) -> np.ndarray:
    """Dense operator of {"X0 Z2": c} terms with numpy Kronecker products."""
    parsed = [(c, {int(p[1:]): p[0] for p in w.split()}) for w, c in terms.items()]
    return ref.pauli_operator(parsed, n)


def _sector_ground(h: np.ndarray, n: int, electrons: int) -> float:
    """Lowest eigenvalue among Jordan–Wigner basis states with ``electrons`` ones."""
    keep = [i for i in range(2**n) if bin(i).count("1") == electrons]
    return float(np.linalg.eigvalsh(h[np.ix_(keep, keep)])[0])


@pytest.fixture(scope="module")
def h2_terms() -> dict[str, float]:
    """H2 at PennyLane's geometry, Jordan–Wigner."""
    return chem.qubit_terms(["H", "H"], H2_BOHR, unit="bohr")


def test_h2_equals_pennylane_term_by_term(h2_terms):
    """Same Pauli words and coefficients as PennyLane's documented H2 Hamiltonian."""
    assert set(h2_terms) == set(PENNYLANE_H2)
    for word, c in PENNYLANE_H2.items():
        assert h2_terms[word] == pytest.approx(c, abs=1e-8), word


@pytest.mark.parametrize("mapping", ["jordan_wigner", "parity", "bravyi_kitaev"])
def test_mappings_give_fci(mapping, h2_terms):
    """Every mapping's qubit Hamiltonian has the Jordan–Wigner spectrum; its ground = PySCF FCI."""
    terms = chem.qubit_terms(["H", "H"], H2_BOHR, unit="bohr", mapping=mapping)
    spectrum = np.linalg.eigvalsh(_matrix(terms, 4))
    np.testing.assert_allclose(spectrum, np.linalg.eigvalsh(_matrix(h2_terms, 4)), atol=1e-10)
    fci = chem.fci_energy(["H", "H"], H2_BOHR, unit="bohr")
    assert _sector_ground(_matrix(h2_terms, 4), 4, 2) == pytest.approx(fci, abs=1e-8)


def test_lih_active_space_exact_diagonalisation_equals_fci():
    """LiH, 2 electrons in 3 orbitals (6 qubits): sector ground state = PySCF CASCI."""
    geo = chem.MOLECULES["LiH"][1]
    kw = {"active_electrons": 2, "active_orbitals": 3}
    terms = chem.qubit_terms(["Li", "H"], geo, **kw)
    e = _sector_ground(_matrix(terms, 6), 6, 2)
    assert e == pytest.approx(chem.fci_energy(["Li", "H"], geo, **kw), abs=1e-8)


def test_h2_uccsd_vqe_reaches_fci():
    """UCCSD from excitation gates, minimised with L-BFGS: within 1e-6 Ha of FCI (0.7414 Å)."""
    symbols, geo = chem.MOLECULES["H2"]
    h, n = chem.molecular_hamiltonian(symbols, geo)
    c = chem.uccsd(2, n)
    w = torch.zeros(len(c.parameters), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=50, line_search_fn="strong_wolfe")

    def energy() -> torch.Tensor:
        return qdl.expval(c, [h], dict(zip(c.parameters, w, strict=True)),
                          dtype=torch.complex128).sum()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        e = energy()
        e.backward()
        return e

    opt.step(closure)
    assert energy().item() == pytest.approx(chem.fci_energy(symbols, geo), abs=1e-6)


def test_hartree_fock_state_energy_is_pyscf_hf():
    """<HF|H|HF> (Bravyi–Kitaev encoded state) equals PySCF's RHF energy."""
    from pyscf import gto, scf

    h, n = chem.molecular_hamiltonian(["H", "H"], H2_BOHR, unit="bohr", mapping="bravyi_kitaev")
    c = qdl.Circuit(n)
    for q, b in enumerate(chem.hartree_fock_state(2, n, "bravyi_kitaev")):
        if b:
            c.x(q)
    mol = gto.M(atom=[("H", p) for p in H2_BOHR], unit="bohr", basis="sto-3g", verbose=0)
    e_hf = scf.RHF(mol).kernel()
    assert qdl.expval(c, [h], dtype=torch.complex128).item() == pytest.approx(e_hf, abs=1e-8)


def test_ansatz_shapes_and_excitations():
    """PennyLane's excitation lists for 2 electrons in 6 qubits; k-UpCCGSD parameter count."""
    singles, doubles = chem.excitations(2, 6)
    assert singles == [[0, 2], [0, 4], [1, 3], [1, 5]]
    assert doubles == [[0, 1, 2, 3], [0, 1, 2, 5], [0, 1, 3, 4], [0, 1, 4, 5]]
    assert len(chem.k_upccgsd(2, 6, k=2).parameters) == 2 * (3 + 6)


def test_errors_are_one_line():
    """Bad active spaces, mappings and .xyz files are QDLErrors."""
    with pytest.raises(QDLError, match="active space"):
        chem.qubit_terms(["H", "H"], H2_BOHR, active_electrons=4)
    with pytest.raises(QDLError, match="mapping"):
        chem.qubit_terms(["H", "H"], H2_BOHR, mapping="bk")
    with pytest.raises(QDLError, match="cannot read"):
        chem.read_xyz("/no/such/file.xyz")


def test_docs_examples_run():
    """The python blocks of docs/chemistry.md run in order."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "chemistry.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/chemistry.md", "exec"), namespace)
    assert round(namespace["fci"], 9) == -1.136189454  # the H2 value at 0.70 Å


def test_vqe_command(tmp_path, capsys):
    """`qdl vqe` on an .xyz file prints VQE within 1e-6 Ha of FCI; bad input exits 2."""
    from qdl.cli import main

    xyz = tmp_path / "h2.xyz"
    xyz.write_text("2\nhydrogen\nH 0 0 0\nH 0 0 0.7414\n")
    assert main(["vqe", str(xyz), "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert abs(out["energy"] - out["fci"]) < 1e-6
    assert main(["vqe", "XeF6"]) == 2
    assert "unknown molecule" in capsys.readouterr().err
