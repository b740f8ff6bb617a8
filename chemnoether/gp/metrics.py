"""Calibration metrics of Gaussian forecasts (docs/design.md section 8): NLL, coverage, miscalibration, Spearman.

Every function takes flat or any-shaped arrays of the same shape: ``mean``, ``var`` (the
predictive variance, noise included) and the observed ``target``, in one set of units (the NLL
depends on them through ``log var``: compare methods only in the same units). numpy or torch in,
Python floats out.

* ``gaussian_nll``: mean ``0.5 log(2 pi var) + (y - mean)^2 / (2 var)``, nats per value.
* ``coverage``: the fraction of targets inside the central interval of probability ``level``
  (0.95: ``|y - mean| <= 1.96 sigma``); calibrated forecasts give ``level``.
* ``miscalibration_area``: the mean over levels p in (0, 1) of ``|coverage(p) - p|`` (the area
  between the calibration curve and the diagonal, as in Uncertainty Toolbox); 0 is calibrated, 0.5
  the worst.
* ``error_sigma_spearman``: Spearman's rank correlation of ``|y - mean|`` with ``sigma``: whether
  the forecast knows which values it gets wrong. Its ceiling is not 1: even a perfectly calibrated
  forecast has errors ``sigma z`` whose ranks are scrambled by ``z``, and how much depends on how
  much sigma varies. ``simulated_spearman_reference`` gives that value for the predicted sigmas
  (errors simulated from them), the number to compare against.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from chemnoether.errors import ConfigError

LEVELS = np.linspace(0.01, 0.99, 99)


def _arrays(mean, var, target) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = []
    for name, value in (("mean", mean), ("var", var), ("target", target)):
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        out.append(np.asarray(value, dtype=np.float64).reshape(-1))
        if not np.isfinite(out[-1]).all():
            raise ConfigError(f"{name} has NaN or infinite values")
    if not (out[0].shape == out[1].shape == out[2].shape) or out[0].size == 0:
        raise ConfigError(f"mean, var, target must be non-empty and of one shape, got sizes {[o.size for o in out]}")
    if (out[1] <= 0).any():
        raise ConfigError(f"var must be positive, got minimum {out[1].min():.3g}")
    return out[0], out[1], out[2]


def gaussian_nll(mean, var, target) -> float:
    """Mean Gaussian negative log-likelihood, nats per value (in the units of ``target``)."""
    m, v, y = _arrays(mean, var, target)
    return float(np.mean(0.5 * np.log(2 * math.pi * v) + 0.5 * (y - m) ** 2 / v))


def _z_scores(mean, var, target) -> np.ndarray:
    m, v, y = _arrays(mean, var, target)
    return np.abs(y - m) / np.sqrt(v)


def coverage(mean, var, target, level: float = 0.95) -> float:
    """Fraction of targets inside the central ``level`` interval, ``mean +- z_level sigma``."""
    if not 0 < level < 1:
        raise ConfigError(f"level={level}: need 0 < level < 1")
    half_width = math.sqrt(2) * special.erfinv(level)  # 1.96 at 0.95
    return float(np.mean(_z_scores(mean, var, target) <= half_width))


def calibration_curve(mean, var, target, levels: np.ndarray = LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """``(levels, observed)``: the fraction of targets inside each central interval."""
    z = np.sort(_z_scores(mean, var, target))
    half_widths = math.sqrt(2) * special.erfinv(levels)
    observed = np.searchsorted(z, half_widths, side="right") / z.size
    return levels, observed


def miscalibration_area(mean, var, target, levels: np.ndarray = LEVELS) -> float:
    """Mean over ``levels`` of ``|observed - level|`` (0: calibrated; 0.5 at worst)."""
    levels, observed = calibration_curve(mean, var, target, levels)
    return float(np.mean(np.abs(observed - levels)))


def error_sigma_spearman(mean, var, target) -> float:
    """Spearman rank correlation of ``|target - mean|`` with the predicted ``sigma`` (NaN if sigma is constant)."""
    m, v, y = _arrays(mean, var, target)
    if np.ptp(v) == 0:
        return float("nan")
    return float(stats.spearmanr(np.abs(y - m), np.sqrt(v)).statistic)


def simulated_spearman_reference(var, draws: int = 8, seed: int = 0) -> float:
    """Mean over ``draws`` of the Spearman of ``|sigma z|`` with ``sigma``, z standard normal: what
    ``error_sigma_spearman`` would be if the forecast were exactly calibrated, for these sigmas."""
    v = _arrays(var, var, var)[1]  # the same checks: finite, positive
    if np.ptp(v) == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    sigma = np.sqrt(v)
    values = [stats.spearmanr(np.abs(sigma * rng.standard_normal(sigma.size)), sigma).statistic for _ in range(draws)]
    return float(np.mean(values))


def calibration_summary(mean, var, target, level: float = 0.95) -> dict[str, float]:
    """Every metric at once: ``nll``, ``coverage`` (at ``level``), ``miscalibration_area``,
    ``spearman``, ``spearman_reference``, ``rmse`` (of the mean, target units) and ``count`` (values)."""
    m, v, y = _arrays(mean, var, target)
    return {
        "nll": gaussian_nll(m, v, y),
        "coverage": coverage(m, v, y, level),
        "miscalibration_area": miscalibration_area(m, v, y),
        "spearman": error_sigma_spearman(m, v, y),
        "spearman_reference": simulated_spearman_reference(v),
        "rmse": float(np.sqrt(np.mean((y - m) ** 2))),
        "count": int(y.size),
    }
