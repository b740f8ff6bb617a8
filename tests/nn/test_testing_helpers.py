"""The shared model checks catch what they are meant to catch (a check that always passes proves nothing)."""

import pytest
import torch

import chemnoether  # noqa: F401
from chemnoether import keys
from chemnoether.data import GraphTensors, PairWindows
from chemnoether.simulation import generate_md
from chemnoether.models import ConstantVelocity, Prediction
from chemnoether.nn.testing import (
    assert_batch_invariant,
    assert_equivariant_dynamics,
    assert_momentum_conserved,
    permute_batch,
)


@pytest.fixture(scope="module")
def windows():
    traj = generate_md("methanol", 40, progress=False, equilibration_steps=100)
    return PairWindows(traj, 5, [0, 10, 20], graph="radius", dtype=torch.float64)


class Broken(torch.nn.Module):
    def __init__(self, flaw):
        super().__init__()
        self.flaw = flaw

    def forward(self, batch):
        p = ConstantVelocity()(batch)
        return Prediction(pos=p.pos + self.flaw(batch), vel=p.vel)


FLAWS = {
    "rotation_parity": lambda b: 0.01 * torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
    "translation": lambda b: 0.01 * b.atom[keys.POS],
    # an invariant weight per atom times a vector: rotation and translation pass, permutation fails
    "permutation": lambda b: torch.arange(b.atom_graph.shape[0], dtype=torch.float64).unsqueeze(1) * b.atom[keys.VEL],
}


@pytest.mark.parametrize("broken", list(FLAWS))
def test_equivariance_check_catches_each_flaw(broken, windows):
    batch = GraphTensors.from_graph(windows.batch([0, 1]))
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match=rf"beyond atol=1e-10: {{'{broken}\.pos': [^,}}]*}} \("):  # that flaw only
        assert_equivariant_dynamics(Broken(FLAWS[broken]), batch)


def test_momentum_and_batching_checks_catch_leaks(windows):
    batch = GraphTensors.from_graph(windows.batch([0, 1]))
    with pytest.raises(AssertionError, match="momentum"):
        assert_momentum_conserved(Broken(lambda b: 0.01 * (b.atom[keys.POS] - b.atom[keys.POS].mean(0))), batch)
    leak = Broken(lambda b: 1e-3 * b.atom[keys.POS].mean(0) * b.num_graphs)  # depends on the other graphs
    with pytest.raises(AssertionError, match="other graphs"):
        assert_batch_invariant(leak, [windows[0], windows[1]])


def test_permute_batch_remaps_edges(windows):
    batch = GraphTensors.from_graph(windows.batch([0, 1]))
    perm = torch.randperm(batch.atom_graph.shape[0])
    moved = permute_batch(batch, perm)
    pos, new_pos = batch.atom[keys.POS], moved.atom[keys.POS]
    lengths = (pos[batch.near_index[1]] - pos[batch.near_index[0]]).norm(dim=1)
    new_lengths = (new_pos[moved.near_index[1]] - new_pos[moved.near_index[0]]).norm(dim=1)
    torch.testing.assert_close(new_lengths, lengths)
    assert torch.equal(moved.atom_graph, batch.atom_graph[perm])
