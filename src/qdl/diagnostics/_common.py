"""Argument checks and random parameter draws shared by the diagnostics."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from qdl.circuit import Circuit
from qdl.errors import QDLError

TWO_PI = 2 * math.pi


def check_count(value: object, what: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; ``QDLError`` naming ``what`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise QDLError(f"{what} must be an int >= {minimum}, got {value!r}")
    return value


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype matching a complex simulation dtype."""
    return torch.float64 if dtype == torch.complex128 else torch.float32


def make_generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (a fresh random seed when ``None``)."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
        return generator
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise QDLError(f"seed must be a non-negative int or None, got {seed!r}")
    return generator.manual_seed(seed)


def check_names(circuit: Circuit, names: Iterable[str], what: str) -> tuple[str, ...]:
    """``names`` as a tuple; each must be a parameter of ``circuit``."""
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    unknown = [n for n in names if n not in circuit.parameters]
    if unknown:
        raise QDLError(f"{what} {', '.join(map(repr, unknown))} is not a parameter of the "
                       f"circuit; its parameters are {list(circuit.parameters)}")
    return names


def uniform_params(
    names: Sequence[str],
    shape: tuple[int, ...],
    generator: torch.Generator,
    dtype: torch.dtype = torch.complex64,
) -> dict[str, torch.Tensor]:
    """Independent angles, uniform on ``[0, 2π)``, one tensor of ``shape`` per name.

    The whole block is drawn at once, in the order of ``names``, so a seed fixes every value.
    """
    block = torch.rand((len(names), *shape), generator=generator, dtype=real_dtype(dtype))
    return dict(zip(names, (TWO_PI * block).unbind(0), strict=True))
