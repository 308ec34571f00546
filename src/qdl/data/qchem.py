"""Quantum-chemistry features of molecules: a minimal-basis Hartree–Fock per SMILES.

For each molecule (the largest fragment of a salt): RDKit adds hydrogens, embeds a 3D
geometry (ETKDG v3, seed 0) and relaxes it with MMFF94; PySCF runs restricted Hartree–Fock
in STO-3G (density-fitted Coulomb and exchange) at that geometry, with the formal charge of
the SMILES. Eight numbers per molecule, :data:`QCHEM_FEATURES`:

* ``qm_energy`` — total HF energy (Ha); ``qm_homo``, ``qm_lumo``, ``qm_gap`` — frontier
  orbital energies and their difference (Ha);
* ``qm_dipole`` — dipole moment (Debye), about the centre of nuclear charge (so charged
  molecules get the same value wherever RDKit put them);
* ``qm_charge_max``, ``qm_charge_min``, ``qm_charge_abs_mean`` — Mulliken partial charges (e).

Each result is cached on disk (``cache_dir()/qchem``, one small JSON file per molecule,
written atomically), keyed by the canonical SMILES and :data:`METHOD`, so a dataset is
computed once. A molecule that cannot be computed — above the size cap, an open shell, an
element STO-3G lacks, no embedding, no SCF convergence — gets NaN features (the
preprocessing imputes them with training medians) and one warning summarises how many and
why. Costs (2-core machine, loaded): ~1 s for 6 heavy atoms, 4 s for 13, 20–30 s for 23.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from qdl.data.quantum import cache_dir
from qdl.data.registry import Table
from qdl.errors import QDLError, QDLWarning
from qdl.progress import progress

__all__ = ["FEATURE_SETS", "MAX_HEAVY_ATOMS", "METHOD", "QCHEM_FEATURES", "qchem_features",
           "with_qchem"]

QCHEM_FEATURES = ("qm_energy", "qm_homo", "qm_lumo", "qm_gap", "qm_dipole", "qm_charge_max",
                  "qm_charge_min", "qm_charge_abs_mean")
# Part of every cache key: change it whenever the geometry or the calculation changes.
METHOD = "rhf-df/sto-3g @ etkdgv3(seed 0)+mmff94, v1"
MAX_HEAVY_ATOMS = 30  # ~75% of B3DB; a 30-heavy-atom HF takes ~1 min on a loaded 2-core box
FEATURE_SETS = ("descriptors", "qchem", "both")
LAST_ELEMENT = 54  # Xe: PySCF's STO-3G covers H to Xe


def _modules() -> tuple[Any, Any, Any]:
    try:
        from rdkit import Chem, RDLogger
        from rdkit.Chem import AllChem
    except ImportError:
        raise QDLError('quantum-chemistry features need RDKit: pip install "qdl[data]"'
                       ) from None
    try:
        from pyscf import gto, scf
    except ImportError:
        raise QDLError('quantum-chemistry features need PySCF: pip install "qdl[chem]"'
                       ) from None
    RDLogger.DisableLog("rdApp.*")
    return Chem, AllChem, (gto, scf)


def _key_path(folder: Path, canonical: str) -> Path:
    digest = hashlib.sha256(f"{METHOD}\n{canonical}".encode()).hexdigest()[:32]
    return folder / f"{digest}.json"


def _read_cache(path: Path, canonical: str) -> dict[str, Any] | None:
    """The cached record, or ``None`` when absent, unreadable or not this molecule's."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = (isinstance(record, dict) and record.get("smiles") == canonical
          and record.get("method") == METHOD and (
              isinstance(record.get("error"), str) or (
                  isinstance(record.get("features"), list)
                  and len(record["features"]) == len(QCHEM_FEATURES)
                  and all(isinstance(v, (int, float)) for v in record["features"]))))
    return record if ok else None


def _write_cache(path: Path, record: dict[str, Any]) -> bool:
    """Write ``record`` atomically (a temporary file renamed); ``False`` if the disk refuses."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        os.replace(tmp, path)
        return True
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False


def _largest_fragment(chem: Any, mol: Any) -> Any:
    frags = chem.GetMolFrags(mol, asMols=True)
    return max(frags, key=lambda m: m.GetNumHeavyAtoms())


def _geometry(chem: Any, all_chem: Any, mol: Any) -> tuple[list[str], np.ndarray]:
    """Symbols and Å coordinates: ETKDG v3 (seed 0) then MMFF94 where MMFF knows the atoms."""
    mol = chem.AddHs(mol)
    params = all_chem.ETKDGv3()
    params.randomSeed = 0
    if all_chem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True  # ETKDG's distance-geometry start fails for some cages
        if all_chem.EmbedMolecule(mol, params) != 0:
            raise ValueError("RDKit could not embed a 3D geometry")
    if all_chem.MMFFHasAllMoleculeParams(mol):
        all_chem.MMFFOptimizeMolecule(mol, maxIters=500)
    xyz = np.array(mol.GetConformer().GetPositions(), dtype=float)
    return [a.GetSymbol() for a in mol.GetAtoms()], xyz


def _hartree_fock(pyscf: tuple[Any, Any], symbols: list[str], xyz: np.ndarray,
                  charge: int) -> list[float]:
    gto, scf = pyscf
    try:
        mol = gto.M(atom=list(zip(symbols, map(tuple, xyz), strict=True)), basis="sto-3g",
                    charge=charge, spin=0, unit="angstrom", verbose=0)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ValueError(f"PySCF refused the molecule ({str(exc).splitlines()[0]})") from None
    # The dipole of a charged molecule depends on the origin: take the nuclear-charge centre.
    z = mol.atom_charges()
    centre = z @ mol.atom_coords() / z.sum()
    mf = scf.RHF(mol).density_fit()
    mf.kernel()
    if not mf.converged:
        mf = mf.newton()  # second-order SCF rescues most oscillating DIIS runs
        mf.kernel()
        if not mf.converged:
            raise ValueError("Hartree–Fock did not converge")
    nocc = mol.nelectron // 2
    if not 0 < nocc < len(mf.mo_energy):
        raise ValueError("no HOMO or no LUMO in STO-3G (no electrons, or every orbital full)")
    homo, lumo = float(mf.mo_energy[nocc - 1]), float(mf.mo_energy[nocc])
    with mol.with_common_origin(centre):
        dipole = float(np.linalg.norm(mf.dip_moment(mol, unit="Debye", verbose=0)))
    charges = np.asarray(mf.mulliken_pop(verbose=0)[1])
    return [float(mf.e_tot), homo, lumo, lumo - homo, dipole, float(charges.max()),
            float(charges.min()), float(np.abs(charges).mean())]


def _refusal(chem: Any, mol: Any, cap: int) -> str:
    """Why a (largest-fragment) molecule is not computed, or ``""``."""
    if mol.GetNumHeavyAtoms() > cap:
        return f"more than {cap} heavy atoms (the size cap)"
    if max(a.GetAtomicNum() for a in mol.GetAtoms()) > LAST_ELEMENT:
        return "an element beyond Xe (STO-3G stops there)"
    electrons = sum(a.GetAtomicNum() + a.GetTotalNumHs() for a in mol.GetAtoms())
    if (electrons - chem.GetFormalCharge(mol)) % 2:
        return "an open shell (odd electron count; RHF needs pairs)"
    return ""


def _one(smiles: str, folder: Path, cap: int, mods: tuple[Any, Any, Any],
         stats: Counter) -> tuple[list[float] | None, str]:
    """Features of one SMILES (or ``None``) and, for ``None``, why."""
    chem, all_chem, pyscf = mods
    mol = chem.MolFromSmiles(smiles) if isinstance(smiles, str) else None
    if mol is None:
        return None, "RDKit cannot read the SMILES"
    if mol.GetNumHeavyAtoms() == 0:
        return None, "no heavy atom"
    mol = _largest_fragment(chem, mol)
    why = _refusal(chem, mol, cap)
    if why:
        return None, why
    canonical = chem.MolToSmiles(mol)
    path = _key_path(folder, canonical)
    record = _read_cache(path, canonical)
    if record is None:
        stats["computed"] += 1
        stats["corrupt"] += path.exists()
        try:
            symbols, xyz = _geometry(chem, all_chem, mol)
            record = {"features": _hartree_fock(pyscf, symbols, xyz,
                                                chem.GetFormalCharge(mol))}
        except ValueError as exc:
            record = {"error": str(exc)}
        record.update(smiles=canonical, method=METHOD)
        stats["unwritable"] += not _write_cache(path, record)
    if "error" in record:
        return None, record["error"]
    return list(record["features"]), ""


def qchem_features(smiles: Sequence[str], *, max_heavy_atoms: int | None = None,
                   cache: str | Path | None = None, label: str = "quantum chemistry") -> Any:
    """RHF/STO-3G features of each molecule (see the module docstring), one row per SMILES.

    Args:
        smiles: one SMILES per molecule; salts are reduced to their largest fragment.
        max_heavy_atoms: larger molecules are not computed (NaN row); HF costs grow with
            the fourth power of the size, and a whole B3DB would take days. Default
            :data:`MAX_HEAVY_ATOMS`.
        cache: folder of the per-molecule cache (default ``cache_dir()/qchem``).
        label: the progress display's label.

    Returns:
        A ``pandas.DataFrame`` with the columns :data:`QCHEM_FEATURES`, NaN where a molecule
        could not be computed (a :class:`~qdl.errors.QDLWarning` says how many and why).

    Raises:
        QDLError: without RDKit or PySCF (naming the extra), or for a bad size cap.

    >>> water = qchem_features(["O"])  # doctest: +SKIP
    >>> round(float(water["qm_homo"][0]), 3)  # doctest: +SKIP
    -0.391
    """
    import pandas as pd

    if max_heavy_atoms is None:
        max_heavy_atoms = MAX_HEAVY_ATOMS
    if isinstance(max_heavy_atoms, bool) or not isinstance(max_heavy_atoms, int) \
            or max_heavy_atoms < 1:
        raise QDLError(f"max_heavy_atoms must be a positive integer, got {max_heavy_atoms!r}")
    mods = _modules()
    folder = Path(cache) if cache is not None else cache_dir() / "qchem"
    rows, failures, stats = [], Counter(), Counter()
    example: dict[str, str] = {}
    with progress() as display:
        update = display.add(label, len(smiles), "molecules")
        for i, s in enumerate(smiles):
            values, why = _one(s, folder, max_heavy_atoms, mods, stats)
            rows.append(values if values is not None else [np.nan] * len(QCHEM_FEATURES))
            if values is None:
                failures[why] += 1
                example.setdefault(why, str(s))
            update(completed=i + 1, stats=f"{stats['computed']} computed")
    _warn(len(smiles), failures, example, stats, folder)
    return pd.DataFrame(rows, columns=list(QCHEM_FEATURES), dtype=float)


def _warn(total: int, failures: Counter, example: dict[str, str], stats: Counter,
          folder: Path) -> None:
    if failures:
        reasons = "; ".join(f"{n} {why} (e.g. {example[why][:40]!r})"
                            for why, n in failures.most_common())
        warnings.warn(f"{sum(failures.values())} of {total} molecules have no "
                      f"quantum-chemistry features (left empty, imputed by the "
                      f"preprocessing): {reasons}", QDLWarning, stacklevel=3)
    if stats["corrupt"]:
        warnings.warn(f"{stats['corrupt']} damaged or foreign file(s) in the quantum-chemistry "
                      f"cache {folder} were recomputed and replaced", QDLWarning, stacklevel=3)
    if stats["unwritable"]:
        warnings.warn(f"cannot write the quantum-chemistry cache {folder}: "
                      f"{stats['unwritable']} result(s) will be recomputed next time "
                      f"(set QDL_CACHE to a writable folder)", QDLWarning, stacklevel=3)


def with_qchem(table: Table, features: str) -> Table:
    """``table`` with the feature set ``features``: ``descriptors`` (as loaded), ``qchem``
    (the :data:`QCHEM_FEATURES` of its molecules instead) or ``both``.

    Raises:
        QDLError: for another name, or a table without molecules (``table.smiles``).

    >>> from qdl.data import load_dataset
    >>> with_qchem(load_dataset("iris"), "both")
    Traceback (most recent call last):
    qdl.errors.QDLError: data.features: both needs a molecule dataset ...; 'iris' has no SMILES
    """
    if features not in FEATURE_SETS:
        raise QDLError(f"data.features must be one of {', '.join(FEATURE_SETS)}, "
                       f"got {features!r}")
    if features == "descriptors":
        return table
    if table.smiles is None:
        raise QDLError(f"data.features: {features} needs a molecule dataset (bbbp, "
                       f"chembl-pic50); {table.name!r} has no SMILES")
    qm = qchem_features(table.smiles, label=f"{table.name}: quantum chemistry")
    kept = table.features if features == "both" else []
    frame = table.frame[kept].reset_index(drop=True)
    for column in QCHEM_FEATURES:
        frame[column] = qm[column].to_numpy()
    frame[table.target] = table.frame[table.target].to_numpy()
    return replace(table, frame=frame)
