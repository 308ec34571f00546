"""Fidelity quantum kernel ``k(x, x') = |⟨ψ(x)|ψ(x')⟩|²`` with tiled Gram matrices."""

from __future__ import annotations

import copy

import torch
from torch import nn

from qdl.circuit import Circuit
from qdl.errors import QDLError
from qdl.models._common import check_features, check_int, module_dtype, real_dtype
from qdl.sim import state
from qdl.templates import angle_embedding, zz_feature_map

EXECUTORS = ("local", "ray")

FEATURE_MAPS = ("zz", "angle")
_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _tiles(n: int, size: int) -> list[slice]:
    return [slice(a, min(a + size, n)) for a in range(0, n, size)]


class QuantumKernel(nn.Module):
    """The fidelity kernel of a feature-map circuit, computed from batched statevectors.

    ``k(x, x') = |⟨ψ(b·x)|ψ(b·x')⟩|²`` with ``|ψ(x)⟩ = U_Φ(x)|0…0⟩`` from :func:`qdl.state`
    (Havlíček et al., Nature 567, 209 (2019); Schuld & Killoran, PRL 122, 040504 (2019)),
    and ``b`` the bandwidth (Shaydulin & Wild, PRA 106, 042407 (2022): ``b < 1`` keeps the
    kernel from concentrating near the identity on many qubits).

    Gram matrices are computed in ``tile_size × tile_size`` tiles: a tile needs the states of
    its rows and columns (``2·tile_size`` states) and one matrix product. Column states are
    computed once and kept while they take at most ``cache_mib`` MiB, otherwise recomputed
    per tile, so memory stays bounded by about ``cache_mib`` plus two tiles of states plus
    the ``N×M`` result. For ``K(X)`` (one argument) only the tiles on and above the diagonal
    are computed, the rest mirrored, so the matrix is exactly symmetric.

    Args:
        feature_map: ``"zz"`` (:func:`qdl.templates.zz_feature_map`), ``"angle"`` (``ry``
            angle embedding: a product-state kernel ``Π cos²((x_i - x'_i)/2)``) or a
            :class:`~qdl.Circuit` whose parameters are all features.
        n_features: number of features (= qubits for the built-in maps); taken from the
            circuit when ``feature_map`` is one.
        reps: repetitions of the ZZ feature map.
        entanglement: pairs coupled by the ZZ feature map (``full`` by default, as in Qiskit's
            ``ZZFeatureMap`` and :func:`qdl.templates.zz_feature_map`; ``linear``, ``ring``).
        bandwidth: factor ``b`` applied to the features.
        tile_size: rows/columns per tile.
        cache_mib: memory for cached column states.
        executor: ``local`` computes the tiles here; ``ray`` computes each tile as a Ray
            task (``pip install "qdl[ray]"``; joins the Ray instance already started with
            ``ray.init``, or starts a local one). The Ray path gives the same matrix, but
            no gradients: call it under ``torch.no_grad()`` or on inputs that need none.
        dtype: ``torch.float32``/``complex64`` (default) or ``float64``/``complex128``: the
            precision of the states; ``.double()`` switches to complex128.

    The kernel has no trainable parameters; ``bandwidth`` is a buffer (in ``state_dict``).

    >>> kernel = QuantumKernel("zz", n_features=2, dtype=torch.float64)
    >>> x = torch.tensor([[0.1, 0.2], [0.3, -0.4], [1.0, 2.0]], dtype=torch.float64)
    >>> gram = kernel(x)
    >>> gram.shape, bool(torch.allclose(gram.diagonal(), torch.ones(3, dtype=torch.float64)))
    (torch.Size([3, 3]), True)
    >>> kernel(x[:2], x).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        feature_map: str | Circuit = "zz",
        n_features: int | None = None,
        *,
        reps: int = 2,
        entanglement: str = "full",
        bandwidth: float = 1.0,
        tile_size: int = 256,
        cache_mib: float = 256.0,
        dtype: torch.dtype | None = torch.float32,
        executor: str = "local",
    ):
        super().__init__()
        if isinstance(feature_map, Circuit):
            self.circuit = feature_map
        elif feature_map == "zz":
            self.circuit = zz_feature_map(check_int(n_features, "n_features"), reps,
                                          entanglement)
        elif feature_map == "angle":
            self.circuit = angle_embedding(check_int(n_features, "n_features"), "y")
        else:
            raise QDLError(f"unknown feature_map {feature_map!r}; choose one of "
                           f"{', '.join(FEATURE_MAPS)} or pass a qdl.Circuit")
        self.inputs = list(self.circuit.parameters)
        self.n_features = len(self.inputs)
        if n_features is not None and n_features != self.n_features:
            raise QDLError(f"the feature map takes {self.n_features} features, got "
                           f"n_features={n_features}")
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, int | float) or not (
                bandwidth > 0 and bandwidth < float("inf")):
            raise QDLError(f"bandwidth must be a positive finite number, got {bandwidth!r}")
        self.tile_size = check_int(tile_size, "tile_size")
        if not isinstance(cache_mib, int | float) or not cache_mib >= 0:
            raise QDLError(f"cache_mib must be a number >= 0, got {cache_mib!r}")
        self.cache_mib = float(cache_mib)
        if executor not in EXECUTORS:
            raise QDLError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
        self.executor = executor
        self.register_buffer("bandwidth", torch.tensor(float(bandwidth),
                                                       dtype=real_dtype(dtype)))

    def states(self, x: torch.Tensor) -> torch.Tensor:
        """Feature-map states ``|ψ(b·x)⟩`` for features ``(B, n_features)``: ``(B, 2**n)``."""
        real = module_dtype(self)
        x = check_features(x, self.n_features, "QuantumKernel", real) * self.bandwidth
        params = dict(zip(self.inputs, x.unbind(-1), strict=True))
        return state(self.circuit, params, dtype=_COMPLEX[real], device=self.bandwidth.device)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        """Gram matrix ``K[i, j] = k(x1_i, x2_j)``, ``(N, M)``; ``K(x1, x1)`` if ``x2`` is None.

        Differentiable with respect to the features; note that autograd then keeps every
        tile's states for the backward pass, so compute large matrices under
        ``torch.no_grad()`` (as :class:`qdl.sklearn.QSVC` does) to keep the memory bound.
        """
        real = module_dtype(self)
        x1 = check_features(x1, self.n_features, "QuantumKernel", real)
        symmetric = x2 is None
        x2 = x1 if x2 is None else check_features(x2, self.n_features, "QuantumKernel", real)
        if x1.dim() != 2 or x2.dim() != 2:
            raise QDLError(f"QuantumKernel expects feature matrices (N, {self.n_features}), "
                           f"got shapes {tuple(x1.shape)} and {tuple(x2.shape)}")
        rows, cols = _tiles(len(x1), self.tile_size), _tiles(len(x2), self.tile_size)
        if self.executor == "ray":
            return self._ray_gram(x1, x2, rows, cols, symmetric)
        cached = self._cached_states(x2, cols)
        out = torch.empty(len(x1), len(x2), dtype=real, device=self.bandwidth.device)
        for i, r in enumerate(rows):
            left = cached[i] if symmetric and cached[i] is not None else self.states(x1[r])
            for j in range(i if symmetric else 0, len(cols)):
                c = cols[j]
                right = cached[j] if cached[j] is not None else self.states(x2[c])
                tile = self.fidelities(left, right)
                _place(out, r, c, tile, symmetric and i == j, symmetric and j > i)
        return out

    def _ray_gram(self, x1: torch.Tensor, x2: torch.Tensor, rows: list[slice],
                  cols: list[slice], symmetric: bool) -> torch.Tensor:
        """The Gram matrix with one Ray task per tile (upper triangle when symmetric)."""
        if torch.is_grad_enabled() and (x1.requires_grad or x2.requires_grad or any(
                p.requires_grad for p in self.parameters())):
            raise QDLError("QuantumKernel(executor='ray') gives no gradients; compute the "
                           "matrix under torch.no_grad() or use executor='local'")
        try:
            import ray
        except ImportError:
            raise QDLError('executor="ray" needs the ray package: pip install "qdl[ray]"'
                           ) from None
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
        task = ray.remote(_fidelity_tile)
        kernel = ray.put(copy.deepcopy(self).cpu())
        pairs = [(i, j) for i in range(len(rows))
                 for j in range(i if symmetric else 0, len(cols))]
        refs = [task.remote(kernel, x1[rows[i]].cpu(), x2[cols[j]].cpu()) for i, j in pairs]
        out = torch.empty(len(x1), len(x2), dtype=module_dtype(self))
        for (i, j), tile in zip(pairs, ray.get(refs), strict=True):
            _place(out, rows[i], cols[j], tile, symmetric and i == j, symmetric and j > i)
        return out

    @staticmethod
    def fidelities(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """``|⟨left_i|right_j⟩|²`` for states ``(N, d)`` and ``(M, d)``: one tile ``(N, M)``."""
        overlap = left.conj() @ right.T
        return overlap.real.square() + overlap.imag.square()  # smooth, unlike abs() at 0

    def _cached_states(self, x: torch.Tensor, tiles: list[slice]) -> list[torch.Tensor | None]:
        """States of the first tiles that fit in ``cache_mib``; ``None`` for the rest."""
        item = torch.empty((), dtype=_COMPLEX[module_dtype(self)]).element_size()
        per_row = item * 2**self.circuit.n_qubits
        budget = int(self.cache_mib * 2**20) // per_row  # rows that fit
        return [self.states(x[t]) if t.stop <= budget else None for t in tiles]

    def extra_repr(self) -> str:
        return (f"n_features={self.n_features}, n_qubits={self.circuit.n_qubits}, "
                f"gates={len(self.circuit)}, bandwidth={self.bandwidth.item():g}, "
                f"tile_size={self.tile_size}, executor={self.executor!r}")


def _place(out: torch.Tensor, r: slice, c: slice, tile: torch.Tensor, diagonal: bool,
           mirror: bool) -> None:
    """Write a Gram tile, and its transpose below the diagonal for ``K(X)``.

    A diagonal tile of ``K(X)`` is symmetrised: a GEMM need not round ``<a|b>`` and
    ``<b|a>`` alike (differences ~1e-17 seen), and ``(t + tᵀ)/2`` is exactly symmetric
    because floating-point addition commutes.
    """
    out[r, c] = (tile + tile.T) / 2 if diagonal else tile
    if mirror:
        out[c, r] = tile.T


def _fidelity_tile(kernel: QuantumKernel, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One Gram tile, computed where Ray runs it (the same operations as the local path)."""
    with torch.no_grad():
        return kernel.fidelities(kernel.states(a), kernel.states(b))
