"""Reusable circuit pieces: embeddings, trainable layers, QCNN and quanvolution blocks.

Every template is a function that returns a new :class:`~qdl.Circuit` on wires
``0..n-1`` (place it elsewhere with :func:`remap`, join with ``Circuit.extend``). Templates
build circuits and never simulate; this package imports only the circuit layer.

Parameter names (each configurable by a ``prefix`` argument):

* inputs (features): ``x0, x1, …`` (amplitude angles ``a{level}_{i}``);
* weights: ``w{layer}_{wire}`` or ``w{layer}_{wire}_{k}``; QCNN ``c{layer}_{k}``,
  ``p{layer}_{k}``, ``f{k}``.

A :class:`~qdl.nn.QuantumLayer` takes the inputs by name and trains everything else:

>>> from qdl.templates import angle_embedding, strongly_entangling_layers
>>> c = angle_embedding(2).extend(strongly_entangling_layers(2, layers=2))
>>> c.parameters[:3], len(c.parameters)
(('x0', 'x1', 'w0_0_0'), 14)
"""

from qdl.templates._common import PATTERNS, entangling_pairs, remap
from qdl.templates.embeddings import (
    amplitude_angles,
    amplitude_circuit,
    amplitude_embedding,
    amplitude_names,
    angle_embedding,
    uniformly_controlled,
    zz_feature_map,
)
from qdl.templates.layers import (
    basic_entangler_layers,
    data_reuploading,
    hardware_efficient,
    strongly_entangling_layers,
)
from qdl.templates.qcnn import QCNN, conv_unitary, pooled_wires, qcnn, qcnn_conv, qcnn_pool
from qdl.templates.quanvolution import extract_patches, quanvolution_circuit

__all__ = [
    "PATTERNS",
    "QCNN",
    "amplitude_angles",
    "amplitude_circuit",
    "amplitude_embedding",
    "amplitude_names",
    "angle_embedding",
    "basic_entangler_layers",
    "conv_unitary",
    "data_reuploading",
    "entangling_pairs",
    "extract_patches",
    "hardware_efficient",
    "pooled_wires",
    "qcnn",
    "qcnn_conv",
    "qcnn_pool",
    "quanvolution_circuit",
    "remap",
    "strongly_entangling_layers",
    "uniformly_controlled",
    "zz_feature_map",
]
