"""EquivariantDynamics.node_scalars: invariant per-atom embeddings for the GP heads (float64)."""

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.data import GraphTensors, PairWindows
from chemnoether.simulation import generate_md
from chemnoether.models import EquivariantDynamics
from chemnoether.nn.testing import (
    float64_default,
    permute_batch,
    random_orthogonal,
    rotate_batch,
    translate_batch,
)

HCO = [1, 6, 8]


@pytest.fixture(scope="module")
def batch():
    traj = generate_md("ethanol", 40, seed=0, progress=False, equilibration_steps=300)
    windows = PairWindows(traj, 5, [0, 20], graph="radius", dtype=torch.float64)
    return GraphTensors.from_graph(windows.batch(range(2)))


def build(parity):
    torch.manual_seed(0)
    with float64_default():  # e3nn's constants in float64 (see nn.testing)
        return EquivariantDynamics(HCO, channels=6, layers=2, l_max=2, parity=parity).double()


@pytest.mark.parametrize("parity", ["natural", "all"])
def test_node_scalars_are_invariant_and_permutation_equivariant(batch, parity):
    net = build(parity)
    torch.manual_seed(1)
    with torch.no_grad():
        base = net.node_scalars(batch)
        assert base.shape == (batch.atom_graph.shape[0], 6) and base.dtype == torch.float64
        assert float(base.std()) > 1e-3  # not a constant: the check has teeth
        rotated = net.node_scalars(rotate_batch(batch, random_orthogonal(parity=True)))
        moved = net.node_scalars(translate_batch(batch, 10 * torch.randn(3, dtype=torch.float64)))
        permutation = torch.randperm(batch.atom_graph.shape[0])
        permuted = net.node_scalars(permute_batch(batch, permutation))
    torch.testing.assert_close(rotated, base, rtol=0, atol=1e-10)
    torch.testing.assert_close(moved, base, rtol=0, atol=1e-10)
    torch.testing.assert_close(permuted, base[permutation], rtol=0, atol=1e-10)


def test_with_both_parities_the_pseudoscalars_are_left_out(batch):
    """With parity="all" the hidden irreps start with 0o: those flip sign under inversion."""
    net = build("all")
    assert str(net.irreps_hidden).startswith("6x0o+6x0e")
    inversion = -torch.eye(3, dtype=torch.float64)
    with torch.no_grad():
        hidden, flipped = net._hidden(batch, None), net._hidden(rotate_batch(batch, inversion), None)
    pseudo = slice(0, 6)
    torch.testing.assert_close(flipped[:, pseudo], -hidden[:, pseudo], rtol=0, atol=1e-10)
    assert float(hidden[:, pseudo].abs().max()) > 1e-4  # so taking them would have broken invariance
    torch.testing.assert_close(net.node_scalars(batch), hidden[:, 6:12])


def test_forward_reads_the_same_hidden_features(batch):
    net = build("natural")
    with torch.no_grad():
        out = net(batch)
        readout = net.readout(net._hidden(batch, None))
    assert torch.isfinite(out.pos).all() and readout.shape == (batch.atom_graph.shape[0], 6)
