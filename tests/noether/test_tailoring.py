"""Tailoring: per-graph inner gradients, NaN fallback, oracle drift reduction, config errors, no_grad."""

from dataclasses import replace

import pytest
import torch

from chemnoether import keys
from chemnoether.errors import ConfigError
from chemnoether.noether import (
    LinearMomentum,
    TailoringOptions,
    TotalEnergy,
    as_conditioning,
    harmonic_bond_potential,
    identity_parameters,
    tailor,
    tailoring_loss,
)

from .conftest import batch_of, graphs_of, tiny_model


@pytest.fixture(scope="module")
def graphs(ethanol):
    return graphs_of(ethanol, [0, 20, 40])


@pytest.fixture(scope="module")
def model():
    # momentum not projected: an untrained model then drifts in momentum, which tailoring can fix
    return tiny_model(conserve_momentum=False, channels=4, layers=2)


def inner_gradients(model, batch, g, horizon=2):
    params = identity_parameters(model, batch)
    loss = tailoring_loss(model, batch, g, as_conditioning(params), horizon).sum()
    return torch.autograd.grad(loss, params)


def test_per_graph_gradients_in_a_batch_equal_each_graph_alone(model, graphs):
    g = LinearMomentum()
    together = inner_gradients(model, batch_of(graphs), g)
    assert any(grad.abs().max() > 0 for grad in together)
    for i, graph in enumerate(graphs):
        alone = inner_gradients(model, batch_of([graph]), g)
        for grad_alone, grad_together in zip(alone, together):
            torch.testing.assert_close(grad_together[i : i + 1], grad_alone, atol=1e-12, rtol=1e-9)


def momentum_drift(model, batch, conditioning, horizon):
    return tailoring_loss(model, batch, LinearMomentum(), conditioning, horizon)


def test_momentum_oracle_reduces_drift(model, graphs):
    batch, horizon = batch_of(graphs), 3
    before = momentum_drift(model, batch, None, horizon).detach()
    assert (before > 0).all()
    prediction, info = tailor(model, batch, LinearMomentum(), steps=4, lr=0.05, optimizer="adam", horizon=horizon)
    after = momentum_drift(model, batch, info.conditioning, horizon).detach()
    torch.testing.assert_close(info.loss_before, before)
    assert (after < 0.7 * before).all(), (before, after)
    assert info.kept.all() and not info.failed.any()
    # the prediction is the first step of the tailored rollout
    again = model(batch, conditioning=info.conditioning)
    torch.testing.assert_close(prediction.pos, again.pos)


def test_energy_oracle_with_toy_potential_reduces_drift(model, graphs):
    batch, horizon = batch_of(graphs), 2
    g = TotalEnergy(harmonic_bond_potential(batch, stiffness=5.0))
    before = tailoring_loss(model, batch, g, None, horizon).detach()
    _, info = tailor(model, batch, g, steps=3, lr=0.05, optimizer="adam", horizon=horizon, keep_if_improved=True)
    after = tailoring_loss(model, batch, g, info.conditioning, horizon).detach()
    assert (after <= before).all() and (after < before).any(), (before, after)
    torch.testing.assert_close(after[info.kept], info.loss_after[info.kept])


def test_sgd_step_is_minus_lr_times_gradient(model, graphs):
    batch = batch_of(graphs)
    grads = inner_gradients(model, batch, LinearMomentum(), horizon=1)
    _, info = tailor(model, batch, LinearMomentum(), steps=1, lr=0.3, horizon=1)
    for condition, (grad_scale, grad_shift) in zip(info.conditioning, zip(grads[::2], grads[1::2])):
        torch.testing.assert_close(condition.scale, 1 - 0.3 * grad_scale)
        torch.testing.assert_close(condition.shift, -0.3 * grad_shift)


class NaNForGraph(torch.nn.Module):
    """Linear momentum, but NaN for one graph: its Noether loss is NaN."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph

    def forward(self, state):
        p = LinearMomentum()(state)
        mask = torch.ones_like(p)
        mask[self.graph] = float("nan")
        return p * mask


def test_nan_noether_loss_keeps_untailored_parameters(model, graphs):
    batch = batch_of(graphs)
    prediction, info = tailor(model, batch, NaNForGraph(1), steps=2, lr=0.05, optimizer="adam", horizon=2)
    assert info.failed.tolist() == [False, True, False]
    assert info.kept.tolist() == [True, False, True]
    assert torch.isfinite(prediction.pos).all() and torch.isfinite(prediction.vel).all()
    for condition in info.conditioning:
        assert torch.equal(condition.scale[1], torch.ones_like(condition.scale[1]))
        assert torch.equal(condition.shift[1], torch.zeros_like(condition.shift[1]))
        assert (condition.scale[0] != 1).any()
    untailored = model(batch)
    rows = batch.atom_graph == 1
    torch.testing.assert_close(prediction.pos[rows], untailored.pos[rows])
    torch.testing.assert_close(prediction.vel[rows], untailored.vel[rows])


def test_works_inside_no_grad(model, graphs):
    batch = batch_of(graphs[:1])
    with torch.no_grad():
        prediction, info = tailor(model, batch, LinearMomentum(), lr=0.05, optimizer="adam")
    assert not prediction.pos.requires_grad
    assert (info.conditioning[0].scale != 1).any()


@pytest.mark.parametrize(
    "options",
    [{"steps": 0}, {"steps": -1}, {"lr": 0.0}, {"lr": -0.1}, {"lr": float("nan")}, {"optimizer": "lbfgs"},
     {"horizon": 0}, {"mode": "mean"}, {"steps": 1.5}, {"inner": "mixed"}],
)
def test_bad_config(model, graphs, options):
    with pytest.raises(ConfigError):
        TailoringOptions(**options)
    with pytest.raises(ConfigError):
        tailor(model, batch_of(graphs[:1]), LinearMomentum(), **options)


def test_model_without_conditioning_is_refused(graphs):
    from chemnoether.models.constant_velocity import ConstantVelocity

    with pytest.raises(ConfigError):
        tailor(ConstantVelocity(), batch_of(graphs[:1]), LinearMomentum())


def test_teacher_forced_inner_rollout(model, ethanol):
    from chemnoether.data import RolloutWindows
    from chemnoether.noether import rollout

    ws = RolloutWindows(ethanol, 5, 2, [0, 30], graph="smiles", cutoff=5.0, dtype=torch.float64)
    batch = batch_of([ws[0], ws[1]])
    forced = rollout(model, batch, None, 2, teacher_forced=True)
    free = rollout(model, batch, None, 2)
    torch.testing.assert_close(forced[1].atom[keys.POS], free[1].atom[keys.POS])  # the same first step
    true_1 = replace(batch, atom={**batch.atom, keys.POS: batch.atom[keys.ROLLOUT_POS][:, 0],
                                  keys.VEL: batch.atom[keys.ROLLOUT_VEL][:, 0]})
    torch.testing.assert_close(forced[2].atom[keys.POS], model(true_1).pos)
    assert (forced[2].atom[keys.POS] - free[2].atom[keys.POS]).abs().max() > 1e-8
    _, info = tailor(model, batch, LinearMomentum(), horizon=2, inner="teacher_forced", lr=0.05, optimizer="adam")
    assert info.kept.all()
    with pytest.raises(ConfigError):  # targets too short for the horizon
        tailor(model, batch, LinearMomentum(), horizon=4, inner="teacher_forced")


def test_last_block_tailoring_leaves_the_earlier_blocks_unconditioned(model, graphs):
    batch, g = batch_of(graphs), LinearMomentum()
    _, info = tailor(model, batch, g, steps=1, lr=0.05, blocks=1)
    assert info.conditioning[0] is None and info.conditioning[1] is not None
    assert (info.conditioning[1].scale != 1).any()
    # its gradient is the all-blocks gradient's last-block part
    every = inner_gradients(model, batch, g, horizon=1)
    params = identity_parameters(model, batch, blocks=1)
    last = torch.autograd.grad(tailoring_loss(model, batch, g, as_conditioning(params, 2)).sum(), params)
    for mine, full in zip(last, every[2:]):
        torch.testing.assert_close(mine, full, atol=1e-12, rtol=1e-9)
    with pytest.raises(ConfigError, match="blocks=3"):
        tailor(model, batch, g, blocks=3)
    with pytest.raises(ConfigError, match="blocks"):
        TailoringOptions(blocks=0)


class _WithoutCache(torch.nn.Module):
    """The same model, minus the prefix cache (tailor then recomputes every block each call)."""

    def __init__(self, model):
        super().__init__()
        self.inner = model
        self.conditioning_sizes = model.conditioning_sizes

    def forward(self, batch, conditioning=None):
        return self.inner(batch, conditioning=conditioning)


def test_prefix_cache_changes_nothing_but_the_work(model, graphs):
    batch, g = batch_of(graphs), LinearMomentum()
    calls = []
    hook = model.blocks[0].register_forward_hook(lambda *args: calls.append(1))
    try:
        cached, _ = tailor(model, batch, g, steps=2, lr=0.05, blocks=1)
        runs_with_cache = len(calls)
        calls.clear()
        plain, _ = tailor(_WithoutCache(model), batch, g, steps=2, lr=0.05, blocks=1)
    finally:
        hook.remove()
    torch.testing.assert_close(cached.pos, plain.pos, rtol=0, atol=1e-12)
    torch.testing.assert_close(cached.vel, plain.vel, rtol=0, atol=1e-12)
    # the untailored first block ran once, not once per inner step plus once for the prediction
    assert runs_with_cache == 1 and len(calls) == 3
