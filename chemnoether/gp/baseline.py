"""Baselines for the GP node heads, in the same harness: per-atom exact GPyTorch GPs and deterministic forecasts.

* ``fit_predict_spectral_mixture``: for every atom and Cartesian component of a window, an exact
  GP in time with GPyTorch's ``SpectralMixtureKernel`` (correct for 1-D inputs, docs/design.md section
  8), its hyperparameters fitted to that window's marginal likelihood, then the forecast of the
  next frames. The ``N x C`` series are independent GPs fitted at once (GPyTorch batch mode:
  one (T, T) Cholesky each per step), so the timing is that of a vectorised per-atom fit, not of
  a Python loop over atoms.
* ``persistence`` / ``linear_extrapolation``: the deterministic references (no variance).

Units: times in fs, frequencies in 1/fs (as ``chemnoether.gp.spectral``), signals in the window's
units (velocities: Å/fs). GPyTorch is an optional dependency, imported on use.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from chemnoether.errors import ConfigError
from chemnoether.gp.conditioning import check_finite_frames, check_window
from chemnoether.gp.spectral import SpectralMixture, to_frequency


@dataclass
class BaselineForecast:
    """Forecasts of N atoms x H frames x C components, and what the fit cost."""

    mean: Tensor  # (N, H, C) | window units
    var: Tensor  # (N, H, C) | predictive variance, noise included, units^2
    mixture: SpectralMixture  # (N, C, Q) | fitted densities, weights in units^2 (1/fs for mu, sigma)
    seconds: float  # wall time of the fit and the prediction


def fit_predict_spectral_mixture(
    window: Tensor,
    dt_fs: float,
    horizon: int,
    *,
    num_mixtures: int = 4,
    iterations: int = 100,
    lr: float = 0.1,
    freq_range_cm: tuple[float, float] = (0.0, 4000.0),
    noise_floor: float = 1e-4,
) -> BaselineForecast:
    """Fit one exact SM-kernel GP per atom and component to ``window`` (N, T, C), frames ``dt_fs`` fs
    apart, and forecast frames T..T+horizon-1.

    Each series is standardised (its window mean and standard deviation) before the fit, as the
    head normalises its targets. Initialisation matches ``SpectralMixtureNet``'s: centres spread
    evenly over ``freq_range_cm``, widths a quarter of a centre's share of the band, equal weights.
    Adam (``lr``) for ``iterations`` steps on the summed negative log marginal likelihood, float64.
    ``noise_floor``: the smallest noise variance, standardised units.
    """
    import gpytorch  # lazy: optional gpytorch (extra "gp")

    n, frames, columns = window.shape
    low, high = (to_frequency(float(f)) for f in freq_range_cm)
    check_window(frames, dt_fs, high, 0.0, "GPyTorch baseline window")
    check_finite_frames(window, "GPyTorch baseline window")
    if horizon < 1 or num_mixtures < 1 or iterations < 0:
        raise ConfigError(f"horizon={horizon}, num_mixtures={num_mixtures}, iterations={iterations}: need >= 1, >= 1, >= 0")
    start = time.perf_counter()
    series = window.detach().to(torch.float64).permute(0, 2, 1).reshape(n * columns, frames)  # (S, T)
    offset = series.mean(-1, keepdim=True)
    scale = series.std(-1, keepdim=True).clamp(min=1e-12)
    y = (series - offset) / scale
    batch = torch.Size([n * columns])
    t_all = torch.arange(frames + horizon, dtype=torch.float64)[:, None] * dt_fs  # (T + H, 1) fs
    t_obs = t_all[:frames].expand(*batch, frames, 1)
    t_new = t_all[frames:].expand(*batch, horizon, 1)

    likelihood = gpytorch.likelihoods.GaussianLikelihood(
        batch_shape=batch, noise_constraint=gpytorch.constraints.GreaterThan(noise_floor)
    ).double()
    model = _spectral_mixture_gp_class()(t_obs, y, likelihood, num_mixtures, batch).double()
    q = num_mixtures
    centres = low + (high - low) * (torch.arange(q, dtype=torch.float64) + 0.5) / q
    kernel = model.covar_module
    kernel.mixture_means = centres.reshape(1, q, 1, 1).expand(*batch, q, 1, 1).clone()
    kernel.mixture_scales = torch.full((*batch, q, 1, 1), (high - low) / (4 * q), dtype=torch.float64)
    kernel.mixture_weights = torch.full((*batch, q), 1.0 / q, dtype=torch.float64)
    likelihood.noise = torch.full((*batch, 1), 0.02, dtype=torch.float64)  # the head's starting noise

    model.train()
    likelihood.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
    for _ in range(iterations):
        optimizer.zero_grad()
        loss = -mll(model(t_obs), y).sum()
        loss.backward()
        optimizer.step()
    model.eval()
    likelihood.eval()
    with torch.no_grad():
        predictive = likelihood(model(t_new))
        mean, var = predictive.mean, predictive.variance  # (S, H)
    seconds = time.perf_counter() - start

    def back(values: Tensor, power: int, shift: Tensor | float = 0.0) -> Tensor:
        return (values * scale**power + shift).reshape(n, columns, horizon).permute(0, 2, 1)

    weights = kernel.mixture_weights.detach() * scale**2
    mixture = SpectralMixture(
        alpha=weights.reshape(n, columns, q),
        mu=kernel.mixture_means.detach().reshape(n, columns, q),
        sigma=kernel.mixture_scales.detach().reshape(n, columns, q),
    )
    return BaselineForecast(mean=back(mean, 1, offset), var=back(var, 2), mixture=mixture, seconds=seconds)


@functools.cache
def _spectral_mixture_gp_class():
    """The GPyTorch model class, built on first use (gpytorch is optional)."""
    import gpytorch  # lazy: optional gpytorch (extra "gp")

    class SpectralMixtureGP(gpytorch.models.ExactGP):
        """A batch of independent exact GPs: constant mean, 1-D spectral-mixture kernel."""

        def __init__(self, x, y, likelihood, num_mixtures, batch):
            super().__init__(x, y, likelihood)
            self.mean_module = gpytorch.means.ConstantMean(batch_shape=batch)
            self.covar_module = gpytorch.kernels.SpectralMixtureKernel(num_mixtures=num_mixtures, ard_num_dims=1, batch_shape=batch)

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

    return SpectralMixtureGP


def persistence(window: Tensor, horizon: int) -> Tensor:
    """(N, H, C): the last frame repeated (for velocities: the constant-velocity step's velocity)."""
    return window[:, -1:].expand(-1, horizon, -1).clone()


def linear_extrapolation(window: Tensor, horizon: int) -> Tensor:
    """(N, H, C): the line through the last two frames, ``x_{T-1} + k (x_{T-1} - x_{T-2})``, k = 1..H
    (for velocities: constant acceleration)."""
    steps = torch.arange(1, horizon + 1, dtype=window.dtype, device=window.device)[None, :, None]
    return window[:, -1:] + steps * (window[:, -1:] - window[:, -2:-1])


def rmse(prediction: Tensor, target: Tensor) -> float:
    """Root mean square error over every value (target units)."""
    return math.sqrt(float((prediction.to(torch.float64) - target.to(torch.float64)).pow(2).mean()))
