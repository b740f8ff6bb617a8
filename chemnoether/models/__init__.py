"""Dynamics models: state at t -> state at t + dt, all behind one interface (``DynamicsModel``).

* ``EquivariantDynamics``: the E(3)-equivariant e3nn interaction network (DESIGN.md section 5).
* ``EGNNDynamics``: the EGNN peer on ``dgl.nn.EGNNConv`` (CPU only with PyPI's DGL).
* ``ConstantVelocity``: ``pos + vel * dt``, the trivial peer.

``build_model(kind, **config)`` builds any of them by name; ``model.config`` rebuilds it.
"""

from chemnoether.models.base import (
    EDGE_CHOICES,
    DynamicsModel,
    Prediction,
    remove_mass_weighted_mean,
    select_edges,
)
from chemnoether.models.builders import BUILDERS, MODEL_KINDS, build_model
from chemnoether.models.constant_velocity import ConstantVelocity
from chemnoether.models.egnn import EGNNDynamics
from chemnoether.models.equivariant import EquivariantDynamics
from chemnoether.models.statistics import dataset_statistics

__all__ = [
    "BUILDERS",
    "EDGE_CHOICES",
    "MODEL_KINDS",
    "ConstantVelocity",
    "DynamicsModel",
    "EGNNDynamics",
    "EquivariantDynamics",
    "Prediction",
    "build_model",
    "dataset_statistics",
    "remove_mass_weighted_mean",
    "select_edges",
]
