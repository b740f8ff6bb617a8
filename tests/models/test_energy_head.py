"""The learned potential energy of EquivariantDynamics: invariance, forces as -dE/dx, training, old checkpoints."""

import pytest
import torch

import chemnoether
from chemnoether import keys
from chemnoether.errors import ConfigError, GraphFormatError
from chemnoether.models import EquivariantDynamics, build_model
from chemnoether.models.from_data import complete_model_options, energy_statistics
from chemnoether.nn.testing import float64_default, permute_batch, random_orthogonal, rotate_batch, translate_batch
from chemnoether.train.checkpoint import FORMAT, load_model, save_checkpoint
from chemnoether.train.config import LossWeights
from chemnoether.train.loss import energy_force_loss

from .conftest import HCO, batch_of, windows

SMALL = {"channels": 4, "layers": 2, "radial_neurons": 8, "num_basis": 4}


def model(seed=0, **options):
    torch.manual_seed(seed)
    with float64_default():  # e3nn's constants in float64 (see nn.testing)
        return EquivariantDynamics(HCO, **{**SMALL, "energy_head": True, "energy_scale": 0.3, **options}).double()


def test_energy_is_invariant_and_forces_turn_with_the_molecule(ethanol):
    torch.manual_seed(1)
    net, batch = model(), batch_of(ethanol)
    energy, forces = net.energy_and_forces(batch)
    assert energy.shape == (batch.num_graphs,) and forces.shape == batch.atom[keys.POS].shape
    matrix = random_orthogonal(parity=True)  # a rotation times an inversion
    turned_energy, turned_forces = net.energy_and_forces(rotate_batch(batch, matrix))
    torch.testing.assert_close(turned_energy, energy, rtol=0, atol=1e-10)
    torch.testing.assert_close(turned_forces, forces @ matrix.T, rtol=0, atol=1e-10)
    moved = translate_batch(batch, torch.tensor([3.0, -1.5, 0.25], dtype=torch.float64))
    torch.testing.assert_close(net.potential_energy(moved), energy, rtol=0, atol=1e-10)
    permutation = torch.randperm(batch.atom_graph.shape[0])
    permuted_energy, permuted_forces = net.energy_and_forces(permute_batch(batch, permutation))
    torch.testing.assert_close(permuted_energy, energy, rtol=0, atol=1e-10)
    torch.testing.assert_close(permuted_forces, forces[permutation], rtol=0, atol=1e-10)


def test_energy_does_not_depend_on_velocities(ethanol):
    net, batch = model(), batch_of(ethanol)
    fast = type(batch)(**{**batch.__dict__, "atom": {**batch.atom, keys.VEL: 3.0 * batch.atom[keys.VEL]}})
    torch.testing.assert_close(net.potential_energy(fast), net.potential_energy(batch), rtol=0, atol=1e-12)


def test_forces_are_minus_the_gradient_by_finite_differences(ethanol):
    net, batch = model(seed=2), batch_of(ethanol, starts=(0, 40))
    _, forces = net.energy_and_forces(batch)
    pos, h = batch.atom[keys.POS], 1e-5
    for atom, axis in [(0, 0), (3, 1), (8, 2), (11, 0)]:  # atoms of both graphs (9 atoms each)
        step = torch.zeros_like(pos)
        step[atom, axis] = h
        with torch.no_grad():
            up = net.potential_energy(type(batch)(**{**batch.__dict__, "atom": {**batch.atom, keys.POS: pos + step}})).sum()
            down = net.potential_energy(type(batch)(**{**batch.__dict__, "atom": {**batch.atom, keys.POS: pos - step}})).sum()
        assert float(forces[atom, axis]) == pytest.approx(-float(up - down) / (2 * h), rel=1e-6, abs=1e-9)


def test_energy_head_leaves_the_dynamics_and_the_old_config_unchanged(ethanol):
    torch.manual_seed(0)
    with float64_default():
        plain = EquivariantDynamics(HCO, **SMALL).double()
    batch = batch_of(ethanol)
    with_head = model(seed=0)  # same seed: the head's weights are drawn after all the others
    torch.testing.assert_close(with_head(batch).pos, plain(batch).pos, rtol=0, atol=0)
    assert not any("energy" in key for key in plain.config)
    assert not any("energy" in key for key in plain.state_dict())
    with pytest.raises(ConfigError, match="energy_head=True"):
        plain.potential_energy(batch)


def test_a_checkpoint_without_the_head_still_loads(ethanol, tmp_path):
    torch.manual_seed(0)
    plain = build_model("equivariant", elements=HCO, **SMALL)
    path = save_checkpoint(tmp_path / "old.pt", {
        "format": FORMAT, "model_kind": plain.kind, "model_config": plain.config, "model_state": plain.state_dict(),
        "chemnoether_version": chemnoether.__version__,
    })
    loaded = load_model(path)
    assert loaded.energy_head is None
    batch = batch_of(ethanol).to(dtype=torch.float32)
    torch.testing.assert_close(loaded(batch).pos, plain.eval()(batch).pos, rtol=0, atol=0)


@pytest.mark.slow
def test_training_on_forces_reduces_the_force_error(ethanol):
    held_out = batch_of(ethanol, starts=range(3, 240, 12))
    train_batch = batch_of(ethanol, starts=range(0, 240, 6))
    stats = energy_statistics([train_batch])
    net = model(seed=3, energy_scale=stats["energy_scale"], energy_shift=stats["energy_shift"])
    weights = LossWeights(pos=1.0, vel=1.0, energy=1.0, forces=1.0)
    assert stats["energy_scale"] > 0.3  # the RMS force component, not the energy's small spread
    with torch.no_grad():
        before = float(energy_force_loss(net, held_out, LossWeights(energy=0.0, forces=1.0)))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(80):
        optimizer.zero_grad()
        energy_force_loss(net, train_batch, weights).backward()
        optimizer.step()
    with torch.no_grad():
        after = float(energy_force_loss(net, held_out, LossWeights(energy=0.0, forces=1.0)))
    assert after < 0.7 * before


def test_energy_statistics_fill_the_head_options_and_need_energies(ethanol):
    ws = windows(ethanol, starts=range(0, 240, 6))
    options = complete_model_options("equivariant", {"energy_head": True, **SMALL}, ws)
    energies = torch.as_tensor(ethanol.energies[ws.starts])
    assert options["energy_shift"] == pytest.approx(float(energies.mean()) / ethanol.n_atoms, rel=1e-5)
    forces = torch.as_tensor(ethanol.forces[ws.starts])
    assert options["energy_scale"] == pytest.approx(float(forces.pow(2).mean().sqrt()), rel=1e-5)
    assert "energy_scale" not in complete_model_options("equivariant", dict(SMALL), ws)
    no_energy = type(ethanol)(ethanol.atomic_numbers, ethanol.positions, dt_fs=ethanol.dt_fs,
                              velocities=ethanol.velocities, metadata=ethanol.metadata)
    with pytest.raises(GraphFormatError, match="energies"):
        complete_model_options("equivariant", {"energy_head": True}, windows(no_energy, starts=(0, 10)))
