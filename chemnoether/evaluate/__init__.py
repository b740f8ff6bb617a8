"""Evaluation: metrics, autoregressive rollouts and physical diagnostics of predicted frames.

``evaluate_run(run_dir)`` scores a training run and writes ``run_dir/eval/``; ``rollout_run``
writes one rollout as a trajectory file (``chemnoether evaluate`` / ``chemnoether rollout``).
"""

from chemnoether.evaluate.metrics import as_x100, position_mse, rollout_mse
from chemnoether.evaluate.physicality import Blowup, Physicality, check_rollouts
from chemnoether.evaluate.physics import (
    angular_momentum,
    kinetic_energy,
    linear_momentum,
    max_bond_strain,
    potential_energy,
    steps_until_unphysical,
)
from chemnoether.evaluate.report import evaluate_run, metrics_table, rollout_run
from chemnoether.evaluate.rollout import rollout

__all__ = [
    "Blowup",
    "Physicality",
    "angular_momentum",
    "as_x100",
    "check_rollouts",
    "evaluate_run",
    "kinetic_energy",
    "linear_momentum",
    "max_bond_strain",
    "metrics_table",
    "position_mse",
    "potential_energy",
    "rollout",
    "rollout_mse",
    "rollout_run",
    "steps_until_unphysical",
]
