"""Training the GP head on MD windows: features, a loss that falls, seeding, the encoder path, densities."""

import math

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.simulation import generate_md
from chemnoether.errors import ConfigError
from chemnoether.gp.train import (
    GPNodeModel,
    HeadConfig,
    normalised_predictive_nll,
    predicted_mixture,
    prepare_molecule,
    train_head,
    window_autocorrelation,
)

SMALL = {"stride": 4, "window": 12, "horizon": 2, "num_components": 2, "hidden": 16, "windows_per_step": 2, "log_every": 5,
         "features": "window", "window_lags": 4}
GRAPH = {**SMALL, "features": "graph", "window_lags": 0}


@pytest.fixture(scope="module")
def molecules():
    return [prepare_molecule(generate_md(name, 240, seed=i, progress=False, equilibration_steps=300), 4, name)
            for i, name in enumerate(["methanol", "formaldehyde"])]


def batch_loss(model, molecules):
    items = [(m, s) for m in molecules for s in (0, 30)]
    with torch.no_grad():
        forecast, future = model(items)
    graph_of = torch.repeat_interleave(torch.arange(len(items)), torch.tensor([m.velocities.shape[1] for m, _ in items]))
    return float(model.loss(forecast, future, graph_of))


def test_series_windows_and_graph_features(molecules):
    methanol = molecules[0]
    assert methanol.velocities.shape == (61, 6, 3) and methanol.dt_fs == 2.0
    config = HeadConfig(**SMALL)
    assert methanol.num_starts(config) == 61 - 14 + 1
    window, future = methanol.window(3, config)
    torch.testing.assert_close(window[:, 0], methanol.velocities[3])
    torch.testing.assert_close(future[:, -1], methanol.velocities[16])
    # hydrogens on C and the one on O get different features (their neighbours' mean differs)
    hydrogens = [i for i, z in enumerate(methanol.atomic_numbers) if z == 1]
    distinct = {tuple(methanol.attrs[i].tolist()) for i in hydrogens}
    assert len(distinct) == 2
    with pytest.raises(ConfigError, match="outside"):
        methanol.window(methanol.num_starts(config), config)


@pytest.mark.parametrize(("options", "loss"), [(SMALL, "both"), (GRAPH, "marginal")], ids=["window-both", "graph-marginal"])
def test_a_few_steps_reduce_the_loss_and_runs_repeat(molecules, options, loss):
    config = HeadConfig(**{**options, "loss": loss, "steps": 15, "lr": 2e-2})
    torch.manual_seed(config.seed)  # train_head builds the model right after seeding: the same start
    before = batch_loss(GPNodeModel(config, molecules[0].attrs.shape[1]), molecules)
    lines = []
    model, history = train_head(molecules, config, log=lines.append)
    assert batch_loss(model, molecules) < before - 0.05
    assert len(history) == 3 and len(lines) == 3 and "step 15/15" in lines[-1]
    _, again = train_head(molecules, config, log=None)
    assert [row["loss"] for row in again] == [row["loss"] for row in history]


def test_normalised_predictive_nll_ignores_the_units(molecules):
    model = GPNodeModel(HeadConfig(**SMALL), molecules[0].attrs.shape[1])
    with torch.no_grad():
        forecast, future = model([(molecules[0], 5)])
        atoms = torch.zeros(future.shape[0], dtype=torch.long)
        first = normalised_predictive_nll(forecast, future, atoms)
        scaled, _ = model([(_scaled(molecules[0], 100.0), 5)])
        second = normalised_predictive_nll(scaled, 100.0 * future, atoms)
    torch.testing.assert_close(first, second)


def _scaled(molecule, factor):
    from dataclasses import replace

    return replace(molecule, velocities=molecule.velocities * factor)


def test_equivariant_features_train_the_encoder_or_freeze_it(molecules):
    for freeze in (False, True):
        config = HeadConfig(**{**SMALL, "features": "both", "freeze_encoder": freeze, "encoder": {"channels": 4, "layers": 1}})
        model = GPNodeModel(config, molecules[0].attrs.shape[1])
        forecast, future = model([(molecules[0], 0), (molecules[1], 7)])
        assert forecast.mean.shape == future.shape == (10, 2, 3)
        graph_of = torch.tensor([0] * 6 + [1] * 4)
        model.loss(forecast, future, graph_of).backward()
        grads = [p.grad for p in model.encoder.parameters() if p.requires_grad]
        assert (not grads) if freeze else any(g is not None and bool(g.abs().sum() > 0) for g in grads)


def test_predicted_mixture_is_each_atoms_output_density(molecules):
    config = HeadConfig(**GRAPH)
    model = GPNodeModel(config, molecules[0].attrs.shape[1])
    mixture = predicted_mixture(model, molecules[0], [0, 10])
    n, per_window = 6, 6 * (config.num_components + config.graph_components)
    assert mixture.alpha.shape == (n, 2 * per_window)
    # its total weight sum_q a_iq^2 K_q(0) is the prior variance the head's guard set (normalised units)
    with torch.no_grad():
        raw = model.head.self_net(molecules[0].attrs)[:, 1]
        prior = model.head.prior_var_floor + torch.nn.functional.softplus(raw)
    torch.testing.assert_close(mixture.variance(), prior)


def test_window_autocorrelation_is_invariant_and_reads_the_frequency():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(40, dtype=torch.float64)[None, :, None] * 2.0  # fs
    frequency = torch.tensor([0.02, 0.05], dtype=torch.float64)[:, None, None]  # 1/fs
    direction = torch.randn(2, 1, 3, generator=g, dtype=torch.float64)
    window = direction * torch.cos(2 * math.pi * frequency * t)  # (2 atoms, 40 frames, 3)
    stats = window_autocorrelation(window, 5)
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))[0]
    rotation = rotation if torch.det(rotation) < 0 else -rotation  # with a reflection
    torch.testing.assert_close(window_autocorrelation(window @ rotation.T, 5), stats)
    torch.testing.assert_close(window_autocorrelation(window.flip(0), 5), stats.flip(0))
    # c(k) / c(0) of a cosine is about cos(2 pi f k dt) (to within the window's edge effects)
    expected = torch.cos(2 * math.pi * frequency[:, 0] * 2.0 * torch.arange(1, 5, dtype=torch.float64))
    torch.testing.assert_close(stats[:, 1:], expected, atol=0.12, rtol=0)
    assert float(stats[:, 0].exp().mean()) == pytest.approx(1.0)  # powers relative to the molecule's mean


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="features"):
        HeadConfig(features="spectral")
    with pytest.raises(ConfigError, match=">= 1"):
        HeadConfig(window=0)
    with pytest.raises(ConfigError, match="window_lags"):
        HeadConfig(features="window", window_lags=0)


def test_evolving_densities_train_through_the_model(molecules):
    """``HeadConfig(evolve=True)``: the evolution starts at the identity (the same loss as the
    stationary model at the same weights), and training moves it."""
    config = HeadConfig(**{**SMALL, "steps": 6, "lr": 2e-2, "evolve": True})
    torch.manual_seed(config.seed)
    evolving = GPNodeModel(config, molecules[0].attrs.shape[1])
    plain = GPNodeModel(HeadConfig(**SMALL), molecules[0].attrs.shape[1])
    plain.load_state_dict(evolving.state_dict(), strict=False)
    assert batch_loss(evolving, molecules) == pytest.approx(batch_loss(plain, molecules), rel=1e-9)
    model, history = train_head(molecules, config, log=None)
    assert len(history) == 2 and all(math.isfinite(row["loss"]) for row in history)
    assert float(model.head.node_evolution.net[-1].weight.detach().abs().max()) > 0


def test_cached_encoder_input_equals_the_dgl_batch(molecules):
    """``MoleculeSeries.encoder_input`` (cached topology, near edges recomputed) gives the encoder the
    same graph as ``PairWindows.batch``: the same near edges in the same order and the same embeddings."""
    from chemnoether.data import GraphTensors

    config = HeadConfig(**{**SMALL, "features": "equivariant", "encoder": {"channels": 4, "layers": 1}})
    model = GPNodeModel(config, molecules[0].attrs.shape[1])
    methanol = molecules[0]
    for frames in ([5], [5, 120], [200, 7]):  # the second two-frame call reuses the cached template
        reference = GraphTensors.from_graph(methanol.states.batch(frames))
        fast = methanol.encoder_input(frames)
        assert torch.equal(fast.near_index, reference.near_index)
        torch.testing.assert_close(fast.atom["pos"], reference.atom["pos"])
        with torch.no_grad():
            torch.testing.assert_close(model.encoder.node_scalars(fast), model.encoder.node_scalars(reference), rtol=0, atol=1e-12)
    assert len(methanol._encoder_templates) == 2


def test_window_autocorrelation_equals_the_lag_by_lag_sums():
    g = torch.Generator().manual_seed(2)
    window = torch.randn(3, 20, 3, generator=g, dtype=torch.float64)
    centred = window - window.mean(1, keepdim=True)
    acf = torch.stack([(centred[:, : 20 - k] * centred[:, k:]).sum(-1).mean(1) for k in range(6)], 1)
    expected = torch.cat([torch.log(acf[:, :1] / acf[:, :1].mean()), acf[:, 1:] / acf[:, :1]], 1)
    torch.testing.assert_close(window_autocorrelation(window, 6), expected, rtol=1e-12, atol=1e-12)


def test_caches_made_under_inference_mode_still_train(molecules):
    """The recipe times the head under ``torch.inference_mode``; what that first call caches (the
    encoder's topology template, the Toeplitz index, the lag weights) must not break a later
    training step, which would raise 'Inference tensors cannot be saved for backward'."""
    from dataclasses import replace

    config = HeadConfig(**{**SMALL, "window": 13, "features": "both", "encoder": {"channels": 4, "layers": 1}})  # sizes no other test caches
    molecule = replace(molecules[1], _encoder_templates={})
    model = GPNodeModel(config, molecule.attrs.shape[1])
    with torch.inference_mode():
        model([(molecule, 3)])
    forecast, future = model([(molecule, 4)])
    model.loss(forecast, future, torch.zeros(future.shape[0], dtype=torch.long)).backward()
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.encoder.parameters())


def test_windows_of_several_molecules_batch_like_one_at_a_time(molecules):
    """A batch of windows from several molecules (each window's features, encoder included, its own)
    forecasts like its windows one at a time, in item order."""
    config = HeadConfig(**{**SMALL, "features": "both", "encoder": {"channels": 4, "layers": 1}})
    model = GPNodeModel(config, molecules[0].attrs.shape[1])
    items = [(molecules[0], 3), (molecules[1], 5), (molecules[0], 20)]
    with torch.no_grad():
        batched, future = model(items)
        alone = [model([item]) for item in items]
    torch.testing.assert_close(future, torch.cat([a[1] for a in alone]))
    torch.testing.assert_close(batched.mean, torch.cat([a[0].mean for a in alone]), rtol=0, atol=1e-10)
    torch.testing.assert_close(batched.var, torch.cat([a[0].var for a in alone]), rtol=1e-9, atol=0)
    assert not torch.allclose(alone[0][0].var, alone[2][0].var)  # the two methanol windows differ: order matters


def test_the_model_forecasts_alike_with_and_without_autograd(molecules):
    """Forecasting (``inference_mode``: one encoder call per molecule, conditioning from the lag
    table) gives the training path's forecast (autograd, one call per window, the general
    conditioning) to round-off, for windows of two molecules interleaved."""
    config = HeadConfig(**{**SMALL, "features": "both", "encoder": {"channels": 4, "layers": 1}})
    model = GPNodeModel(config, molecules[0].attrs.shape[1])
    items = [(molecules[0], 2), (molecules[1], 7), (molecules[0], 25)]
    with_grad, _ = model(items)
    assert with_grad.mean.requires_grad
    with torch.inference_mode():
        without, _ = model(items)
    torch.testing.assert_close(without.mean, with_grad.mean.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(without.var, with_grad.var.detach(), rtol=1e-10, atol=0)
    torch.testing.assert_close(without.log_marginal_likelihood, with_grad.log_marginal_likelihood.detach(), rtol=1e-12, atol=0)
