"""The device path: chemnoether DGL graphs as plain tensors, and the tensor ops models need.

DGL graphs are the data and interchange format; ``GraphTensors`` carries a batch of them to any
device torch reaches, and ``edge_vectors`` / ``scatter_*`` / ``pool_*`` do message passing on it.
"""

from chemnoether.data.ops import (
    edge_vectors,
    pool_atoms,
    pool_incidence,
    scatter_mean,
    scatter_sum,
)
from chemnoether.data.tensors import GraphTensors, collate_graphs

__all__ = [
    "GraphTensors",
    "collate_graphs",
    "edge_vectors",
    "pool_atoms",
    "pool_incidence",
    "scatter_mean",
    "scatter_sum",
]
