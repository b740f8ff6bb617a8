"""Rollouts, physical diagnostics and metrics, checked against exact answers and real MD."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

import chemnoether  # noqa: F401  (before dgl)
from chemnoether import keys
from chemnoether.data import radius_topology, smiles_topology
from chemnoether.simulation import generate_md
from chemnoether.simulation.generate import make_potential, prepare_molecule
from chemnoether.errors import ConfigError
from chemnoether.evaluate import (
    angular_momentum,
    as_x100,
    kinetic_energy,
    linear_momentum,
    max_bond_strain,
    position_mse,
    potential_energy,
    rollout,
    rollout_mse,
    steps_until_unphysical,
)


@dataclass
class _Prediction:
    pos: torch.Tensor
    vel: torch.Tensor


class _ConstantVelocity(torch.nn.Module):
    """Stand-in model: exact straight-line motion, with an optional blow-up for one graph."""

    def __init__(self, explode_graph: int | None = None, explode_after: int = 0, blow_up: float = float("nan")):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))
        self.explode_graph, self.explode_after, self.calls = explode_graph, explode_after, 0
        self.blow_up = blow_up

    def forward(self, batch):
        dt = batch.system[keys.DT][batch.atom_graph][:, None]
        pos = batch.atom[keys.POS] + batch.atom[keys.VEL] * dt * self.scale
        if self.explode_graph is not None and self.calls == self.explode_after:
            pos = pos.clone()
            pos[batch.atom_graph == self.explode_graph] *= self.blow_up
        self.calls += 1
        return _Prediction(pos, batch.atom[keys.VEL])


@pytest.fixture(scope="module")
def ethanol():
    return generate_md("ethanol", 400, progress=False, seed=1)


def test_rollout_of_straight_line_motion_is_exact(ethanol):
    topology = radius_topology(ethanol, cutoff=4.0, dtype=torch.float64)
    pos, vel = ethanol.positions[[0, 100]], ethanol.velocities[[0, 100]]
    out_pos, out_vel = rollout(_ConstantVelocity(), topology, pos, vel, dt_fs=2.0, n_steps=5)
    assert out_pos.shape == (2, 6, 9, 3)
    for k in range(6):
        np.testing.assert_allclose(out_pos[:, k], pos + k * 2.0 * vel, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out_vel[:, 5], vel)


def test_batched_rollout_equals_one_start_at_a_time(ethanol):
    topology = smiles_topology(ethanol, dtype=torch.float64)
    starts = [0, 50, 300]
    together, _ = rollout(_ConstantVelocity(), topology, ethanol.positions[starts], ethanol.velocities[starts], 1.0, 3)
    for i, s in enumerate(starts):
        alone, _ = rollout(_ConstantVelocity(), topology, ethanol.positions[[s]], ethanol.velocities[[s]], 1.0, 3)
        np.testing.assert_array_equal(together[i], alone[0])


def test_a_blown_up_start_is_nan_from_then_on_and_the_others_continue(ethanol):
    topology = radius_topology(ethanol, cutoff=4.0, dtype=torch.float64)
    model = _ConstantVelocity(explode_graph=1, explode_after=2)
    out_pos, _ = rollout(model, topology, ethanol.positions[[0, 10, 20]], ethanol.velocities[[0, 10, 20]], 1.0, 5)
    assert np.isfinite(out_pos[1, :3]).all() and np.isnan(out_pos[1, 3:]).all()
    assert np.isfinite(out_pos[[0, 2]]).all()


def test_a_finite_but_far_flung_start_counts_as_blown_up(ethanol):
    # 1e20 Å is finite, but no neighbour list can bin it: the rollout must stop that start, not crash
    topology = radius_topology(ethanol, cutoff=4.0, dtype=torch.float64)
    model = _ConstantVelocity(explode_graph=0, explode_after=1, blow_up=1e20)
    out_pos, _ = rollout(model, topology, ethanol.positions[[0, 10]], ethanol.velocities[[0, 10]], 1.0, 4)
    assert np.isfinite(out_pos[0, :2]).all() and np.isnan(out_pos[0, 2:]).all()
    assert np.isfinite(out_pos[1]).all()


def test_rollout_refuses_bad_shapes_and_steps(ethanol):
    topology = radius_topology(ethanol, cutoff=4.0)
    with pytest.raises(ConfigError, match=r"\(B, 9, 3\)"):
        rollout(_ConstantVelocity(), topology, ethanol.positions[0], ethanol.velocities[0], 1.0, 2)
    with pytest.raises(ConfigError, match="n_steps"):
        rollout(_ConstantVelocity(), topology, ethanol.positions[:1], ethanol.velocities[:1], 1.0, 0)


def test_momenta_are_conserved_along_real_nve_md(ethanol):
    masses = ethanol.masses
    p = linear_momentum(masses, ethanol.velocities)
    L = angular_momentum(masses, ethanol.positions, ethanol.velocities)
    assert np.abs(p - p[0]).max() < 1e-10
    # velocity Verlet conserves angular momentum up to O(dt^2) wobble; 400 steps of ethanol: tiny
    assert np.abs(L - L[0]).max() < 1e-3 * np.abs(L).max()
    # and a rigid rotation has the expected L = I w for a point pair
    two = np.array([[1.0, 0, 0], [-1.0, 0, 0]])[None]
    spin = np.array([[0, 1.0, 0], [0, -1.0, 0]])[None]
    np.testing.assert_allclose(angular_momentum(np.array([2.0, 2.0]), two, spin)[0], [0, 0, 4.0])


def test_energies_match_the_generator(ethanol):
    np.testing.assert_allclose(kinetic_energy(ethanol.masses, ethanol.velocities), ethanol.kinetic_energies(), rtol=1e-12)
    potential = make_potential("mmff", prepare_molecule("CCO"))
    np.testing.assert_allclose(potential_energy(potential, ethanol.positions[:20]), ethanol.energies[:20], atol=1e-9)
    frames = ethanol.positions[:3].copy()
    frames[1, 0, 0] = np.nan
    assert np.isnan(potential_energy(potential, frames)[1])


def test_bond_strain_and_time_to_blow_up():
    ref = np.array([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]])
    bonds = (np.array([0, 1]), np.array([1, 2]))
    frames = np.stack([ref, ref * 1.2, ref * 1.7, ref])
    strain = max_bond_strain(frames, bonds, ref)
    np.testing.assert_allclose(strain, [0.0, 0.2, 0.7, 0.0])
    assert steps_until_unphysical(strain, threshold=0.5) == 2
    assert steps_until_unphysical(np.array([0.1, np.nan, 0.1])) == 1
    assert steps_until_unphysical(np.array([0.1, 0.2])) == 2


def test_metrics_in_the_papers_units():
    pred, target = np.zeros((4, 3)), np.full((4, 3), 0.1)
    assert position_mse(pred, target) == pytest.approx(0.01)
    assert position_mse(torch.zeros(4, 3), torch.full((4, 3), 0.1)) == pytest.approx(0.01)
    assert as_x100(0.1441) == pytest.approx(14.41)
    curve = rollout_mse(np.zeros((2, 3, 4, 3)), np.stack([np.zeros((3, 4, 3)), np.ones((3, 4, 3))]))
    np.testing.assert_allclose(curve, [0.5, 0.5, 0.5])
