"""PNG plots of a rollout table (``rollout.csv``): MSE, energy drift and momentum drift against time.

matplotlib is optional (the ``plots`` extra): without it ``write_rollout_plots`` writes nothing
and says why. Figures are bare ``Figure`` objects, drawn with Agg, so pyplot's global state (and
backend) is left alone, and every file is written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from chemnoether._atomic import atomic_write

ROLLOUT_MSE_NAME = "rollout_mse.png"
ENERGY_DRIFT_NAME = "energy_drift.png"
MOMENTUM_DRIFT_NAME = "momentum_drift.png"
TAILORING_NAME = "tailoring.png"


def write_rollout_plots(
    table: pd.DataFrame, folder: str | os.PathLike, title: str = ""
) -> tuple[dict[str, Path], dict[str, str]]:
    """Draw the rollout plots into ``folder``: ``({name: path written}, {name: why skipped})``."""
    try:
        from matplotlib.figure import Figure  # noqa: F401 - lazy: optional matplotlib (extra "plots")
    except ImportError:
        reason = "matplotlib is not installed (pip install 'chemnoether[plots]')"
        return {}, {name: reason for name in (ROLLOUT_MSE_NAME, ENERGY_DRIFT_NAME, MOMENTUM_DRIFT_NAME)}
    folder = Path(folder)
    written, skipped = {}, {}
    written[ROLLOUT_MSE_NAME] = plot_rollout_mse(table, folder / ROLLOUT_MSE_NAME, title)
    if np.isfinite(table["energy_drift"]).any():
        written[ENERGY_DRIFT_NAME] = plot_energy_drift(table, folder / ENERGY_DRIFT_NAME, title)
    else:
        skipped[ENERGY_DRIFT_NAME] = "no energies of predicted frames (see metrics.json: rollout.energy.reason)"
        (folder / ENERGY_DRIFT_NAME).unlink(missing_ok=True)  # one from an earlier evaluation would mislead
    written[MOMENTUM_DRIFT_NAME] = plot_momentum_drift(table, folder / MOMENTUM_DRIFT_NAME, title)
    return written, skipped


def write_tailoring_plot(
    tables: dict[str, pd.DataFrame], folder: str | os.PathLike, title: str = ""
) -> tuple[dict[str, Path], dict[str, str]]:
    """``tailoring.png``: position MSE and energy drift against rollout time, one line per variant."""
    try:
        from matplotlib.figure import Figure  # lazy: optional matplotlib (extra "plots")
    except ImportError:
        return {}, {TAILORING_NAME: "matplotlib is not installed (pip install 'chemnoether[plots]')"}
    figure = Figure(figsize=(10, 4))
    error_axis, energy_axis = figure.subplots(1, 2)
    for name, table in tables.items():
        steps = _after_start(table)
        error_axis.plot(steps["time_fs"], steps["mse"], marker=".", label=name)
        energy_axis.plot(steps["time_fs"], steps["energy_drift"], marker=".", label=name)
    error_axis.set_ylabel("position MSE (Å²)")
    energy_axis.set_ylabel("|E(t) - E(0)| (eV), reference potential")
    for axis, column in ((error_axis, "mse"), (energy_axis, "energy_drift")):
        values = pd.concat([_after_start(t)[[column]] for t in tables.values()])
        _log_scale_if_positive(axis, values)
        axis.set_xlabel("rollout time (fs)")
        axis.legend(fontsize="small")
    if title:
        figure.suptitle(title, fontsize="medium")
    figure.tight_layout()
    path = Path(folder) / TAILORING_NAME
    return {TAILORING_NAME: atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))}, {}


def plot_rollout_mse(table: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """Position MSE of the model and of constant velocity against rollout time (log scale)."""
    figure, axis = _figure()
    steps = _after_start(table)
    time = steps["time_fs"]
    axis.plot(time, steps["mse"], marker=".", label="model")
    axis.plot(time, steps["constant_velocity_mse"], ls="--", color="grey", label="constant velocity")
    _log_scale_if_positive(axis, steps[["mse", "constant_velocity_mse"]])
    axis.set_ylabel("position MSE (Å²)")
    alive = axis.twinx()
    alive.plot(table["time_fs"], table["fraction_alive"], color="tab:red", lw=0.8, alpha=0.6)
    alive.set_ylim(0, 1.05)
    alive.set_ylabel("fraction still physical", color="tab:red")
    axis.legend(loc="upper left", fontsize="small")
    return _save(figure, axis, path, title)


def plot_energy_drift(table: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """Mean |E(t) - E(0)| of predicted and true frames, and the predicted potential's error."""
    figure, axis = _figure()
    steps = _after_start(table)
    time = steps["time_fs"]
    axis.plot(time, steps["energy_drift"], marker=".", label="predicted total energy |E(t) - E(0)|")
    axis.plot(time, steps["true_energy_drift"], ls="--", color="grey", label="true total energy |E(t) - E(0)|")
    axis.plot(time, steps["energy_error"], color="tab:green", lw=0.8, label="|U_pred(t) - U_true(t)|")
    _log_scale_if_positive(axis, steps[["energy_drift", "true_energy_drift", "energy_error"]])
    axis.set_ylabel("energy (eV), reference potential")
    axis.legend(loc="upper left", fontsize="small")
    return _save(figure, axis, path, title)


def plot_momentum_drift(table: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """Mean |P(t) - P(0)| and |L(t) - L(0)| of the predicted frames, on two axes (units differ)."""
    figure, axis = _figure()
    steps = _after_start(table)
    time = steps["time_fs"]
    axis.plot(time, steps["linear_momentum_drift"], marker=".", color="tab:blue")
    _log_scale_if_positive(axis, steps[["linear_momentum_drift"]])
    axis.set_ylabel("|P(t) - P(0)| (amu Å/fs)", color="tab:blue")
    angular = axis.twinx()
    angular.plot(time, steps["angular_momentum_drift"], marker=".", color="tab:orange")
    _log_scale_if_positive(angular, steps[["angular_momentum_drift"]])
    angular.set_ylabel("|L(t) - L(0)| (amu Å²/fs)", color="tab:orange")
    return _save(figure, axis, path, title)


def _after_start(table: pd.DataFrame) -> pd.DataFrame:
    # step 0 is the true start, where every error and drift is 0: nothing a log axis can show
    return table[table["step"] > 0]


def _log_scale_if_positive(axis, values: pd.DataFrame) -> None:
    """Log scale when every finite value is positive: errors and drifts span many decades once a
    rollout blows up, and a linear axis then flattens everything before it to zero."""
    finite = values.to_numpy()[np.isfinite(values.to_numpy())]
    if finite.size and (finite > 0).all():
        axis.set_yscale("log")


def _figure():
    from matplotlib.figure import Figure  # lazy: optional matplotlib (extra "plots")

    figure = Figure(figsize=(7, 4))
    return figure, figure.subplots()


def _save(figure, axis, path: str | os.PathLike, title: str) -> Path:
    axis.set_xlabel("rollout time (fs)")
    if title:
        axis.set_title(title, fontsize="medium")
    figure.tight_layout()
    return atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
