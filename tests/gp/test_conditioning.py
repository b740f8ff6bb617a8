"""Batched exact and RFF conditioning: calibration, padding, the likelihood, the Cholesky retries, window checks."""

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.errors import ChemNoetherError
from chemnoether.gp import (
    NumericalError,
    SpectralMixture,
    WindowError,
    check_finite_frames,
    check_window,
    exact_condition,
    rff_condition,
    robust_cholesky,
    to_frequency,
)

F64 = torch.float64


def test_sine_from_a_known_kernel_is_recovered_with_calibrated_intervals():
    """200 draws from a narrow spectral-mixture GP (a 3000 cm^-1 sine whose phase drifts, width
    30 cm^-1) with noise variance 1e-4: conditioned on 40 frames (20 fs), the next 5 are predicted
    to about the noise level (RMSE 0.012 against a prior sd of 1) and 95% intervals cover 0.939."""
    mixture = SpectralMixture(torch.tensor([1.0], dtype=F64), torch.tensor([to_frequency(3000.0)], dtype=F64), torch.tensor([to_frequency(30.0)], dtype=F64))
    frames, horizon, dt, noise, draws = 40, 5, 0.5, 1e-4, 200
    times = torch.arange(frames + horizon, dtype=F64) * dt
    kernel = mixture.kernel_matrix(times, times)
    factor = torch.linalg.cholesky(kernel + noise * torch.eye(frames + horizon, dtype=F64))
    samples = (factor @ torch.randn(frames + horizon, draws, generator=torch.Generator().manual_seed(0), dtype=F64)).T
    cov_obs = (kernel[:frames, :frames] + noise * torch.eye(frames, dtype=F64)).expand(draws, -1, -1)
    result = exact_condition(
        cov_obs, samples[:, :frames, None], kernel[frames:, :frames].expand(draws, -1, -1), kernel.diagonal()[frames:].expand(draws, -1), torch.full((draws,), frames)
    )
    truth = samples[:, frames:]
    error = truth - result.mean[..., 0]
    assert float(error.pow(2).mean().sqrt()) < 0.05
    coverage = float((error.abs() < 1.96 * (result.var + noise).sqrt()).double().mean())
    assert 0.9 <= coverage <= 0.99


def test_log_marginal_likelihood_is_the_gaussian_log_density():
    torch.manual_seed(0)
    root = torch.randn(2, 12, 12, dtype=F64)
    cov = root @ root.transpose(-1, -2) + 0.1 * torch.eye(12, dtype=F64)
    y = torch.randn(2, 12, 3, dtype=F64)
    result = exact_condition(cov, y, torch.zeros(2, 1, 12, dtype=F64), torch.ones(2, 1, dtype=F64), torch.tensor([12, 12]))
    for b in range(2):
        law = torch.distributions.MultivariateNormal(torch.zeros(12, dtype=F64), cov[b])
        assert float(result.log_marginal_likelihood[b]) == pytest.approx(float(law.log_prob(y[b].T).sum()), rel=1e-10)


def _problem(seed, m, p, columns=3):
    g = torch.Generator().manual_seed(seed)
    times = torch.rand(m + p, generator=g, dtype=F64) * 30
    kernel = SpectralMixture(torch.tensor([1.0, 0.5], dtype=F64), torch.tensor([0.02, 0.1], dtype=F64), torch.tensor([0.01, 0.005], dtype=F64)).kernel_matrix(times, times)
    y = torch.randn(m, columns, generator=g, dtype=F64)
    return kernel[:m, :m] + 0.01 * torch.eye(m, dtype=F64), y, kernel[m:, :m], kernel.diagonal()[m:]


def test_padded_batch_equals_one_problem_at_a_time():
    problems = [_problem(0, 7, 3), _problem(1, 11, 3), _problem(2, 4, 3)]
    size = 11
    cov = torch.eye(size, dtype=F64).repeat(3, 1, 1)
    y, cross, prior = torch.zeros(3, size, 3, dtype=F64), torch.zeros(3, 3, size, dtype=F64), torch.zeros(3, 3, dtype=F64)
    for b, (c, t, k, v) in enumerate(problems):
        m = c.shape[0]
        cov[b, :m, :m], y[b, :m], cross[b, :, :m], prior[b] = c, t, k, v
    batched = exact_condition(cov, y, cross, prior, torch.tensor([7, 11, 4]))
    for b, (c, t, k, v) in enumerate(problems):
        alone = exact_condition(c[None], t[None], k[None], v[None], torch.tensor([c.shape[0]]))
        torch.testing.assert_close(batched.mean[b], alone.mean[0], rtol=0, atol=1e-10)
        torch.testing.assert_close(batched.var[b], alone.var[0], rtol=0, atol=1e-10)
        torch.testing.assert_close(batched.log_marginal_likelihood[b], alone.log_marginal_likelihood[0], rtol=1e-12, atol=1e-10)


def test_slow_orders_are_padded_without_changing_the_result(monkeypatch):
    """A 512-row problem (16 atoms x 32 frames) is factored with 8 identity rows added (LAPACK is
    about twice as slow at orders that are multiples of 128): posterior and likelihood as without,
    and the padding really happens."""
    from chemnoether.gp import conditioning

    cov, y, cross, prior = _problem(3, 512, 4)
    args = (cov[None], y[None], cross[None], prior[None], torch.tensor([512]))
    orders = []
    plain_cholesky = robust_cholesky
    monkeypatch.setattr(conditioning, "robust_cholesky", lambda m, names=None: (orders.append(m.shape[-1]), plain_cholesky(m, names))[1])
    padded = exact_condition(*args)
    monkeypatch.setattr(conditioning, "_MIN_PADDED_ORDER", 10**9)
    unpadded = exact_condition(*args)
    assert orders == [520, 512]
    torch.testing.assert_close(padded.mean, unpadded.mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(padded.var, unpadded.var, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(padded.log_marginal_likelihood, unpadded.log_marginal_likelihood, rtol=1e-12, atol=1e-9)


def test_rff_conditioning_equals_exact_conditioning_on_the_feature_kernel():
    g = torch.Generator().manual_seed(3)
    phi, phi_new = torch.randn(2, 30, 12, generator=g, dtype=F64), torch.randn(2, 4, 12, generator=g, dtype=F64)
    y = torch.randn(2, 30, 3, generator=g, dtype=F64)
    noise = torch.rand(2, 30, generator=g, dtype=F64) * 0.1 + 0.01
    via_features = rff_condition(phi, y, noise, phi_new, torch.tensor([30, 30]))
    cov = phi @ phi.transpose(-1, -2) + torch.diag_embed(noise)
    exact = exact_condition(cov, y, phi_new @ phi.transpose(-1, -2), phi_new.pow(2).sum(-1), torch.tensor([30, 30]))
    torch.testing.assert_close(via_features.mean, exact.mean)
    torch.testing.assert_close(via_features.var, exact.var)
    torch.testing.assert_close(via_features.log_marginal_likelihood, exact.log_marginal_likelihood)


def test_singular_matrix_gets_jitter_and_works():
    singular = torch.ones(6, 6, dtype=F64)  # rank one: a plain Cholesky fails
    assert int(torch.linalg.cholesky_ex(singular).info) != 0
    fine = torch.eye(6, dtype=F64) * 2
    factor, jitter = robust_cholesky(torch.stack([fine, singular]))
    assert float(jitter[0]) == 0.0 and 0 < float(jitter[1]) <= 1e-4
    torch.testing.assert_close(factor[1] @ factor[1].T, singular + float(jitter[1]) * torch.eye(6, dtype=F64))


def test_nan_matrix_gives_a_clear_error_naming_the_graph():
    bad = torch.eye(4, dtype=F64).repeat(2, 1, 1)
    bad[1, 2, 3] = float("nan")
    with pytest.raises(NumericalError, match="CCO window 7: the covariance matrix has NaN"):
        robust_cholesky(bad, names=["CCO window 6", "CCO window 7"])


def test_infinite_entry_is_caught_and_a_sum_overflow_is_not_mistaken_for_one():
    bad = torch.eye(3, dtype=F64).repeat(2, 1, 1)
    bad[0, 0, 1] = float("inf")
    bad[0, 0, 2] = -float("inf")  # the sum alone would say NaN here, the elementwise test names the graph
    with pytest.raises(NumericalError, match="first: the covariance matrix has NaN or infinite"):
        robust_cholesky(bad, names=["first", "second"])
    huge = torch.eye(2, dtype=F64) * 1e308  # finite, but its sum overflows
    factor, jitter = robust_cholesky(huge[None])
    torch.testing.assert_close(factor[0], torch.eye(2, dtype=F64) * 1e154)
    assert float(jitter[0]) == 0.0


def test_indefinite_matrix_fails_after_the_retries():
    with pytest.raises(NumericalError, match=r"graph 0: .*not positive definite even with jitter 0.0001") as info:
        robust_cholesky(-torch.eye(3, dtype=F64)[None])
    assert isinstance(info.value, ChemNoetherError)


def test_window_checks_name_the_length_step_and_frequency():
    check_window(64, 0.5, to_frequency(4000.0), where="ethanol")
    with pytest.raises(WindowError, match=r"ethanol: window of 64 frames at dt_fs=5 fs .* up to 4000 cm\^-1: the highest frequency is above Nyquist"):
        check_window(64, 5.0, to_frequency(4000.0), where="ethanol")
    with pytest.raises(WindowError, match=r"window of 20 frames at dt_fs=0.5 fs.*too short for the lowest frequency 1000 cm\^-1"):
        check_window(20, 0.5, to_frequency(4000.0), to_frequency(1000.0))
    with pytest.raises(WindowError, match="at least 3 frames"):
        check_window(2, 0.5, 0.01)


def test_nan_frames_are_named():
    window = torch.zeros(4, 10, 3, dtype=F64)
    window[2, 6, 1] = float("nan")
    window[0, 8, 0] = float("inf")
    with pytest.raises(WindowError, match=r"aspirin: frame 6 \(atom 2\).*bad frames \[6, 8\]"):
        check_finite_frames(window, "aspirin")
