"""Meta-tailoring: the second-order meta-gradient is exact, and fit trains a NoetherTailoredModel."""

import pytest
import torch

from chemnoether import keys
from chemnoether.errors import ConfigError
from chemnoether.nn.testing import float64_default
from chemnoether.noether import (
    NoetherEmbedding,
    NoetherTailoredModel,
    TailoringOptions,
    meta_tailoring_loss,
)

from .conftest import HCO, batch_of, graphs_of, tiny_model, windows


def task_loss(prediction, batch):
    # velocities weighted up: Å/fs errors are ~100x smaller than Å errors
    return ((prediction.pos - batch.atom[keys.NEXT_POS]) ** 2).sum() + 1e2 * (
        (prediction.vel - batch.atom[keys.NEXT_VEL]) ** 2
    ).sum()


def tiny_g(seed=1):
    torch.manual_seed(seed)
    with float64_default():
        return NoetherEmbedding(HCO, k=2, hidden=4, layers=1).double()


@pytest.fixture(scope="module")
def setup(ethanol):
    return tiny_model(), tiny_g(), batch_of(graphs_of(ethanol, [0]))


def outer_gradient(model, g, batch, parameter, index, create_graph):
    # a large inner step so that the inner update matters to the outer loss
    options = TailoringOptions(steps=1, lr=1.0, create_graph=create_graph)
    (grad,) = torch.autograd.grad(meta_tailoring_loss(model, g, batch, options, task_loss), parameter)
    return float(grad.reshape(-1)[index])


def test_second_order_meta_gradient_matches_finite_difference(setup):
    model, g, batch = setup
    parameter, index, h = model.readout.weight, 3, 1e-5
    options = TailoringOptions(steps=1, lr=1.0, create_graph=True)

    def loss():
        return float(meta_tailoring_loss(model, g, batch, options, task_loss).detach())

    # the model is shared by this module's tests: perturb from a saved copy and put that copy back
    # exactly (adding h and taking it away again does not round-trip in floating point)
    original = parameter.detach().clone()
    try:
        with torch.no_grad():
            parameter.view(-1)[index] = original.view(-1)[index] + h
            plus = loss()
            parameter.view(-1)[index] = original.view(-1)[index] - h
            minus = loss()
    finally:
        with torch.no_grad():
            parameter.copy_(original)
    assert torch.equal(parameter, original)
    numeric = (plus - minus) / (2 * h)
    second = outer_gradient(model, g, batch, parameter, index, create_graph=True)
    first = outer_gradient(model, g, batch, parameter, index, create_graph=False)
    assert abs(second - numeric) <= 1e-6 * abs(numeric), (second, numeric)
    # the check can tell: the first-order gradient misses the path through the inner gradient
    assert abs(first - numeric) > 1e-3 * abs(numeric), (first, numeric)


def test_outer_loss_reaches_g_only_through_second_order(setup):
    model, g, batch = setup
    for create_graph in (True, False):
        wrapped = NoetherTailoredModel(model, g, TailoringOptions(lr=1.0, create_graph=create_graph), learn_lr=True)
        wrapped.zero_grad()
        task_loss(wrapped(batch), batch).backward()
        g_grads = [p.grad for p in g.parameters()]
        assert model.readout.weight.grad is not None and wrapped.log_lr.grad is not None
        if create_graph:
            assert any(grad is not None and grad.abs().max() > 0 for grad in g_grads)
        else:
            assert all(grad is None for grad in g_grads)
    wrapped.zero_grad()


def test_fit_trains_a_tailored_model(ethanol, tmp_path):
    from chemnoether.train import TrainConfig, fit

    model, g = tiny_model(seed=3), tiny_g(seed=4)
    wrapped = NoetherTailoredModel(model, g, TailoringOptions(lr=0.5, create_graph=True, eval_steps=2), learn_lr=True)
    before = {name: p.detach().clone() for name, p in wrapped.named_parameters()}
    train, val = windows(ethanol, [0, 10, 20]), windows(ethanol, [40])
    config = TrainConfig(max_steps=2, epochs=None, batch_size=2, device="cpu", progress=False, lr=1e-2, log_every=1)
    result = fit(wrapped, train, val, config, tmp_path / "run", resume="never")
    assert result is not None
    changed = {name for name, p in wrapped.named_parameters() if not torch.equal(before[name], p.detach())}
    assert any(name.startswith("model.") for name in changed)  # the dynamics model learned
    assert any(name.startswith("g.") for name in changed)  # g learned, through the inner step (second order)
    assert "log_lr" in changed  # and the inner learning rate
    assert wrapped.last_info is not None and wrapped.last_info.kept.all()


def test_a_fixed_g_stays_fixed_while_the_model_learns(ethanol, tmp_path):
    from chemnoether.noether.recipe import TailoringSection, tailored
    from chemnoether.train import TrainConfig, fit

    section = TailoringSection(k=2, hidden=4, layers=1, lr=0.5, train_g=False)
    wrapped = tailored(tiny_model(seed=3), section).double()
    before = {name: p.detach().clone() for name, p in wrapped.named_parameters()}
    config = TrainConfig(max_steps=2, epochs=None, batch_size=2, device="cpu", progress=False, lr=1e-2)
    fit(wrapped, windows(ethanol, [0, 10, 20]), windows(ethanol, [40]), config, tmp_path / "run", resume="never")
    changed = {name for name, p in wrapped.named_parameters() if not torch.equal(before[name], p.detach())}
    assert any(name.startswith("model.") for name in changed)
    assert not any(name.startswith("g.") for name in changed)


def test_wrapper_refuses_untailorable_models_and_bad_options():
    from chemnoether.models.constant_velocity import ConstantVelocity

    with pytest.raises(ConfigError):
        NoetherTailoredModel(ConstantVelocity(), tiny_g())
    with pytest.raises(ConfigError):
        NoetherTailoredModel(tiny_model(), tiny_g(), options={"steps": 2})
    with pytest.raises(ConfigError):
        TailoringOptions(eval_steps=0)
