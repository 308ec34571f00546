"""Quantum chemistry: molecular Hamiltonians from PySCF, Hartree–Fock states, UCCSD ansätze."""
