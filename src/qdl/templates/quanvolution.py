"""Quanvolution (Henderson et al. 2020): a small random circuit run on every image patch.

The circuit builder lives here; the simulation does not. :func:`extract_patches` turns a
batch of images into a batch of patches, so one batched ``QuantumLayer`` call (inputs
``x0..x{k*k-1}``, observables ``Z0..Z{k*k-1}``) filters every patch at once.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.expr import Sym
from qdl.templates._common import check_distinct, check_int, check_prefix

_GATES = ("rx", "ry", "rz")


def quanvolution_circuit(
    kernel: int = 2,
    layers: int = 1,
    seed: int = 0,
    prefix: str = "x",
    trainable: bool = False,
    weight_prefix: str = "w",
) -> Circuit:
    """The quanvolutional filter of Henderson, Shakya, Pradhan & Cook.

    Henderson et al., "Quanvolutional neural networks: powering image recognition with
    quantum circuits", Quantum Mach. Intell. 2, 2 (2020): a ``k×k`` patch is encoded on
    ``k²`` wires and transformed by a fixed random circuit; the ``k²`` expectation values
    ``⟨Z_i⟩`` are the output channels. Encoding: ``ry(π·x_i)`` on wire ``i`` (pixel ``i`` of
    the patch in row-major order, values expected in ``[0, 1]``), as in PennyLane's
    quanvolution demo. Each random layer: on every wire one of ``rx, ry, rz`` with an angle
    uniform in ``[0, 2π)``, then CNOTs along a random ordering of the wires
    ``(p_0→p_1), (p_1→p_2), …``. The same ``seed`` always gives the same circuit.

    Args:
        kernel: patch side ``k`` (``k²`` wires).
        layers: number of random layers (0: encoding only).
        seed: seed of the random layers (numpy ``default_rng``).
        prefix: inputs ``{prefix}0..{prefix}{k²-1}``.
        trainable: make the random angles weights ``{weight_prefix}{l}_{i}`` (their drawn
            values are then only a suggestion; a ``QuantumLayer`` initialises its own).
        weight_prefix: prefix of those weights.

    Returns:
        A circuit on ``k²`` wires.

    >>> c = quanvolution_circuit(kernel=2, layers=1, seed=0)
    >>> c.n_qubits, c.parameters
    (4, ('x0', 'x1', 'x2', 'x3'))
    """
    k = check_int(kernel, "kernel")
    layers = check_int(layers, "layers", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise QDLError(f"seed must be an int, got {seed!r}")
    prefix = check_prefix(prefix)
    if trainable:
        check_distinct(prefix=prefix, weight_prefix=check_prefix(weight_prefix, "weight_prefix"))
    n = k * k
    rng = np.random.default_rng(seed)
    c = Circuit(n)
    for i in range(n):
        c.ry(i, math.pi * Sym(f"{prefix}{i}"))
    for layer in range(layers):
        gates = rng.integers(len(_GATES), size=n)
        angles = rng.uniform(0, 2 * math.pi, size=n)
        for i in range(n):
            angle = f"{weight_prefix}{layer}_{i}" if trainable else float(angles[i])
            c.add(_GATES[gates[i]], [i], [angle])
        order = [int(w) for w in rng.permutation(n)]
        for a, b in itertools.pairwise(order):
            c.cx(a, b)
    return c


def extract_patches(
    images: torch.Tensor, kernel: int = 2, stride: int | None = None
) -> torch.Tensor:
    """``k×k`` patches of a batch of images, flattened row-major: ``(*B, H', W', k*k)``.

    ``out[..., r, s, di*k + dj] = images[..., r*stride + di, s*stride + dj]`` with
    ``H' = (H - k) // stride + 1`` (likewise ``W'``); no padding. Pure torch (views and one
    reshape), differentiable.

    Args:
        images: tensor ``(*B, H, W)`` (e.g. ``(B, H, W)``).
        kernel: patch side ``k``.
        stride: step between patches (default ``k``: non-overlapping).

    Raises:
        QDLError: fewer than 2 dimensions, kernel/stride < 1, kernel larger than the image.

    >>> img = torch.arange(16.0).reshape(1, 4, 4)
    >>> extract_patches(img, 2)[0, 0, 1].tolist()
    [2.0, 3.0, 6.0, 7.0]
    """
    if not isinstance(images, torch.Tensor) or images.dim() < 2:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise QDLError(f"images must be a tensor of shape (B, H, W), got {got}")
    k = check_int(kernel, "kernel")
    s = k if stride is None else check_int(stride, "stride")
    h, w = images.shape[-2:]
    if k > h or k > w:
        raise QDLError(f"kernel {k} is larger than the {h}x{w} images")
    patches = images.unfold(-2, k, s).unfold(-2, k, s)  # (*B, H', W', k, k)
    return patches.reshape(*patches.shape[:-2], k * k)
