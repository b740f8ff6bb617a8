"""EquivariantDynamics: higher l, edge choices, the cutoff, the conditioning hook, options, a tiny overfit."""

import pytest
import torch
from e3nn import o3

from chemnoether import keys
from chemnoether.errors import ConfigError
from chemnoether.models import EquivariantDynamics, dataset_statistics
from chemnoether.nn import BlockCondition
from chemnoether.nn.testing import (
    assert_equivariant_dynamics,
    assert_momentum_conserved,
    float64_default,
)

from .conftest import HCO, batch_of


def model(**options):
    torch.manual_seed(0)
    with float64_default():
        return EquivariantDynamics(HCO, **{"channels": 8, "layers": 2, **options}).double()


def test_default_model_with_l2_and_velocity_harmonics_is_equivariant(ethanol):
    torch.manual_seed(3)
    with float64_default():  # e3nn's constants in float64 (see nn.testing)
        net = EquivariantDynamics(HCO, l_max=2).double()
    assert net.irreps_hidden == o3.Irreps("32x0e+32x1o+32x2e")
    assert net.embedding.irreps_attrs == o3.Irreps("3x0e+1x0e+1x1o+1x2e")
    assert net.irreps_out == o3.Irreps("2x1o")
    assert_equivariant_dynamics(net, batch_of(ethanol, "md17"), atol=1e-10)


@pytest.mark.parametrize("edges", ["near", "bond", "both"])
def test_edge_choices(edges, ethanol):
    batch = batch_of(ethanol, "smiles", cutoff=3.0)  # bonds and a 3 Å radius graph
    assert batch.bond_index.shape[1] and batch.near_index.shape[1]
    assert_equivariant_dynamics(model(edges=edges), batch, atol=1e-10)


def test_both_edge_sets_differ_from_one(ethanol):
    batch = batch_of(ethanol, "smiles", cutoff=3.0)
    assert not torch.allclose(model(edges="both")(batch).pos, model(edges="near")(batch).pos)


def test_edges_beyond_the_cutoff_change_nothing(ethanol):
    batch = batch_of(ethanol, "radius")  # 5 Å graph
    net = model(cutoff=2.0)
    vectors = batch.atom[keys.POS][batch.near_index[1]] - batch.atom[keys.POS][batch.near_index[0]]
    keep = vectors.norm(dim=1) < 2.0
    assert 0 < int(keep.sum()) < keep.numel()
    pruned = type(batch)(**{**batch.__dict__, "near_index": batch.near_index[:, keep], "near": {k: v[keep] for k, v in batch.near.items()}})
    torch.testing.assert_close(net(pruned).pos, net(batch).pos, rtol=0, atol=1e-13)


def test_conditioning_hook(ethanol):
    net = model()
    batch = batch_of(ethanol)
    assert net.conditioning_sizes == ((16, 8), (16, 8))
    b = batch.num_graphs
    identity = [BlockCondition(scale=torch.ones(b, 16, dtype=torch.float64), shift=torch.zeros(b, 8, dtype=torch.float64))] * 2
    plain = net(batch)
    torch.testing.assert_close(net(batch, conditioning=identity).pos, plain.pos, rtol=0, atol=1e-14)
    torch.testing.assert_close(net(batch, conditioning=[None, None]).vel, plain.vel, rtol=0, atol=0)

    torch.manual_seed(5)
    conditions = [BlockCondition(scale=1 + 0.3 * torch.randn(b, 16, dtype=torch.float64), shift=torch.randn(b, 8, dtype=torch.float64)), None]
    conditioned = lambda batch: net(batch, conditioning=conditions)
    assert not torch.allclose(conditioned(batch).pos, plain.pos)
    assert_equivariant_dynamics(conditioned, batch, atol=1e-10)
    assert_momentum_conserved(conditioned, batch, atol=1e-10)


def test_conditioning_gives_each_graph_its_own_gradient(ethanol):
    net = model()
    batch = batch_of(ethanol)
    scale = torch.ones(batch.num_graphs, 16, dtype=torch.float64, requires_grad=True)
    prediction = net(batch, conditioning=[BlockCondition(scale=scale), None])
    loss = (prediction.pos - batch.atom[keys.NEXT_POS]).pow(2).sum()
    (grad,) = torch.autograd.grad(loss, scale)
    # graph 0's gradient only from graph 0's atoms: same as with graph 0 alone
    alone = batch_of(ethanol, starts=(0,))
    scale0 = torch.ones(1, 16, dtype=torch.float64, requires_grad=True)
    p0 = net(alone, conditioning=[BlockCondition(scale=scale0), None])
    (grad0,) = torch.autograd.grad((p0.pos - alone.atom[keys.NEXT_POS]).pow(2).sum(), scale0)
    torch.testing.assert_close(grad[:1], grad0, rtol=0, atol=1e-12)


def test_conditioning_length_is_checked(ethanol):
    with pytest.raises(ConfigError, match="one BlockCondition"):
        model()(batch_of(ethanol), conditioning=[None])


@pytest.mark.parametrize(
    "options",
    [{"channels": 0}, {"layers": 1.5}, {"l_max": 4}, {"l_max": 0}, {"edges": "radius"}, {"velocity_scale": -1.0},
     {"avg_num_neighbors": 0}, {"conserve_momentum": "yes"}, {"cutoff": float("inf")}, {"cutoff_power": 1}],
)
def test_bad_options(options):
    with pytest.raises(ConfigError):
        EquivariantDynamics(HCO, **options)


def test_overfits_eight_windows(ethanol):
    """200 Adam steps on 8 real windows (delta 10 frames = 5 fs) cut the loss by far."""
    batch = batch_of(ethanol, "radius", starts=range(0, 280, 35))
    assert batch.num_graphs == 8
    stats = dataset_statistics([batch])
    torch.manual_seed(0)
    net = EquivariantDynamics(HCO, channels=16, layers=2, **stats).double()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)

    def loss():
        p = net(batch)
        return ((p.pos - batch.atom[keys.NEXT_POS]) / stats["dpos_scale"]).pow(2).mean() + (
            (p.vel - batch.atom[keys.NEXT_VEL]) / stats["dvel_scale"]
        ).pow(2).mean()

    first = loss().item()
    for _ in range(200):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    last = loss().item()
    assert last < first / 20, (first, last)


def test_all_parities_model_is_equivariant_and_has_pseudo_irreps(ethanol):
    net = model(parity="all", l_max=2)
    assert net.irreps_hidden == o3.Irreps("8x0o+8x0e+8x1o+8x1e+8x2o+8x2e")
    batch = batch_of(ethanol, "md17")
    assert_equivariant_dynamics(net, batch, atol=1e-10)
    assert_momentum_conserved(net, batch)


def test_learned_ballistic_scale_keeps_the_centre_of_mass_motion(ethanol):
    net = model()
    with torch.no_grad():
        net.ballistic.fill_(0.25)  # scales internal motion only
    assert_momentum_conserved(net, batch_of(ethanol, "md17"))
    frozen = model(learn_ballistic=False)
    assert not frozen.ballistic.requires_grad


def test_rigid_rotation_model_is_equivariant_and_conserves_momentum(ethanol):
    net = model(parity="all", rigid_rotation=True)
    batch = batch_of(ethanol, "md17")
    assert_equivariant_dynamics(net, batch, atol=1e-9)
    assert_momentum_conserved(net, batch)


def test_free_rotor_turns_a_rigid_rotor_exactly():
    # a rigid, spinning dumbbell: the free-rotor baseline alone (no corrections) is the exact motion
    import math

    from chemnoether.models.rigid_rotation import angular_velocity, rotate

    pos = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]], dtype=torch.float64)
    w = 0.01  # rad/fs about z
    vel = torch.cross(torch.tensor([0, 0, w], dtype=torch.float64).expand(4, 3), pos, dim=1)
    masses = torch.ones(4, dtype=torch.float64)
    omega, rel_pos, _ = angular_velocity(pos, vel, masses, torch.zeros(4, dtype=torch.long), 1)
    # the solve carries a 1e-6 relative regularisation (singular inertia of linear molecules)
    torch.testing.assert_close(omega[0], torch.tensor([0, 0, w], dtype=torch.float64), atol=0, rtol=1e-5)
    turned = rotate(rel_pos, (omega * 100.0).expand(4, 3))  # 1 rad
    expected = torch.tensor([[math.cos(1), math.sin(1), 0], [-math.cos(1), -math.sin(1), 0]], dtype=torch.float64)
    torch.testing.assert_close(turned[:2], expected, atol=1e-5, rtol=0)
