"""Evaluation: metrics, autoregressive rollouts and physical diagnostics of predicted frames."""

from chemnoether.evaluate.metrics import as_x100, position_mse, rollout_mse
from chemnoether.evaluate.physics import (
    angular_momentum,
    kinetic_energy,
    linear_momentum,
    max_bond_strain,
    potential_energy,
    steps_until_unphysical,
)
from chemnoether.evaluate.rollout import rollout

__all__ = [
    "angular_momentum",
    "as_x100",
    "kinetic_energy",
    "linear_momentum",
    "max_bond_strain",
    "position_mse",
    "potential_energy",
    "rollout",
    "rollout_mse",
    "steps_until_unphysical",
]
