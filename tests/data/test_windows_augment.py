"""Energy and force labels of windows, and the training variants of ``augmented``."""

import numpy as np
import pytest
import torch

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.data import GraphTensors
from chemnoether.simulation import generate_md
from chemnoether.simulation.generate import make_potential, prepare_molecule
from chemnoether.simulation.integrators import MDState, VelocityVerlet
from chemnoether.data.windows import PairWindows, RolloutWindows, augmented
from chemnoether.errors import ConfigError

DELTA = 10


@pytest.fixture(scope="module")
def ethanol():
    return generate_md("ethanol", 80, seed=0, progress=False, equilibration_steps=300)


def tensors(windows, indices=None) -> GraphTensors:
    return GraphTensors.from_graph(windows.batch(list(range(len(windows))) if indices is None else indices))


def test_windows_carry_the_energy_and_forces_of_their_input_frame(ethanol):
    windows = PairWindows(ethanol, DELTA, [0, 7, 30], graph="radius", dtype=torch.float64)
    batch = tensors(windows)
    np.testing.assert_array_equal(batch.system[keys.ENERGY].numpy(), ethanol.energies[[0, 7, 30]])
    np.testing.assert_array_equal(batch.atom[keys.FORCES].numpy().reshape(3, -1, 3), ethanol.forces[[0, 7, 30]])
    heavy = tensors(PairWindows(ethanol, DELTA, [0], graph="radius", heavy_atoms=True))
    assert keys.ENERGY in heavy.system and keys.FORCES not in heavy.atom  # a subset's forces are no gradient


def test_time_reversed_window_swaps_the_states_and_negates_velocities(ethanol):
    windows = PairWindows(ethanol, DELTA, [0, 20, 45], graph="radius", dtype=torch.float64)
    both = augmented(windows, time_reversal=True)
    assert len(both) == 2 * len(windows) and len(windows) == 3  # the original is unchanged
    forward, backward = tensors(both, [0, 1, 2]), tensors(both, [3, 4, 5])
    atom_f, atom_b = forward.atom, backward.atom
    torch.testing.assert_close(atom_b[keys.POS], atom_f[keys.NEXT_POS], rtol=0, atol=0)
    torch.testing.assert_close(atom_b[keys.NEXT_POS], atom_f[keys.POS], rtol=0, atol=0)
    torch.testing.assert_close(atom_b[keys.VEL], -atom_f[keys.NEXT_VEL], rtol=0, atol=0)
    torch.testing.assert_close(atom_b[keys.NEXT_VEL], -atom_f[keys.VEL], rtol=0, atol=0)
    np.testing.assert_array_equal(backward.system[keys.ENERGY].numpy(), ethanol.energies[[10, 30, 55]])
    np.testing.assert_array_equal(both.frame_indices()[3:], windows.frame_indices()[:, ::-1])


def test_a_time_reversed_window_is_what_the_reference_md_does(ethanol):
    """Velocity Verlet under MMFF94 from the reversed window's input lands on its target."""
    both = augmented(PairWindows(ethanol, DELTA, [25], graph="radius", dtype=torch.float64), time_reversal=True)
    reversed_window = tensors(both, [1]).atom
    potential = make_potential("mmff", prepare_molecule(ethanol.metadata["smiles"]))
    pos = reversed_window[keys.POS].numpy().copy()
    energy, forces = potential.energy_forces(pos)
    state = MDState(pos, reversed_window[keys.VEL].numpy().copy(), forces, energy)
    VelocityVerlet(potential, ethanol.masses, ethanol.dt_fs).run(state, DELTA)
    np.testing.assert_allclose(state.positions, reversed_window[keys.NEXT_POS].numpy(), atol=1e-6)
    np.testing.assert_allclose(state.velocities, reversed_window[keys.NEXT_VEL].numpy(), atol=1e-7)


def test_time_reversal_needs_trajectory_velocities(ethanol):
    windows = PairWindows(ethanol, DELTA, [0], graph="radius", velocity="forward_difference")
    with pytest.raises(ConfigError, match="trajectory's own velocities"):
        augmented(windows, time_reversal=True)
    with pytest.raises(ConfigError, match="already augmented"):
        augmented(augmented(PairWindows(ethanol, DELTA, [0], graph="radius"), time_reversal=True), time_reversal=True)


def test_input_noise_moves_inputs_only_without_net_momentum(ethanol):
    windows = PairWindows(ethanol, DELTA, [0, 20, 45], graph="radius", dtype=torch.float64)
    clean = tensors(windows)
    noisy_windows = augmented(windows, position_noise=0.01, velocity_noise=0.002, seed=4)
    noisy, again = tensors(noisy_windows), tensors(noisy_windows)
    for key in (keys.NEXT_POS, keys.NEXT_VEL, keys.FORCES):
        torch.testing.assert_close(noisy.atom[key], clean.atom[key], rtol=0, atol=0)
    d_pos = noisy.atom[keys.POS] - clean.atom[keys.POS]
    d_vel = noisy.atom[keys.VEL] - clean.atom[keys.VEL]
    assert 0.005 < float(d_pos.std()) < 0.02 and 0.001 < float(d_vel.std()) < 0.004
    masses = clean.atom[keys.MASSES].unsqueeze(1)
    momentum = torch.zeros(3, 3, dtype=d_vel.dtype).index_add_(0, clean.atom_graph, masses * d_vel)
    torch.testing.assert_close(momentum, torch.zeros_like(momentum), rtol=0, atol=1e-12)
    # first order in the displacement: E - F . d_pos
    shift = -(clean.atom[keys.FORCES] * d_pos).sum(dim=1)
    expected = clean.system[keys.ENERGY] + torch.zeros(3, dtype=shift.dtype).index_add_(0, clean.atom_graph, shift)
    torch.testing.assert_close(noisy.system[keys.ENERGY], expected, rtol=0, atol=1e-12)
    assert not torch.equal(again.atom[keys.POS], noisy.atom[keys.POS])  # fresh noise at every access
    replay = tensors(augmented(windows, position_noise=0.01, velocity_noise=0.002, seed=4))
    torch.testing.assert_close(replay.atom[keys.POS], noisy.atom[keys.POS], rtol=0, atol=0)


def test_rollout_targets_stay_inside_the_frames_of_the_windows(ethanol):
    windows = PairWindows(ethanol, DELTA, list(range(0, 30)), graph="radius", dtype=torch.float64)  # frames 0..39
    rollout = augmented(windows, horizon=3)
    assert isinstance(rollout, RolloutWindows) and rollout.horizon == 3
    assert rollout.starts.tolist() == list(range(0, 10))  # 0 + 30 frames ... 9 + 30 = 39
    assert rollout.frame_indices().max() == 39
    batch = tensors(rollout, [4])
    for step in range(3):
        np.testing.assert_array_equal(batch.atom[keys.ROLLOUT_POS][:, step].numpy(), ethanol.positions[4 + DELTA * (step + 1)])
    with pytest.raises(ConfigError, match="no start frame"):
        augmented(PairWindows(ethanol, DELTA, [0, 5], graph="radius"), horizon=2)
    with pytest.raises(ConfigError, match="position_noise"):
        augmented(windows, position_noise=-1.0)
