"""Calibration metrics against known answers."""

import math

import numpy as np
import pytest
import torch

from chemnoether.errors import ConfigError
from chemnoether.gp.metrics import (
    calibration_curve,
    calibration_summary,
    coverage,
    error_sigma_spearman,
    gaussian_nll,
    miscalibration_area,
    simulated_spearman_reference,
)


def calibrated(n=20000, seed=0):
    """Targets drawn from the forecast itself, with sigmas that vary over a decade."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=n)
    sigma = np.exp(rng.uniform(-1.2, 1.2, size=n))
    return mean, sigma**2, mean + sigma * rng.standard_normal(n)


def test_gaussian_nll_matches_the_closed_form():
    assert gaussian_nll([0.0], [1.0], [0.0]) == pytest.approx(0.5 * math.log(2 * math.pi))
    assert gaussian_nll([1.0, 1.0], [4.0, 4.0], [3.0, -1.0]) == pytest.approx(0.5 * math.log(8 * math.pi) + 0.5)
    mean, var, target = calibrated()
    expected = np.mean(0.5 * np.log(2 * np.pi * var)) + 0.5  # E[z^2] = 1
    assert gaussian_nll(mean, var, target) == pytest.approx(expected, abs=0.02)


def test_calibrated_samples_cover_their_levels():
    mean, var, target = calibrated()
    assert coverage(mean, var, target) == pytest.approx(0.95, abs=0.005)
    assert coverage(mean, var, target, level=0.5) == pytest.approx(0.5, abs=0.01)
    assert miscalibration_area(mean, var, target) < 0.01
    levels, observed = calibration_curve(mean, var, target)
    assert np.all(np.diff(observed) >= 0) and np.abs(observed - levels).max() < 0.02


def test_overconfidence_shows():
    mean, var, target = calibrated()
    shrunk = var / 4  # sigmas half the truth: the 95% interval holds about 68%
    assert coverage(mean, shrunk, target) == pytest.approx(0.68, abs=0.01)
    assert miscalibration_area(mean, shrunk, target) > 0.1
    assert gaussian_nll(mean, shrunk, target) > gaussian_nll(mean, var, target)


def test_spearman_and_its_simulated_reference():
    mean, var, target = calibrated()
    rho, reference = error_sigma_spearman(mean, var, target), simulated_spearman_reference(var)
    assert 0.2 < reference < 0.6 and rho == pytest.approx(reference, abs=0.03)
    rng = np.random.default_rng(1)
    shuffled = rng.permutation(var)  # sigmas unrelated to the errors
    assert abs(error_sigma_spearman(mean, shuffled, target)) < 0.03
    assert math.isnan(error_sigma_spearman(mean, np.ones_like(var), target))


def test_summary_takes_tensors_and_refuses_bad_input():
    mean, var, target = (torch.as_tensor(a).reshape(100, 200) for a in calibrated())
    summary = calibration_summary(mean, var, target)
    assert set(summary) == {"nll", "coverage", "miscalibration_area", "spearman", "spearman_reference", "rmse", "count"}
    assert summary["count"] == 20000 and summary["coverage"] == pytest.approx(0.95, abs=0.005)
    with pytest.raises(ConfigError, match="var must be positive"):
        gaussian_nll([0.0], [0.0], [1.0])
    with pytest.raises(ConfigError, match="NaN"):
        coverage([np.nan], [1.0], [1.0])
    with pytest.raises(ConfigError, match="one shape"):
        coverage([0.0, 1.0], [1.0], [1.0])
    with pytest.raises(ConfigError, match="level"):
        coverage([0.0], [1.0], [1.0], level=1.0)
