"""A tiny stand-in for the dynamics models, with their interface: ``model(batch) -> .pos, .vel``.

``next_pos = pos + vel * dt * (1 + a) + b`` and ``next_vel = vel + small MLP(vel)`` (with dropout,
so that exact-resume tests also cover the RNG). Shared by the tests and the torchrun worker.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

import chemnoether  # noqa: F401  (before dgl)
from chemnoether import keys
from chemnoether.data import time_block_windows
from chemnoether.simulation import generate_md

KIND = "standin"


class StepPrediction(NamedTuple):
    pos: torch.Tensor
    vel: torch.Tensor


class StandIn(nn.Module):
    kind = KIND

    def __init__(self, hidden: int = 8, dropout: float = 0.1):
        super().__init__()
        self.config = {"hidden": hidden, "dropout": dropout}
        self.a = nn.Parameter(torch.zeros(()))
        self.b = nn.Parameter(torch.full((3,), 0.05))  # a visible error, for training to remove
        self.mlp = nn.Sequential(nn.Linear(3, hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, 3))

    def forward(self, batch) -> StepPrediction:
        pos, vel = batch.atom[keys.POS], batch.atom[keys.VEL]
        dt = batch.system[keys.DT][batch.atom_graph].unsqueeze(-1)
        next_pos = pos + vel * dt * (1 + self.a) + self.b
        next_vel = vel + 0.01 * self.mlp(100 * vel)
        return StepPrediction(next_pos, next_vel)


def build(kind: str, **config) -> StandIn:
    """What ``chemnoether.models.build_model`` will be for the real models."""
    if kind != KIND:
        raise ValueError(f"unknown kind {kind!r}")
    return StandIn(**config)


def ethanol_windows(n_steps: int = 200):
    """Train / val / test windows of a short MMFF94 ethanol run (about a second to make)."""
    traj = generate_md("ethanol", n_steps, progress=False)
    return time_block_windows(traj, 2)
