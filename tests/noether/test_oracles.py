"""Oracle conserved quantities agree with evaluate.physics and have the g interface."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from chemnoether import keys
from chemnoether.errors import ConfigError
from chemnoether.evaluate import physics
from chemnoether.nn.testing import random_orthogonal, rotate_batch, translate_batch
from chemnoether.noether import (
    AngularMomentum,
    LinearMomentum,
    TotalEnergy,
    harmonic_bond_potential,
    kinetic_energy_per_graph,
)

from .conftest import batch_of, graphs_of


@pytest.fixture(scope="module")
def batch(ethanol, toluene):
    return batch_of(graphs_of(ethanol, [0]) + graphs_of(toluene, [5]))


def per_graph_numpy(batch, function):
    rows, start = [], 0
    for n in batch.num_atoms.tolist():
        atoms = slice(start, start + n)
        rows.append(function(*(batch.atom[k][atoms].numpy() for k in (keys.MASSES, keys.POS, keys.VEL))))
        start += n
    return torch.tensor(np.array(rows))


def test_momenta_and_kinetic_energy_match_physics(batch):
    expected_p = per_graph_numpy(batch, lambda m, x, v: physics.linear_momentum(m, v))
    expected_l = per_graph_numpy(batch, lambda m, x, v: physics.angular_momentum(m, x, v))
    expected_k = per_graph_numpy(batch, lambda m, x, v: physics.kinetic_energy(m, v))
    torch.testing.assert_close(LinearMomentum()(batch), expected_p)
    torch.testing.assert_close(AngularMomentum()(batch), expected_l)
    torch.testing.assert_close(kinetic_energy_per_graph(batch), expected_k)
    torch.testing.assert_close(TotalEnergy()(batch), expected_k.unsqueeze(1))


def test_angular_momentum_about_centre_of_mass(batch):
    torch.testing.assert_close(AngularMomentum()(translate_batch(batch, torch.tensor([5.0, -3.0, 2.0]))),
                               AngularMomentum()(batch))
    # a proper rotation turns L; a uniform extra velocity leaves it alone
    matrix = random_orthogonal(torch.float64, parity=False)
    torch.testing.assert_close(AngularMomentum()(rotate_batch(batch, matrix)), AngularMomentum()(batch) @ matrix.T)
    drifting = replace(batch, atom={**batch.atom, keys.VEL: batch.atom[keys.VEL] + 0.01})
    torch.testing.assert_close(AngularMomentum()(drifting), AngularMomentum()(batch))


def test_harmonic_bond_potential(batch):
    potential = harmonic_bond_potential(batch, stiffness=2.0)
    torch.testing.assert_close(potential(batch), torch.zeros(2, dtype=torch.float64))
    stretched = replace(batch, atom={**batch.atom, keys.POS: batch.atom[keys.POS] * 1.1})
    energy = potential(stretched)
    assert energy.shape == (2,) and (energy > 0).all()
    total = TotalEnergy(potential)(stretched)
    torch.testing.assert_close(total[:, 0], kinetic_energy_per_graph(stretched) + energy)
    with pytest.raises(ConfigError):
        harmonic_bond_potential(batch, stiffness=0.0)
    with pytest.raises(ConfigError):
        TotalEnergy(potential=3.0)
