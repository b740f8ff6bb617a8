"""Accuracy metrics as the MD17 trajectory papers report them."""

from __future__ import annotations

import numpy as np
import torch


def position_mse(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> float:
    """Mean squared position error, Å^2, averaged over atoms and components (GMN / EGNO metric)."""
    pred = pred.detach().double().cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred, dtype=np.float64)
    target = target.detach().double().cpu().numpy() if isinstance(target, torch.Tensor) else np.asarray(target, dtype=np.float64)
    return float(np.mean((pred - target) ** 2))


def rollout_mse(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(T,) position MSE against step, Å^2, averaged over starts, atoms and components (NaN-aware)."""
    err = (np.asarray(pred) - np.asarray(target)) ** 2
    return np.nanmean(err.reshape(err.shape[0], err.shape[1], -1), axis=(0, 2))


def as_x100(mse: float) -> float:
    """The MSE in the papers' unit: x10^-2 Å^2 (an MSE of 0.1441 Å^2 reads 14.41)."""
    return 100.0 * mse
