"""Quanvolutional network for small images (Henderson et al. 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from qdl.errors import QDLError
from qdl.models._common import check_int, check_sizes, mlp, module_dtype, real_dtype
from qdl.nn import QuantumLayer
from qdl.templates import extract_patches, quanvolution_circuit


def _image_size(size: object) -> tuple[int, int]:
    if isinstance(size, int | np.integer) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, Sequence) or len(size) != 2:
        raise QDLError(f"image_size must be an int or (height, width), got {size!r}")
    return check_int(size[0], "image height"), check_int(size[1], "image width")


class QuanvolutionNet(nn.Module):
    """Quanvolution filter over ``k×k`` patches → flatten → linear classifier.

    Every ``k×k`` patch (stride ``k`` by default) of a greyscale image goes through the
    quanvolution circuit of :func:`qdl.templates.quanvolution_circuit`: pixel ``i`` of the
    patch is encoded as ``ry(π·x_i)`` on wire ``i`` (pixels expected in ``[0, 1]``), then
    ``filter_layers`` random layers (fixed by ``seed``; trainable with ``trainable_filter``),
    and the ``k²`` values ``⟨Z_i⟩`` are the output channels. All patches of all images are
    filtered in **one** batched :class:`qdl.nn.QuantumLayer` call; the ``H'·W'·k²`` features
    are flattened and mapped to logits by ``Linear`` layers (widths ``hidden``).

    Args:
        image_size: ``H`` (square) or ``(H, W)``; e.g. ``8`` for scikit-learn's digits.
        n_classes: number of classes.
        kernel: patch side ``k`` (``k²`` qubits).
        stride: step between patches (default ``k``).
        filter_layers: random layers of the filter circuit.
        seed: seed of the random filter circuit.
        trainable_filter: train the filter's rotation angles (default: fixed, as in the
            paper, so :meth:`features` can be computed once and cached).
        hidden: widths of hidden layers of the classical head (``()``: one ``Linear``).
        diff_method: see :func:`qdl.expval`.
        dtype: real dtype of the parameters (default: torch's default dtype).

    Images may be ``(B, H, W)`` or ``(B, 1, H, W)``; other shapes and NaN/inf raise
    ``QDLError``.

    >>> _ = torch.manual_seed(0)
    >>> net = QuanvolutionNet(image_size=8, n_classes=10)
    >>> net.features(torch.rand(5, 8, 8)).shape
    torch.Size([5, 64])
    >>> net(torch.rand(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    """

    def __init__(
        self,
        image_size: int | Sequence[int] = 8,
        n_classes: int = 10,
        *,
        kernel: int = 2,
        stride: int | None = None,
        filter_layers: int = 1,
        seed: int = 0,
        trainable_filter: bool = False,
        hidden: Sequence[int] = (),
        diff_method: str = "best",
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.image_size = _image_size(image_size)
        self.n_classes = check_int(n_classes, "n_classes", 2)
        self.kernel = check_int(kernel, "kernel")
        self.stride = self.kernel if stride is None else check_int(stride, "stride")
        h, w = self.image_size
        if self.kernel > min(h, w):
            raise QDLError(f"kernel {self.kernel} is larger than the {h}x{w} images")
        circuit = quanvolution_circuit(self.kernel, filter_layers, seed,
                                       trainable=trainable_filter)
        k2 = self.kernel**2
        self.filter = QuantumLayer(circuit, [f"Z{i}" for i in range(k2)],
                                   [f"x{i}" for i in range(k2)], diff_method=diff_method)
        self.filter.weights.requires_grad_(bool(trainable_filter))
        n_patches = ((h - self.kernel) // self.stride + 1) * ((w - self.kernel) // self.stride + 1)
        self.n_quantum_features = n_patches * k2
        self.head = mlp([self.n_quantum_features, *check_sizes(hidden, "hidden"),
                         self.n_classes], nn.ReLU)
        self.to(real_dtype(dtype))

    def _check(self, images: object) -> torch.Tensor:
        x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
        if x.dim() == 4 and x.shape[1] == 1:
            x = x[:, 0]
        if x.dim() != 3 or tuple(x.shape[1:]) != self.image_size:
            h, w = self.image_size
            raise QDLError(f"QuanvolutionNet expects images of shape (B, {h}, {w}) or "
                           f"(B, 1, {h}, {w}), got shape {tuple(x.shape)}")
        x = x.to(module_dtype(self))
        if not bool(torch.isfinite(x).all()):
            raise QDLError("QuanvolutionNet got NaN or inf pixels")
        return x

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The flattened quanvolution outputs, ``(B, n_quantum_features)``.

        Order: patch row, patch column, channel ``Z_i``.
        """
        patches = extract_patches(self._check(images), self.kernel, self.stride)
        return self.filter(patches).flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_classes)``."""
        return self.head(self.features(images))
