"""Trainability diagnostics: gradient variance, expressibility, entanglement, Fourier spectra.

* :mod:`~qdl.diagnostics.gradients`: ``Var[∂C/∂θ]`` under random parameters (barren
  plateaus, McClean et al. 2018) over qubit and layer counts, with exponential decay fits;
* :mod:`~qdl.diagnostics.expressibility`: KL divergence of the fidelity distribution from the
  Haar one (Sim, Johnson & Aspuru-Guzik 2019);
* :mod:`~qdl.diagnostics.entanglement`: Meyer–Wallach measure and entangling capability;
* :mod:`~qdl.diagnostics.fourier`: accessible frequencies and fitted Fourier coefficients of
  a model in one input (Schuld, Sweke & Meyer 2021);
* :mod:`~qdl.diagnostics.families`: circuit families (McClean et al.'s random circuits,
  Sim et al.'s circuits 1-19, the templates);
* :mod:`~qdl.diagnostics.report`: the markdown + PNG report behind ``qdl diagnose``.

Everything is built on :func:`qdl.grad.expval` and :func:`qdl.sim.state` with batched
parameters: ``S`` random parameter vectors are one call.

>>> from qdl.diagnostics import entangling_capability, sim_circuit
>>> entangling_capability(sim_circuit(1), samples=10, seed=0) < 1e-6  # no entangling gates
True
"""

from qdl.diagnostics.entanglement import entangling_capability, meyer_wallach
from qdl.diagnostics.expressibility import (
    expressibility,
    expressibility_from_fidelities,
    fidelity_histogram,
    fidelity_samples,
    haar_log_probabilities,
    kl_divergence,
)
from qdl.diagnostics.families import Family, get_family, mcclean_circuit, sim_circuit
from qdl.diagnostics.fourier import FourierSpectrum, accessible_frequencies, fourier_coefficients
from qdl.diagnostics.gradients import (
    DecayFit,
    GradientStats,
    VarianceScan,
    default_observable,
    fit_decay,
    gradient_samples,
    gradient_variance,
    variance_scan,
)

__all__ = [
    "DecayFit",
    "Family",
    "FourierSpectrum",
    "GradientStats",
    "VarianceScan",
    "accessible_frequencies",
    "default_observable",
    "entangling_capability",
    "expressibility",
    "expressibility_from_fidelities",
    "fidelity_histogram",
    "fidelity_samples",
    "fit_decay",
    "fourier_coefficients",
    "get_family",
    "gradient_samples",
    "gradient_variance",
    "haar_log_probabilities",
    "kl_divergence",
    "mcclean_circuit",
    "meyer_wallach",
    "sim_circuit",
    "variance_scan",
]
