"""Quantum-chemistry features: values vs PySCF run here, the cache, the size cap, the wiring."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from qdl import QDLError
from qdl.cli import main

pytest.importorskip("pyscf")
pytest.importorskip("rdkit")
pytest.importorskip("pandas")
qchem = pytest.importorskip("qdl.data.qchem")


def _reference(smiles: str) -> dict[str, float]:
    """Conventional (not density-fitted) RHF/STO-3G at an ETKDG v3 + MMFF geometry, seed 0."""
    from pyscf import gto, scf
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = 0
    assert AllChem.EmbedMolecule(mol, params) == 0
    AllChem.MMFFOptimizeMolecule(mol, maxIters=500)
    xyz = mol.GetConformer().GetPositions()
    atoms = [(a.GetSymbol(), tuple(p)) for a, p in zip(mol.GetAtoms(), xyz, strict=True)]
    m = gto.M(atom=atoms, basis="sto-3g", charge=Chem.GetFormalCharge(mol), verbose=0)
    mf = scf.RHF(m).run()
    nocc = m.nelectron // 2
    # Dipole about the centre of nuclear charge, by hand: nuclei minus electrons.
    z = m.atom_charges()
    centre = z @ m.atom_coords() / z.sum()
    with m.with_common_origin(centre):
        r = m.intor_symmetric("int1e_r", comp=3)
    electronic = np.einsum("xij,ji->x", r, mf.make_rdm1())
    nuclear = z @ (m.atom_coords() - centre)
    debye = 2.541746473
    q = mf.mulliken_pop(verbose=0)[1]
    return {"qm_energy": mf.e_tot, "qm_homo": mf.mo_energy[nocc - 1],
            "qm_lumo": mf.mo_energy[nocc], "qm_dipole": np.linalg.norm(nuclear - electronic)
            * debye, "qm_charge_max": q.max(), "qm_charge_min": q.min(),
            "qm_charge_sum": q.sum()}


@pytest.mark.parametrize("smiles", ["O", "[NH4+]"])
def test_features_match_pyscf_run_directly(smiles, tmp_path):
    """Water and ammonium: energies, HOMO/LUMO, dipole and charges vs a conventional RHF."""
    got = qchem.qchem_features([smiles], cache=tmp_path).iloc[0]
    ref = _reference(smiles)
    # Density fitting shifts the total energy by ~1e-4 Ha here, orbital energies by ~1e-5.
    assert got["qm_energy"] == pytest.approx(ref["qm_energy"], abs=1e-3)
    assert got["qm_homo"] == pytest.approx(ref["qm_homo"], abs=2e-4)
    assert got["qm_lumo"] == pytest.approx(ref["qm_lumo"], abs=2e-4)
    assert got["qm_gap"] == pytest.approx(ref["qm_lumo"] - ref["qm_homo"], abs=4e-4)
    assert got["qm_dipole"] == pytest.approx(ref["qm_dipole"], abs=1e-2)
    assert got["qm_charge_max"] == pytest.approx(ref["qm_charge_max"], abs=2e-3)
    assert got["qm_charge_min"] == pytest.approx(ref["qm_charge_min"], abs=2e-3)
    # Mulliken charges add up to the molecule's charge (0, +1).
    assert ref["qm_charge_sum"] == pytest.approx(0 if smiles == "O" else 1, abs=1e-8)


def test_known_values_of_water():
    """Water's STO-3G frontier orbitals are in the textbook range (HOMO ≈ −0.39 Ha, LUMO ≈ 0.6)."""
    ref = _reference("O")
    assert -0.45 < ref["qm_homo"] < -0.35 and 0.5 < ref["qm_lumo"] < 0.7
    assert 1.4 < ref["qm_dipole"] < 2.0  # STO-3G water: ~1.7 D (experiment 1.85 D)


def _no_hf(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a Hartree-Fock calculation ran")
    monkeypatch.setattr(qchem, "_hartree_fock", refuse)


def test_cache_hit_canonical_key_and_salts(tmp_path, monkeypatch):
    """A second call reads the cache (no HF); OCC, CCO and a sodium salt of it share one file."""
    first = qchem.qchem_features(["CCO"], cache=tmp_path)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"
    record = json.loads(files[0].read_text())
    assert record["smiles"] == "CCO" and record["method"] == qchem.METHOD
    _no_hf(monkeypatch)
    again = qchem.qchem_features(["OCC", "CCO.[Na+]"], cache=tmp_path)
    assert np.array_equal(again.iloc[0].to_numpy(), first.iloc[0].to_numpy())
    assert np.array_equal(again.iloc[1].to_numpy(), first.iloc[0].to_numpy())
    assert list(tmp_path.iterdir()) == files  # no temporary files left behind


@pytest.mark.parametrize("damage", ["{not json", json.dumps({"smiles": "C", "features": []}),
                                    ""])
def test_damaged_cache_is_recomputed_and_replaced(damage, tmp_path):
    """A truncated, foreign or empty cache file is a miss: recomputed, rewritten, warned."""
    first = qchem.qchem_features(["N"], cache=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_text(damage)
    with pytest.warns(qchem.QDLWarning, match="1 damaged or foreign file"):
        again = qchem.qchem_features(["N"], cache=tmp_path)
    np.testing.assert_allclose(again.to_numpy(), first.to_numpy(), atol=1e-8)
    assert json.loads(path.read_text())["smiles"] == "N"


def test_unwritable_cache_warns_and_still_computes(tmp_path):
    """A cache 'folder' that is a file: the features come back, one warning says why."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.warns(qchem.QDLWarning, match="cannot write the quantum-chemistry cache"):
        out = qchem.qchem_features(["C"], cache=blocker)
    assert np.isfinite(out.to_numpy()).all()


def test_size_cap_and_failures_are_nan_with_one_warning(tmp_path, monkeypatch):
    """Too large (checked before any HF), unreadable and open-shell molecules: NaN rows, reasons."""
    _no_hf(monkeypatch)
    big = "C" * 12
    with pytest.warns(qchem.QDLWarning) as record:
        out = qchem.qchem_features([big, "not a smiles", "[CH3]"], cache=tmp_path,
                                   max_heavy_atoms=11)
    assert out.isna().all().all() and out.shape == (3, len(qchem.QCHEM_FEATURES))
    (message,) = [str(w.message) for w in record]
    assert message.startswith("3 of 3 molecules have no quantum-chemistry features")
    assert "more than 11 heavy atoms (the size cap)" in message
    assert "RDKit cannot read" in message and "open shell" in message
    with pytest.raises(QDLError, match="max_heavy_atoms must be a positive integer"):
        qchem.qchem_features(["C"], max_heavy_atoms=0)


def _fake_hf(pyscf, symbols, xyz, charge):
    """Stand-in for the HF: numbers that identify the molecule (atom count, hydrogens)."""
    n, h = len(symbols), symbols.count("H")
    return [float(n), float(h), float(charge), 1.0, 2.0, 3.0, 4.0, 5.0]


def test_feature_sets_through_the_registry_and_runner(tmp_path, monkeypatch):
    """chembl-pic50, 4 rows: `both` = descriptors + qchem of each row's own molecule."""
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    pytest.importorskip("pydantic")
    from qdl.app.config import validate
    from qdl.app.runner import load_table

    monkeypatch.setenv("QDL_CACHE", str(tmp_path))
    monkeypatch.setattr(qchem, "_hartree_fock", _fake_hf)
    monkeypatch.setattr(qchem, "MAX_HEAVY_ATOMS", 100)  # the fake HF costs nothing
    cfg = {"data": {"name": "chembl-pic50", "max_samples": 4}}
    plain = load_table(validate(cfg))
    both = load_table(validate({"data": {**cfg["data"], "features": "both"}}))
    only = load_table(validate({"data": {**cfg["data"], "features": "qchem"}}))
    assert both.features == [*plain.features, *qchem.QCHEM_FEATURES]
    assert only.features == list(qchem.QCHEM_FEATURES)
    assert both.frame[both.target].equals(plain.frame[plain.target])
    for i, smiles in enumerate(both.smiles):
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        assert both.frame["MolWt"][i] == pytest.approx(Descriptors.MolWt(Chem.RemoveHs(mol)))
        assert both.frame["qm_energy"][i] == mol.GetNumAtoms()
        assert both.frame["qm_homo"][i] == sum(a.GetSymbol() == "H" for a in mol.GetAtoms())
        assert only.frame["qm_energy"][i] == both.frame["qm_energy"][i]


def test_cli_features_flag(tmp_path, monkeypatch, capsys, one_torch_thread):
    """`qdl train --features both` trains on 14 columns; on iris it is one error line, exit 2."""
    pytest.importorskip("pydantic")
    monkeypatch.setenv("QDL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(qchem, "_hartree_fock", _fake_hf)
    monkeypatch.setattr(qchem, "MAX_HEAVY_ATOMS", 100)
    run = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant fake columns: standardisation may warn
        assert main(["train", "--dataset", "chembl-pic50", "--features", "both",
                     "--max-samples", "12", "--model", "logistic", "--epochs", "1",
                     "-o", str(run), "-q"]) == 0
    assert "features: both" in (run / "config.yaml").read_text()
    capsys.readouterr()
    assert main(["train", "--dataset", "iris", "--features", "qchem", "--epochs", "1",
                 "-o", str(tmp_path / "iris"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a molecule dataset" in err
