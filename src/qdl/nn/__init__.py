"""torch.nn modules with quantum circuits inside."""

from qdl.nn.layer import QuantumLayer

__all__ = ["QuantumLayer"]
