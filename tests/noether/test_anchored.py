"""The kinetic-anchored g, the learned-energy g, and the R^2 of a g against the reference energy."""

import numpy as np
import pytest
import torch

from chemnoether.data import GraphTensors, PairWindows
from chemnoether.simulation import generate_md
from chemnoether.errors import ConfigError
from chemnoether.models import build_model
from chemnoether.nn.testing import float64_default, permute_batch, random_orthogonal, rotate_batch
from chemnoether.noether import kinetic_energy_per_graph
from chemnoether.noether.anchored import KineticAnchoredEnergy, at_rest, kinetic_anchor_loss, trajectory_anchor_loss
from chemnoether.noether.checks import check_noether_loss_invariant
from chemnoether.noether.oracles import LearnedTotalEnergy, TotalEnergy
from chemnoether.noether.pretrain import _next_state, pretrain_embedding
from chemnoether.noether.readout import g_energy_r2, linear_readout_r2
from chemnoether.noether.recipe import TailoringSection, g_from_spec, g_spec, tailored

from .conftest import HCO, tiny_model


@pytest.fixture(scope="module")
def long_ethanol():
    return generate_md("ethanol", 400, seed=0, progress=False, equilibration_steps=300)


def windows(traj, starts):
    return PairWindows(traj, 10, list(starts), graph="smiles", cutoff=5.0, dtype=torch.float64)


def tensors(ws) -> GraphTensors:
    return GraphTensors.from_graph(ws.batch(list(range(len(ws)))))


def anchored(seed=0):
    torch.manual_seed(seed)
    return KineticAnchoredEnergy(HCO, hidden=16, layers=1).double()


def test_anchored_g_is_kinetic_plus_an_invariant_potential(long_ethanol):
    g, batch = anchored(), tensors(windows(long_ethanol, (0, 50, 100)))
    torch.testing.assert_close(g(batch).squeeze(1) - kinetic_energy_per_graph(batch), g(at_rest(batch)).squeeze(1), rtol=0, atol=1e-12)
    torch.testing.assert_close(g(rotate_batch(batch, random_orthogonal())), g(batch), rtol=0, atol=1e-10)
    permutation = torch.randperm(batch.atom_graph.shape[0])
    torch.testing.assert_close(g(permute_batch(batch, permutation)), g(batch), rtol=0, atol=1e-10)
    check_noether_loss_invariant(g, batch)  # what NoetherTailoredModel checks before tailoring


def test_a_constant_potential_cannot_lower_the_anchor_loss(long_ethanol):
    g, batch = anchored(), tensors(windows(long_ethanol, range(0, 300, 10)))
    with torch.no_grad():
        g.potential.head[-1].weight.zero_()  # V_phi now the same constant for every state
    assert float(kinetic_anchor_loss(g, batch, _next_state(batch)).detach()) == pytest.approx(1.0, rel=1e-9)


def test_the_trajectory_anchor_is_zero_for_the_true_energy_and_one_for_a_constant_potential(long_ethanol):
    batch = tensors(windows(long_ethanol, range(0, 300, 7)))  # states far apart on one NVE trajectory
    true_energy = g_from_spec({"kind": "energy", "smiles": "CCO"})
    ratio = trajectory_anchor_loss(true_energy, batch)
    assert float(ratio) < 1e-3  # only the 0.5 fs Verlet integrator's energy error is left
    g = anchored()
    with torch.no_grad():
        g.potential.head[-1].weight.zero_()
    assert float(trajectory_anchor_loss(g, batch).detach()) == pytest.approx(1.0, rel=1e-9)


def test_pretraining_on_the_whole_trajectory_learns_the_potential_without_labels(long_ethanol):
    train, test = windows(long_ethanol, range(0, 250)), windows(long_ethanol, range(270, 390, 2))
    g = anchored()
    before_r2 = g_energy_r2(g, test)["potential"]
    pretrain_embedding(g, train, 150, batch_size=32, lr=3e-3, anchor="trajectory", schedule="one_cycle", clip_norm=10.0)
    after_r2 = g_energy_r2(g, test)["potential"]
    # measured: R^2 0.04 -> 0.47 on frames it never saw (150 steps)
    assert after_r2 > before_r2 + 0.3, (before_r2, after_r2)


def test_pretraining_the_anchored_g_learns_the_potential_without_labels(long_ethanol):
    train, test = windows(long_ethanol, range(0, 250)), windows(long_ethanol, range(270, 390, 2))
    held_out = tensors(test)
    g = anchored()
    before_loss = float(kinetic_anchor_loss(g, held_out, _next_state(held_out)).detach())
    before_r2 = g_energy_r2(g, test)["potential"]
    pretrain_embedding(g, train, 150, batch_size=32, lr=3e-3)
    after_loss = float(kinetic_anchor_loss(g, held_out, _next_state(held_out)).detach())
    after_r2 = g_energy_r2(g, test)["potential"]
    # measured: loss 1.01 -> 0.44 and R^2 0.04 -> 0.46 on frames it never saw (150 steps)
    assert after_loss < 0.7 * before_loss and after_r2 > before_r2 + 0.2


def test_linear_readout_r2():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3))
    target = features @ [1.0, -2.0, 0.5] + 3.0
    assert linear_readout_r2(features, target) == pytest.approx(1.0, abs=1e-12)
    mixed = features @ rng.normal(size=(3, 3)) + 7.0  # an invertible affine map loses nothing
    assert linear_readout_r2(mixed, target) == pytest.approx(1.0, abs=1e-12)
    noisy = target + rng.normal(scale=np.std(target), size=200)  # half the variance is noise
    assert 0.35 < linear_readout_r2(features, noisy) < 0.65
    assert linear_readout_r2(rng.normal(size=(200, 1)), target) < 0.05
    with pytest.raises(ConfigError, match="2 of 200 states"):
        linear_readout_r2(np.where(np.arange(200)[:, None] < 2, np.nan, features), target)
    with pytest.raises(ConfigError, match="all equal"):
        linear_readout_r2(features, np.ones(200))
    with pytest.raises(ConfigError, match="at least 5"):
        linear_readout_r2(features[:4], target[:4])


def test_energy_r2_of_the_true_energy_is_one_and_of_the_kinetic_energy_is_not(long_ethanol):
    test = windows(long_ethanol, range(0, 380, 7))
    truth = g_energy_r2(g_from_spec({"kind": "energy", "smiles": "CCO"}), test)
    assert truth["potential"] == pytest.approx(1.0, abs=1e-6) and truth["total"] == pytest.approx(1.0, abs=1e-6)
    assert truth["n_states"] == len(test)
    kinetic = g_energy_r2(TotalEnergy(None), test)
    assert kinetic["potential"] == pytest.approx(0.0, abs=1e-9)  # zero at rest: knows nothing of V
    assert kinetic["total"] < truth["total"] - 0.01


def test_learned_energy_g_reads_the_model_it_tailors(long_ethanol):
    batch = tensors(windows(long_ethanol, (0, 40)))
    with pytest.raises(ConfigError, match="energy head"):
        tailored(tiny_model(), TailoringSection(g="learned_energy"))
    model = tailored(tiny_model(energy_head=True), TailoringSection(g="learned_energy"))
    g = model.g
    assert isinstance(g, LearnedTotalEnergy) and not list(g.parameters())
    expected = kinetic_energy_per_graph(batch) + model.model.potential_energy(batch)
    torch.testing.assert_close(g(batch).squeeze(1), expected, rtol=0, atol=0)
    assert g_spec(g) == {"kind": "learned_energy"}
    assert not any(key.startswith("g.") for key in model.state_dict())  # the model's weights are stored once
    with float64_default():
        twin = build_model(model.kind, **model.config).double()
    twin.load_state_dict(model.state_dict())
    assert twin.g.model is twin.model
    torch.testing.assert_close(twin(batch).pos, model(batch).pos, rtol=0, atol=1e-10)
    with pytest.raises(ConfigError, match="pass the model"):
        g_from_spec({"kind": "learned_energy"})
    model.float()  # g has no weights of its own: the R^2 runs in its model's dtype
    assert g_energy_r2(g, windows(long_ethanol, range(0, 300, 20)))["n_states"] == 15


def test_anchored_g_in_a_recipe_round_trips():
    section = TailoringSection(g="anchored", hidden=8, layers=1, pretrain_steps=10)
    g = g_from_spec(section.g_spec(HCO, None))
    assert isinstance(g, KineticAnchoredEnergy) and g_from_spec(g_spec(g)).config == g.config
    with pytest.raises(ConfigError, match="pretrain_steps"):
        TailoringSection(g="learned_energy", pretrain_steps=10)
