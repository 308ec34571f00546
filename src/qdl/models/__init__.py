"""Ready-made quantum and hybrid models (``torch.nn.Module`` subclasses).

* :class:`HybridClassifier`, :class:`HybridRegressor`: classical pre-net → quantum layer →
  classical head;
* :class:`QCNN`: quantum convolutional neural network classifier;
* :class:`QuanvolutionNet`: quanvolution filter over image patches → linear classifier;
* :class:`QuantumKernel`: fidelity kernel with tiled Gram matrices (for kernel methods);
* :class:`VQC`: variational quantum classifier (feature map + ansatz + Z readout);
* :func:`train_model`: a seeded Adam training loop.

Models build circuits from :mod:`qdl.templates` and evaluate them through
:class:`qdl.nn.QuantumLayer` or :func:`qdl.state`; they simulate nothing themselves.

>>> import torch
>>> from qdl.models import HybridClassifier, train_model
>>> _ = torch.manual_seed(0)
>>> x = torch.randn(64, 2)
>>> y = (x[:, 0] > 0).long()
>>> model = HybridClassifier(n_features=2, n_qubits=2, layers=1)
>>> _ = train_model(model, x, y, epochs=30, seed=0)
>>> (model.predict(x) == y).float().mean().item() > 0.9
True
"""

from qdl.models._common import ANSATZE, COMPLEX_DTYPES, DTYPES
from qdl.models.hybrid import HybridClassifier, HybridRegressor
from qdl.models.kernel import QuantumKernel
from qdl.models.qcnn import QCNN
from qdl.models.quanvolution import QuanvolutionNet
from qdl.models.training import epoch_order, train_epoch, train_model
from qdl.models.vqc import VQC

__all__ = [
    "ANSATZE",
    "COMPLEX_DTYPES",
    "DTYPES",
    "QCNN",
    "VQC",
    "HybridClassifier",
    "HybridRegressor",
    "QuantumKernel",
    "QuanvolutionNet",
    "epoch_order",
    "train_epoch",
    "train_model",
]
