"""Circuit families: McClean et al.'s random circuits and Sim et al.'s numbered circuits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from qdl import QDLError, state
from qdl.diagnostics import get_family, mcclean_circuit, sim_circuit

# Parameters per layer on four qubits, counted by hand from the paper's Fig. 2 drawings.
SIM_PARAMS = {1: 8, 2: 8, 3: 11, 4: 11, 5: 28, 6: 28, 7: 19, 8: 19, 9: 4, 10: 8, 11: 12,
              12: 12, 13: 16, 14: 16, 15: 8, 16: 11, 17: 11, 18: 12, 19: 12}


@pytest.mark.parametrize("number", sorted(SIM_PARAMS))
def test_sim_parameter_counts(number):
    """Each numbered circuit has the paper's parameter count per layer (L = 1 and 2)."""
    assert len(sim_circuit(number, 4, 1).parameters) == SIM_PARAMS[number]
    assert len(sim_circuit(number, 4, 2).parameters) == 2 * SIM_PARAMS[number]


def test_sim9_at_zero_angles_is_the_linear_cluster_state():
    """Circuit 9 with RX(0): amplitudes (−1)^{Σ b_i b_{i+1}} / 4, built directly."""
    c = sim_circuit(9, 4)
    psi = state(c, dict.fromkeys(c.parameters, 0.0), dtype=torch.complex128).numpy()
    expected = [(-1) ** sum(b[i] * b[i + 1] for i in range(3)) / 4
                for b in itertools.product([0, 1], repeat=4)]
    np.testing.assert_allclose(psi, expected, atol=1e-12)


def test_mcclean_structure_and_seeding():
    """RY(π/4) layer, then per layer n random-axis rotations and n−1 CZs; seeds fix axes."""
    c = mcclean_circuit(3, 2, seed=5)
    names = [op.name for op in c.ops]
    assert names[:3] == ["ry"] * 3
    assert all(name in ("rx", "ry", "rz") for name in names[3:6] + names[8:11])
    assert names[6:8] == ["cz", "cz"] and len(c.parameters) == 6
    assert c == mcclean_circuit(3, 2, seed=5)
    axes = {tuple(op.name for op in mcclean_circuit(3, 4, seed=s).ops) for s in range(5)}
    assert len(axes) > 1


def test_get_family_templates_and_errors():
    """Template families pass options on; unknown names and options are QDLErrors."""
    c = get_family("hardware_efficient", rotations="y")(2, 1)
    assert [op.name for op in c.ops] == ["ry", "ry", "cx", "ry", "ry"]
    with pytest.raises(QDLError, match="unknown circuit family"):
        get_family("nope")
    with pytest.raises(QDLError, match="takes no options"):
        get_family("sim1", depth=2)
    with pytest.raises(QDLError, match="1 to 19"):
        sim_circuit(20)
