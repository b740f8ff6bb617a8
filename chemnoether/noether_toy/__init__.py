"""Noether Networks on the Hamiltonian Neural Networks toy systems (Alet et al. 2021, section 5.1).

Small and self-contained (numpy/scipy/torch only), independent of the molecular machinery in
``chemnoether.noether``: ``systems`` (data), ``mlp`` (CN-MLP and RK4), ``tailoring`` (Noether
loss, tailoring, meta-tailoring), ``symbolic`` (conserved-quantity search), ``experiment`` (rows).
"""

from .mlp import CNMLP, fit_vector_field, rk4_rollout, rmse, rollout
from .symbolic import Formula, candidates, conserved
from .systems import (
    PENDULUM,
    SPRING,
    STANDARD_PENDULUM,
    SYSTEMS,
    System,
    make_dataset,
    trajectory,
)
from .tailoring import (
    NeuralG,
    inner_step,
    meta_loss,
    meta_train,
    noether_loss,
    noether_loss_per_traj,
    tailor,
)

__all__ = [
    "CNMLP",
    "PENDULUM",
    "SPRING",
    "STANDARD_PENDULUM",
    "SYSTEMS",
    "Formula",
    "NeuralG",
    "System",
    "candidates",
    "conserved",
    "fit_vector_field",
    "inner_step",
    "make_dataset",
    "meta_loss",
    "meta_train",
    "noether_loss",
    "noether_loss_per_traj",
    "rk4_rollout",
    "rmse",
    "rollout",
    "tailor",
    "trajectory",
]
