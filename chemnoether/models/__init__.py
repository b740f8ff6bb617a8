"""Dynamics models: state at t -> state at t + dt, all behind one interface (``DynamicsModel``).

* ``EquivariantDynamics``: the E(3)-equivariant e3nn interaction network (docs/design.md section 5).
* ``EGNNDynamics``: the EGNN peer (``dgl.nn.EGNNConv``, or the same layers on plain tensors).
* ``ConstantVelocity``: ``pos + vel * dt``, the trivial peer.

``build_model(kind, **config)`` builds any registered kind by name (``chemnoether.core.registry``);
``model.config`` rebuilds it. ``docs/architecture.md`` shows how to add a model.
"""

from chemnoether.models.base import (
    EDGE_CHOICES,
    DynamicsModel,
    Prediction,
    remove_mass_weighted_mean,
    select_edges,
)
from chemnoether.models.builders import BUILDERS, build_model, model_kinds
from chemnoether.models.constant_velocity import ConstantVelocity
from chemnoether.models.egnn import EGNNDynamics
from chemnoether.models.equivariant import EquivariantDynamics
from chemnoether.models.statistics import dataset_statistics

__all__ = [
    "BUILDERS",
    "EDGE_CHOICES",
    "ConstantVelocity",
    "DynamicsModel",
    "EGNNDynamics",
    "EquivariantDynamics",
    "Prediction",
    "build_model",
    "model_kinds",
    "dataset_statistics",
    "remove_mass_weighted_mean",
    "select_edges",
]
