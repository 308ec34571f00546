"""`qdl dissociation` against PySCF's full CI computed here, its plot, and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qdl.cli import main

pytest.importorskip("pyscf")
pytest.importorskip("matplotlib")
chem = pytest.importorskip("qdl.chem")


def _fci(atoms: list[tuple[str, tuple[float, float, float]]], cas: tuple[int, int] | None = None
         ) -> float:
    """PySCF RHF then full CI (or CASCI of ``(orbitals, electrons)``), STO-3G, in Å."""
    from pyscf import fci, gto, mcscf, scf

    mol = gto.M(atom=atoms, basis="sto-3g", unit="angstrom", verbose=0)
    mf = scf.RHF(mol).run()
    if cas is None:
        return float(fci.FCI(mf).kernel()[0])
    solver = mcscf.CASCI(mf, *cas)
    solver.verbose = 0
    return float(solver.kernel()[0])


def test_h2_curve_matches_fci_and_writes_the_plot(tmp_path, capsys):
    """Three H2 bond lengths: the printed VQE and FCI columns are PySCF's FCI within 1 mHa."""
    plot = tmp_path / "h2.png"
    assert main(["dissociation", "H2", "--start", "0.6", "--stop", "1.8", "--points", "3",
                 "-o", str(plot)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line[:1] == " " or
            line[:1].isdigit()]
    assert [float(r[0]) for r in rows] == [0.6, 1.2, 1.8]
    for bond, _hf, vqe, fci, _diff in ([float(v) for v in r] for r in rows):
        ref = _fci([("H", (0, 0, 0)), ("H", (0, 0, bond))])
        assert fci == pytest.approx(ref, abs=2e-8)  # printed with 8 decimals
        assert vqe == pytest.approx(ref, abs=1e-3)
    assert f"plot: {plot}" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_rows_and_symmetric_stretch(tmp_path, capsys):
    """BeH2 (2e, 2o): both H move, so each point equals CASCI at the symmetric geometry."""
    plot = tmp_path / "beh2.svg"
    assert main(["dissociation", "BeH2", "--start", "1.2", "--stop", "1.6", "--points", "2",
                 "--active-electrons", "2", "--active-orbitals", "2", "--json",
                 "-o", str(plot)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["bond"] for r in rows] == [1.2, 1.6]
    for row in rows:
        r = row["bond"]
        ref = _fci([("Be", (0, 0, 0)), ("H", (0, 0, r)), ("H", (0, 0, -r))], cas=(2, 2))
        assert row["fci"] == pytest.approx(ref, abs=1e-8)
        assert row["vqe"] == pytest.approx(ref, abs=1e-3)
        assert row["hf"] >= row["vqe"] - 1e-9  # variational: VQE never below HF's start
    assert plot.read_text().lstrip().startswith("<?xml")


def test_stretch_moves_only_the_scanned_bond():
    """An .xyz water: both O–H bonds (equal length) scale; a third, unequal atom stays put."""
    from qdl.cli.vqe import stretched

    water = [[0.0, 0.0, 0.0], [0.0, 0.757, 0.587], [0.0, -0.757, 0.587], [3.0, 0.0, 0.0]]
    geo = stretched(water, 1.5)
    lengths = np.linalg.norm(geo - geo[0], axis=1)
    np.testing.assert_allclose(lengths[1:3], 1.5)
    np.testing.assert_allclose(geo[3], water[3])
    # Directions are kept: the H–O–H angle is unchanged.
    cos = np.dot(geo[1], geo[2]) / 1.5**2
    assert cos == pytest.approx(np.dot(water[1], water[2]) / np.dot(water[1], water[1]))


@pytest.mark.parametrize(("args", "message"), [
    (["XeF6"], "unknown molecule 'XeF6'"),
    (["H2", "--start", "2.0", "--stop", "1.0"], "0 < --start < --stop"),
    (["H2", "--start", "0", "--stop", "1.0"], "0 < --start < --stop"),
    (["H2", "--stop", "inf"], "finite"),
    (["H2", "--points", "1"], "--points must be between 2"),
    (["H2", "--points", "100000"], "--points must be between 2"),
    (["H2", "--steps", "0"], "--steps must be at least 1"),
    (["H2", "-o", "NODIR/curve.png"], "no such directory"),
    (["H2", "-o", "curve.xyz"], "file name must end in one of"),
    (["H2", "-o", "."], "file name must end in one of"),
])
def test_bad_input_is_one_line_before_any_vqe(args, message, tmp_path, monkeypatch, capsys):
    """Each mistake: exit 2, one `qdl: error:` line naming it, and no VQE run started."""
    def no_vqe(*a, **k):
        raise AssertionError("a VQE ran before the input was checked")

    monkeypatch.setattr(chem, "vqe", no_vqe)
    monkeypatch.chdir(tmp_path)
    assert main(["dissociation", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qdl: error: ") and message in err


def test_atoms_on_top_of_each_other_are_one_line(tmp_path, capsys):
    """An .xyz file with two atoms at one position is refused (no traceback, exit 2)."""
    xyz = tmp_path / "bad.xyz"
    xyz.write_text("2\nsame place\nH 0 0 0\nH 0 0 0\n")
    assert main(["dissociation", str(xyz), "--points", "2", "-o",
                 str(tmp_path / "c.png")]) == 2
    assert "same position" in capsys.readouterr().err


def test_vqe_without_excitations_is_hartree_fock(capsys):
    """Two electrons in one active orbital: no parameters, VQE = HF = CASCI (no crash)."""
    assert main(["vqe", "H2", "--active-orbitals", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["parameters"] == [] and out["energy"] == pytest.approx(out["fci"], abs=1e-10)


def test_formaldehyde_fragment_example(capsys):
    """docs/chemistry.md's fragment: formaldehyde (4e, 4o) VQE within 1 mHa of PySCF CASCI."""
    from pathlib import Path

    xyz = Path(__file__).resolve().parents[2] / "examples" / "chem" / "formaldehyde.xyz"
    assert main(["vqe", str(xyz), "--active-electrons", "4", "--active-orbitals", "4",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    symbols, coords = chem.read_xyz(xyz)
    ref = _fci(list(zip(symbols, map(tuple, coords), strict=True)), cas=(4, 4))
    assert out["n_qubits"] == 8 and out["fci"] == pytest.approx(ref, abs=1e-8)
    assert abs(out["energy"] - ref) < 1e-3 and out["energy"] < out["hf"] - 0.05
