"""``qdl vqe`` and ``qdl dissociation``: molecular ground states by VQE (needs ``qdl[chem]``)."""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np

from qdl.errors import QDLError
from qdl.progress import progress

MAX_POINTS = 500  # each point is a VQE run (seconds); more is a typo, not a curve


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``vqe`` and ``dissociation`` subcommands to ``sub``."""
    vqe_p = sub.add_parser("vqe", help="ground-state energy of a molecule by VQE vs full CI")
    vqe_p.add_argument("molecule", help="an .xyz file (Å) or a name: H2, LiH, BeH2")
    curve = sub.add_parser("dissociation",
                           help="VQE and FCI energies along a bond length, with a plot")
    curve.add_argument("molecule", help="a name (H2, LiH, BeH2) or an .xyz file (Å); the "
                       "distance of atom 2 from atom 1 is scanned, together with the atoms at "
                       "the same distance (BeH2's second H: a symmetric stretch)")
    curve.add_argument("--start", type=float, default=0.5, help="first bond length (Å)")
    curve.add_argument("--stop", type=float, default=2.5, help="last bond length (Å)")
    curve.add_argument("--points", type=int, default=9,
                       help=f"number of bond lengths (2 to {MAX_POINTS})")
    curve.add_argument("-o", "--output", default="dissociation.png", help="plot file")
    for p in (vqe_p, curve):
        p.add_argument("--basis", default="sto-3g")
        p.add_argument("--active-electrons", type=int)
        p.add_argument("--active-orbitals", type=int)
        p.add_argument("--ansatz", default="uccsd", choices=["uccsd", "k-upccgsd"])
        p.add_argument("--steps", type=int, default=30, help="L-BFGS iterations at most")
        p.add_argument("--json", action="store_true", help="print one JSON object")
    vqe_p.set_defaults(handler=run_vqe)
    curve.set_defaults(handler=run_dissociation)


def _molecule(name: str) -> tuple[list[str], list[list[float]]]:
    from qdl import chem

    known = {k.lower(): k for k in chem.MOLECULES}
    if name.lower() in known:
        symbols, coords = chem.MOLECULES[known[name.lower()]]
        return list(symbols), [list(map(float, c)) for c in coords]
    if Path(name).suffix.lower() == ".xyz" or Path(name).exists():
        return chem.read_xyz(name)
    raise QDLError(f"unknown molecule {name!r}: give an .xyz file or one of "
                   f"{', '.join(chem.MOLECULES)}")


def _options(args: argparse.Namespace) -> dict:
    if args.steps < 1:
        raise QDLError(f"--steps must be at least 1, got {args.steps}")
    return {"basis": args.basis, "active_electrons": args.active_electrons,
            "active_orbitals": args.active_orbitals, "ansatz": args.ansatz,
            "steps": args.steps}


def run_vqe(args: argparse.Namespace) -> None:
    """Handler of ``qdl vqe``."""
    from qdl import chem

    symbols, coords = _molecule(args.molecule)
    opts = _options(args)
    with progress() as display:
        update = display.add(f"VQE {args.molecule}", opts["steps"], "steps")
        out = chem.vqe(symbols, coords, **opts,
                       on_step=lambda k, e: update(completed=k, stats=f"E = {e:.8f} Ha"))
    if args.json:
        print(json.dumps(out))
        return
    print(f"qubits {out['n_qubits']}, parameters {len(out['parameters'])}, "
          f"iterations {len(out['history']) - 1}")
    print(f"Hartree-Fock  {out['hf']:.9f} Ha")
    print(f"VQE           {out['energy']:.9f} Ha")
    print(f"FCI           {out['fci']:.9f} Ha   (VQE - FCI = "
          f"{1000 * (out['energy'] - out['fci']):.4f} mHa)")


def run_dissociation(args: argparse.Namespace) -> None:
    """Handler of ``qdl dissociation``: scans the distance of the second atom from the first."""
    from qdl import chem

    symbols, coords = _molecule(args.molecule)
    if len(symbols) < 2:
        raise QDLError(f"{args.molecule}: a dissociation curve needs at least two atoms")
    if not 2 <= args.points <= MAX_POINTS:
        raise QDLError(f"--points must be between 2 and {MAX_POINTS}, got {args.points}")
    if not (math.isfinite(args.start) and math.isfinite(args.stop)
            and 0 < args.start < args.stop):
        raise QDLError(f"need 0 < --start < --stop (finite, in Å), got --start {args.start} "
                       f"--stop {args.stop}")
    opts = _options(args)
    # Every point costs a VQE run: refuse an unwritable plot before computing any of them.
    _check_output(args.output)
    rows = []
    lengths = np.linspace(args.start, args.stop, args.points)
    with progress() as display:
        update = display.add(f"dissociation {args.molecule}", len(lengths), "geometries")
        for i, r in enumerate(lengths):
            out = chem.vqe(symbols, stretched(coords, float(r)), **opts)
            rows.append({"bond": float(r), "vqe": out["energy"], "fci": out["fci"],
                         "hf": out["hf"]})
            update(completed=i + 1, stats=f"r = {r:.2f} Å")
    _plot(rows, args.molecule, args.output)
    if args.json:
        print(json.dumps(rows))
        return
    print("bond (Å)  HF (Ha)       VQE (Ha)      FCI (Ha)      VQE-FCI (mHa)")
    for row in rows:
        print(f"{row['bond']:7.3f}  {row['hf']:.8f}  {row['vqe']:.8f}  {row['fci']:.8f}  "
              f"{1000 * (row['vqe'] - row['fci']):10.5f}")
    print(f"plot: {args.output}")


def stretched(coords: list[list[float]], r: float) -> np.ndarray:
    """``coords`` with atom 2 at distance ``r`` from atom 1, along their bond.

    Atoms as far from atom 1 as atom 2 (within 1e-6 Å) move with it along their own bonds
    to atom 1, so symmetric molecules (BeH2, H2O) are stretched symmetrically; the others
    stay where they are.

    >>> stretched([[0, 0, 0], [0, 0, 1.3], [0, 0, -1.3]], 2.0).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, -2.0]]
    """
    base = np.asarray(coords, dtype=float)
    bonds = base - base[0]
    lengths = np.linalg.norm(bonds, axis=1)
    if lengths[1] == 0:
        raise QDLError("atoms 1 and 2 are at the same position: no bond to stretch")
    geo = base.copy()
    moving = np.flatnonzero(np.abs(lengths - lengths[1]) < 1e-6)
    geo[moving] = base[0] + bonds[moving] * (r / lengths[moving, None])
    return geo


def _check_output(path: str) -> None:
    """``QDLError`` unless matplotlib can write a plot of this file type at ``path``."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise QDLError('the plot needs matplotlib: pip install "qdl[app]"') from None
    kinds = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in kinds:
        raise QDLError(f"cannot write a plot to {path}: the file name must end in one of "
                       f"{', '.join('.' + k for k in sorted(kinds))}")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise QDLError(f"cannot write {path}: it is a directory")
    if not folder.is_dir():
        raise QDLError(f"cannot write {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise QDLError(f"cannot write {path}: permission denied")


def _plot(rows: list[dict], name: str, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise QDLError('the plot needs matplotlib: pip install "qdl[app]"') from None
    fig, ax = plt.subplots(figsize=(6, 4))
    bonds = [r["bond"] for r in rows]
    ax.plot(bonds, [r["hf"] for r in rows], "s--", label="Hartree-Fock")
    ax.plot(bonds, [r["fci"] for r in rows], "-", label="FCI (PySCF)")
    ax.plot(bonds, [r["vqe"] for r in rows], "o", label="VQE")
    ax.set_xlabel("bond length (Å)")
    ax.set_ylabel("energy (Ha)")
    ax.set_title(f"{name} dissociation curve")
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except (OSError, ValueError) as exc:
        raise QDLError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
    finally:
        plt.close(fig)
