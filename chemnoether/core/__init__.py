"""The light core: what every layer shares, importing only torch and numpy.

* ``tensors``: ``GraphTensors``, a batch of graphs as plain tensors (the form models run on);
  ``dgl_bridge`` (loaded on first use) converts DGL graphs into it.
* ``ops``: scatters and pooling over the batch's index tensors.
* ``units``: the package's units and the one kinetic energy; ``elements``: element symbols.
* ``options`` and ``typecheck``: option and config validation raising ``ConfigError``.
* ``registry``: model kinds by name, which the higher layers register into.

``chemnoether.keys`` (the graph schema) and ``chemnoether.errors`` (the exception hierarchy) are
part of the core too; they sit at the top of the package because everything names them.
"""

from chemnoether.core.ops import edge_vectors, pool_atoms, pool_incidence, scatter_mean, scatter_sum
from chemnoether.core.registry import build_model, model_kinds, register_model
from chemnoether.core.tensors import GraphTensors, collate_graphs

__all__ = [
    "GraphTensors",
    "build_model",
    "collate_graphs",
    "edge_vectors",
    "model_kinds",
    "pool_atoms",
    "pool_incidence",
    "register_model",
    "scatter_mean",
    "scatter_sum",
]
