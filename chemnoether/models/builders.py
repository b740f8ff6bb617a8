"""Registers the dynamics models of this package with ``chemnoether.core.registry``.

``build_model(kind, **config)`` then rebuilds any of them by name; the tailored wrapper
(``noether_tailored``) is registered by ``chemnoether.noether``, which builds on these models.
"""

from __future__ import annotations

from chemnoether.core.registry import BUILDERS, build_model, model_kinds, register_model
from chemnoether.models.constant_velocity import ConstantVelocity
from chemnoether.models.egnn import EGNNDynamics
from chemnoether.models.equivariant import EquivariantDynamics

for _model in (EquivariantDynamics, EGNNDynamics, ConstantVelocity):
    register_model(_model.kind, _model)

__all__ = ["BUILDERS", "build_model", "model_kinds"]
