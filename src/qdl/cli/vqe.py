"""``qdl vqe`` and ``qdl dissociation``: molecular ground states by VQE (needs ``qdl[chem]``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from qdl.errors import QDLError
from qdl.progress import progress


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``vqe`` and ``dissociation`` subcommands to ``sub``."""
    vqe_p = sub.add_parser("vqe", help="ground-state energy of a molecule by VQE vs full CI")
    vqe_p.add_argument("molecule", help="an .xyz file (Å) or a name: H2, LiH, BeH2")
    curve = sub.add_parser("dissociation",
                           help="VQE and FCI energies along a bond length, with a plot")
    curve.add_argument("molecule", help="a name: H2, LiH, BeH2 (the first bond is scanned)")
    curve.add_argument("--start", type=float, default=0.5, help="first bond length (Å)")
    curve.add_argument("--stop", type=float, default=2.5, help="last bond length (Å)")
    curve.add_argument("--points", type=int, default=9, help="number of bond lengths")
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
    """Handler of ``qdl dissociation``: scans the first atom pair's distance."""
    from qdl import chem

    symbols, coords = _molecule(args.molecule)
    if args.points < 2 or not 0 < args.start < args.stop:
        raise QDLError("need --points >= 2 and 0 < --start < --stop")
    base = np.asarray(coords, dtype=float)
    axis = base[1] - base[0]
    axis /= np.linalg.norm(axis)
    opts, rows = _options(args), []
    lengths = np.linspace(args.start, args.stop, args.points)
    with progress() as display:
        update = display.add(f"dissociation {args.molecule}", len(lengths), "geometries")
        for i, r in enumerate(lengths):
            geo = base.copy()
            geo[1] = base[0] + r * axis  # others (BeH2's second H) mirror the first
            if len(geo) > 2:
                geo[2] = base[0] - r * axis
            out = chem.vqe(symbols, geo, **opts)
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
    except OSError as exc:
        raise QDLError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
