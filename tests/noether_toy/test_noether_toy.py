"""Noether Networks toy (HNN systems): data, RK4, tailoring, symbolic search, meta-gradient."""

import numpy as np
import pytest
import torch

from chemnoether.noether_toy import (
    CNMLP,
    PENDULUM,
    SPRING,
    STANDARD_PENDULUM,
    NeuralG,
    candidates,
    make_dataset,
    meta_loss,
    rk4_rollout,
    rmse,
    rollout,
    tailor,
)


@pytest.mark.parametrize("system", [SPRING, PENDULUM], ids=lambda s: s.name)
def test_exact_trajectories_conserve_h(system):
    d = make_dataset(system, n_train=5, n_test=5, noise_std=0.0)
    h = system.hamiltonian(np.concatenate([d["x_train"], d["x_test"]]))
    assert np.abs(h - h[:, :1]).max() < 1e-6
    assert d["x_train"].shape == (5, system.n_points, 2)
    assert system.n_points == (30 if system is SPRING else 45)


def test_noise_goes_on_training_states_only():
    d = make_dataset(SPRING, n_train=3, n_test=3, noise_std=0.1)
    assert np.abs(d["x_train"] - d["x_train_clean"]).std() > 0.05
    h = SPRING.hamiltonian(d["x_test"])
    assert np.abs(h - h[:, :1]).max() < 1e-6


@pytest.mark.parametrize("system", [SPRING, PENDULUM], ids=lambda s: s.name)
def test_rk4_of_true_field_has_rmse_near_zero(system):
    d = make_dataset(system, n_train=1, n_test=5, noise_std=0.0)
    x = torch.tensor(d["x_test"], dtype=torch.float64)
    pred = rk4_rollout(system.vector_field, x[:, 0], system.dt, x.shape[1] - 1)
    assert rmse(pred, x) < 1e-4


def test_oracle_tailoring_reduces_h_drift_of_perturbed_model():
    torch.manual_seed(0)
    d = make_dataset(SPRING, n_train=1, n_test=4, noise_std=0.0)
    x = torch.tensor(d["x_test"], dtype=torch.float32)
    model = CNMLP(hidden=32)
    # a fitted-then-perturbed vector field: the true one plus a small dissipative error
    xs = torch.rand(512, 2) * 2 - 1
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(400):
        loss = ((model(xs) - (SPRING.vector_field(xs) - 0.3 * xs)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    steps = x.shape[1] - 1

    def drift(cn):
        with torch.no_grad():
            h = SPRING.hamiltonian(rollout(model, x[:, 0], SPRING.dt, steps, cn))
        return float(((h - h[:, :1]) ** 2).sum())

    before = drift(None)
    cn = tailor(model, SPRING.hamiltonian, x[:, 0], SPRING.dt, steps, k=10, lr=1e-2)
    assert drift(cn) < 0.5 * before


def test_symbolic_search_recovers_pendulum_energy():
    d = make_dataset(PENDULUM, noise_std=0.0)
    best = candidates(d["x_train"], q_is_angle=True)[0]
    assert (best.t1, best.t2) == ("p^2", "cos q")
    # H = 3 (1 - cos q) + p^2 (HNN code): normalised p^2 - 3 cos q (the paper's p^2 - 2.99 cos q)
    assert best.c == pytest.approx(-3.0, abs=1e-3)
    assert best.ratio < 1e-2
    assert str(best).startswith("p^2 - 3")


def test_symbolic_search_gives_minus_2g_for_textbook_pendulum():
    # m = l = 1, g = 3: H = g (1 - cos q) + p^2 / 2 -> 2H = p^2 - 2g cos q + const
    d = make_dataset(STANDARD_PENDULUM, noise_std=0.0)
    best = candidates(d["x_train"], q_is_angle=True)[0]
    assert (best.t1, best.t2) == ("p^2", "cos q")
    assert best.c == pytest.approx(-6.0, abs=1e-3)


def test_symbolic_search_recovers_spring_energy_and_respects_units():
    d = make_dataset(SPRING, noise_std=0.0)
    cands = candidates(d["x_train"], q_is_angle=False)
    best = cands[0]
    assert (best.t1, best.t2) == ("q^2", "p^2")
    assert best.c == pytest.approx(1.0, abs=1e-3)
    assert not any("cos" in str(f) or "sin" in str(f) for f in cands)  # q is a length here


def _tiny_meta_problem():
    """A small float64 model, g and two spring trajectories of six points."""
    torch.manual_seed(0)
    dtype = torch.float64
    d = make_dataset(SPRING, n_train=2, n_test=1, noise_std=0.0)
    x = torch.tensor(d["x_train"][:, :6], dtype=dtype)
    dxdt = torch.tensor(d["dxdt_train"][:, :6], dtype=dtype)
    return CNMLP(hidden=5).to(dtype), NeuralG(hidden=4).to(dtype), x, dxdt


def test_meta_gradient_matches_finite_differences():
    model, g, x, dxdt = _tiny_meta_problem()
    # a large inner lr makes the second-order term matter
    loss_fn = lambda: meta_loss(model, g, x, dxdt, SPRING.dt, inner_lr=0.5)  # noqa: E731
    # g's output bias is left out: a constant offset of g cancels in |g(x0) - g(xt)|^2, so its
    # gradient is zero up to round-off (tested below), and a finite difference of it says nothing
    params = [model.hidden_layers[0].weight, g.net[0].weight, g.net[2].weight]
    grads = torch.autograd.grad(loss_fn(), params)
    eps = 1e-6
    for p, gr in zip(params, grads):
        assert gr.abs().max() > 1e-8  # g's parameters only get a gradient through the inner step
        for idx in [(0,) * p.dim(), tuple(s - 1 for s in p.shape)]:
            old = p[idx].item()
            values = []
            for value in (old + eps, old - eps):
                with torch.no_grad():
                    p[idx] = value
                values.append(loss_fn().item())  # needs grad mode: the inner step differentiates
            with torch.no_grad():
                p[idx] = old
            up, down = values
            assert gr[idx].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-10)


def test_meta_gradient_ignores_a_constant_offset_of_g():
    model, g, x, dxdt = _tiny_meta_problem()
    loss = meta_loss(model, g, x, dxdt, SPRING.dt, inner_lr=0.5)
    weight_grad, bias_grad = torch.autograd.grad(loss, [g.net[4].weight, g.net[4].bias])
    assert weight_grad.abs().max() > 1e-8
    assert bias_grad.abs().max() < 1e-10 * weight_grad.abs().max()
