"""A tiny trained run (as in tests/evaluate) and a dynamics "model" whose physics is known.

``MMFFVerlet`` is velocity Verlet on MMFF94 dressed as a next-state model (``forward(batch) ->
Prediction``): run through ``LearnedMD`` it must behave as MMFF94 MD does, so thermostats and
energy rescaling can be checked against known physics, whatever a tiny trained model does.
"""

import numpy as np
import pytest
import torch

import chemnoether  # noqa: F401  (before dgl)
from chemnoether import keys
from chemnoether.simulation.integrators import ACCELERATION_UNIT
from chemnoether.learned_md import LearnedMD, MMFFCompanion, open_learned_md
from chemnoether.models.base import Prediction

RECIPE = {
    "data": {"molecule": "ethanol", "n_steps": 600, "split": "time_block", "delta": 5},
    "model": {"kind": "equivariant", "elements": [1, 6, 8], "channels": 8, "layers": 1, "edges": "bond"},
    "train": {"epochs": 1, "max_steps": 5, "batch_size": 16, "progress": False, "device": "cpu"},
}
VERLET_DT_FS = 0.5  # the MD step of the run's data: MMFF94 Verlet is stable there


@pytest.fixture(scope="session")
def md_run(train_recipe):
    return train_recipe(RECIPE, "learned_md")


@pytest.fixture(scope="session")
def session(md_run):
    """The run opened for NVE learned MD (its trained model, MMFF94 companion for the log)."""
    return open_learned_md(md_run)


class MMFFVerlet(torch.nn.Module):
    """One velocity-Verlet step of MMFF94 per call, for every graph of the batch (all one molecule)."""

    def __init__(self, potential):
        super().__init__()
        self.potential = potential
        # float64 states in, float64 out: LearnedMD casts batches to the model's parameter dtype
        self.dtype_marker = torch.nn.Parameter(torch.zeros((), dtype=torch.float64), requires_grad=False)
        self.calls = 0

    def accelerations(self, pos, masses, count):
        with torch.enable_grad():
            x = pos.detach().reshape(count, -1, 3).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.potential(x).sum(), x)
        return -grad.reshape(-1, 3) / masses[:, None] * ACCELERATION_UNIT

    def forward(self, batch):
        self.calls += 1
        pos, vel, masses = batch.atom[keys.POS], batch.atom[keys.VEL], batch.atom[keys.MASSES]
        dt = batch.system[keys.DT][batch.atom_graph][:, None]
        half = vel + 0.5 * dt * self.accelerations(pos, masses, batch.num_graphs)
        new_pos = pos + dt * half
        return Prediction(new_pos, half + 0.5 * dt * self.accelerations(new_pos, masses, batch.num_graphs))


@pytest.fixture(scope="session")
def mmff(session):
    return MMFFCompanion("CCO", session.atomic_numbers)


@pytest.fixture
def verlet_engine(session, mmff):
    """``verlet_engine(model=None, **options)``: a LearnedMD of MMFFVerlet at 0.5 fs on the run's molecule."""

    def build(model=None, **options):
        options.setdefault("rng", np.random.default_rng(0))
        return LearnedMD(model or MMFFVerlet(mmff), session.run.topology, session.engine.masses, VERLET_DT_FS,
                         bonds=session.engine.bonds, **options)

    return build


@pytest.fixture
def test_starts(session):
    """(positions, velocities) of the first ``count`` test windows of the run."""
    from chemnoether.train.run_dir import true_states

    def starts(count):
        return true_states(session.run.windows, session.run.windows.starts[:count])

    return starts


@pytest.fixture(scope="session")
def verlet_class():
    """The ``MMFFVerlet`` class, for tests that derive a misbehaving model from it."""
    return MMFFVerlet
