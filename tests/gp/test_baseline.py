"""Baselines: the per-atom GPyTorch spectral-mixture GP and the deterministic forecasts."""

import math

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.gp import WindowError
from chemnoether.gp.baseline import (
    fit_predict_spectral_mixture,
    linear_extrapolation,
    persistence,
    rmse,
)
from chemnoether.gp.spectral import to_frequency, to_wavenumber

F64 = torch.float64


def oscillations(n=2, frames=44, dt=1.0, wavenumbers=(1700.0, 3000.0), seed=0):
    """(N, frames, 3) sinusoids, one frequency per atom, random phases and directions, tiny noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(frames, dtype=F64)[None, :, None] * dt
    f = torch.tensor([to_frequency(w) for w in wavenumbers[:n]], dtype=F64)[:, None, None]
    phase = 6.283 * torch.rand(n, 1, 3, generator=g, dtype=F64)
    amplitude = torch.randn(n, 1, 3, generator=g, dtype=F64)
    return amplitude * torch.cos(2 * math.pi * f * t + phase) + 1e-3 * torch.randn(n, frames, 3, generator=g, dtype=F64)


def test_gpytorch_fit_finds_the_frequency_and_forecasts():
    pytest.importorskip("gpytorch")
    signal = oscillations()
    window, future = signal[:, :40], signal[:, 40:]
    out = fit_predict_spectral_mixture(window, 1.0, 4, num_mixtures=2, iterations=60)
    assert out.mean.shape == (2, 4, 3) and out.var.shape == (2, 4, 3) and bool((out.var > 0).all())
    assert out.mixture.alpha.shape == (2, 3, 2) and out.seconds > 0
    # the heaviest component of each series sits on that atom's frequency (within 5%)
    heaviest = out.mixture.mu.gather(-1, out.mixture.alpha.argmax(-1, keepdim=True))[..., 0]
    found = to_wavenumber(heaviest)
    torch.testing.assert_close(found, torch.tensor([[1700.0] * 3, [3000.0] * 3], dtype=F64), rtol=0.05, atol=0)
    assert rmse(out.mean, future) < 0.2 * rmse(persistence(window, 4), future)


def test_gpytorch_baseline_refuses_coarse_or_broken_windows():
    pytest.importorskip("gpytorch")
    signal = oscillations()
    with pytest.raises(WindowError, match="Nyquist"):
        fit_predict_spectral_mixture(signal, 5.0, 2)  # Nyquist 3336 cm^-1 < 4000
    signal[0, 3, 1] = float("nan")
    with pytest.raises(WindowError, match="frame 3"):
        fit_predict_spectral_mixture(signal, 1.0, 2)


def test_deterministic_forecasts():
    window = torch.tensor([[[0.0], [1.0], [3.0]]], dtype=F64)  # (1 atom, 3 frames, 1 component)
    torch.testing.assert_close(persistence(window, 2), torch.tensor([[[3.0], [3.0]]], dtype=F64))
    torch.testing.assert_close(linear_extrapolation(window, 2), torch.tensor([[[5.0], [7.0]]], dtype=F64))
    assert rmse(window, window + 2) == pytest.approx(2.0)
