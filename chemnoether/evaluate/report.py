"""Evaluate a training run, and roll its model out to a file a viewer reads.

``evaluate_run(run_dir)`` reopens the run (model from ``best.pt``, data from ``config.yaml``),
scores single jumps on a split beside the constant-velocity peer, rolls the model out from a few
start frames, and writes ``run_dir/eval/``:

* ``metrics.json``: everything, written last (its presence marks a finished evaluation);
* ``metrics.csv``: one row per headline number (``metric``, ``model``, ``value``, ``unit``);
* ``rollout.csv``: per rollout step (``_diagnostics.ROLLOUT_COLUMNS``);
* ``windows.csv``: per-window single-jump errors;
* ``rollout_mse.png``, ``energy_drift.png``, ``momentum_drift.png`` (with matplotlib);
* for a meta-tailored run, or with ``test_time``: ``tailoring.csv`` (one row per variant: tailored,
  untailored, oracle- or learned-g-tailored, with costs and ratios), ``rollout_<variant>.csv`` and
  ``tailoring.png`` (``chemnoether.evaluate.tailoring``).

``rollout_run(run_dir, steps)`` writes one rollout as a trajectory (extxyz by default).
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from chemnoether._atomic import atomic_write
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import ConfigError
from chemnoether.evaluate._diagnostics import pick_rollout_starts, reference_potential, strain_edges
from chemnoether.train.run_dir import open_run, true_states
from chemnoether.evaluate.metrics import as_x100
from chemnoether.evaluate.physicality import Blowup, check_rollouts
from chemnoether.evaluate.plots import write_rollout_plots, write_tailoring_plot
from chemnoether.evaluate.rollout import rollout
from chemnoether.evaluate.tailoring import (
    TAILORED,
    UNTAILORED,
    TestTimeTailoring,
    comparison_table,
    score_variant,
    tailoring_variants,
    variant_row,
)

EVAL_DIR = "eval"
METRICS_JSON = "metrics.json"
METRICS_CSV = "metrics.csv"
ROLLOUT_CSV = "rollout.csv"
WINDOWS_CSV = "windows.csv"
TAILORING_CSV = "tailoring.csv"
UNITS = {
    "pos_mse": "Å^2",
    "pos_mse_x100": "1e-2 Å^2",
    "vel_mse": "(Å/fs)^2",
    "linear_momentum": "amu Å/fs",
    "angular_momentum": "amu Å^2/fs",
    "energy": "eV",
    "time": "fs",
}
_SUFFIXES = {"extxyz": "extxyz", "xyz": "xyz", "traj": "traj", "vasp-xdatcar": "XDATCAR"}
logger = logging.getLogger("chemnoether")


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    which: str = "best",
    split: str = "test",
    rollout_steps: int | None = None,
    n_rollouts: int = 8,
    device: str = "cpu",
    max_windows: int | None = None,
    test_time: TestTimeTailoring | None = None,
) -> dict:
    """Score the model of ``run_dir`` on ``split`` and write ``run_dir/eval/`` (module docstring).

    Args:
        which: ``"best"`` (``best.pt``, else ``last.pt``) or ``"last"``.
        split: ``"test"``, ``"val"`` or ``"train"`` windows of the run's own recipe.
        rollout_steps: model steps per rollout; ``None``: as many as the trajectory holds true
            frames for after the chosen starts, at most 50.
        n_rollouts: start frames, evenly spread over the split.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        max_windows: score at most this many windows (evenly spread) for the single-jump numbers.
        test_time: also tailor the (inner) model at test time with an oracle or a freshly
            pre-trained learned g (``TestTimeTailoring``).

    Returns the metrics (what ``metrics.json`` holds; NaN as ``None``).
    Raises ``CheckpointError`` / ``ConfigError`` naming the path when the run lacks a checkpoint
    or ``config.yaml``, and ``ConfigError`` for bad options.
    """
    run = open_run(run_dir, which=which, split=split, device=device)
    indices = _window_indices(len(run.windows), max_windows)
    batch_size = run.recipe.train.val_batch_size or run.recipe.train.batch_size
    starts, steps = pick_rollout_starts(run.windows, n_rollouts, rollout_steps)
    potential, energy_reason = reference_potential(run)
    variants = tailoring_variants(run, test_time)
    windows_table, rollout_table, rollout_summary, seconds = score_variant(
        run, run.model, indices, batch_size, starts, steps, potential
    )
    rollout_summary["energy"] = _energy_summary(rollout_table, potential, energy_reason)
    main = TAILORED if TAILORED in variants else UNTAILORED
    _log_blowups(main if variants else run.model_kind, rollout_summary)
    rows, variant_tables = [variant_row(main, windows_table, rollout_table, rollout_summary, seconds)], {}
    for name, model in variants.items():
        if name != main:
            single, table, summary, seconds = score_variant(run, model, indices, batch_size, starts, steps, potential)
            _log_blowups(name, summary)
            rows.append(variant_row(name, single, table, summary, seconds))
            variant_tables[name] = table

    metrics = {
        "run_dir": str(run.run_dir),
        "checkpoint": str(run.checkpoint),
        "which": which,
        "split": split,
        "device": str(run.device),
        "model_kind": run.model_kind,
        "molecule": run.trajectory.metadata.get("name") or run.trajectory.metadata.get("smiles"),
        "graph": run.topology.kind,
        "n_atoms": run.topology.num_atoms,
        "heavy_atoms_only": bool(run.topology.heavy_atoms),
        "delta_frames": int(run.windows.delta),
        "step_fs": run.step_fs,
        "single_step": _single_step_summary(windows_table, len(run.windows)),
        "rollout": rollout_summary,
        "units": UNITS,
    }
    folder = run.run_dir / EVAL_DIR
    files = {
        "rollout_csv": _write_csv(rollout_table, folder / ROLLOUT_CSV),
        "windows_csv": _write_csv(windows_table, folder / WINDOWS_CSV),
        "metrics_csv": _write_csv(metrics_table(metrics), folder / METRICS_CSV),
    }
    title = f"{metrics['molecule']}: {run.model_kind}, {split} split, step {run.step_fs:g} fs"
    plots, skipped = write_rollout_plots(rollout_table, folder, title)
    if variants:
        comparison = comparison_table(rows)
        metrics["tailoring"] = {"main": main, "variants": comparison.to_dict(orient="records")}
        files["tailoring_csv"] = _write_csv(comparison, folder / TAILORING_CSV)
        for name, table in variant_tables.items():
            files[f"rollout_{name}_csv"] = _write_csv(table, folder / f"rollout_{name}.csv")
        more, why = write_tailoring_plot({main: rollout_table, **variant_tables}, folder, title)
        plots.update(more)
        skipped.update(why)
    files.update({Path(name).stem + "_png": path for name, path in plots.items()})
    files["metrics_json"] = folder / METRICS_JSON
    metrics["files"] = {name: str(path) for name, path in files.items()}
    metrics["skipped_files"] = skipped
    metrics = _jsonable(metrics)
    text = json.dumps(metrics, indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write(folder / METRICS_JSON, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    return metrics


def metrics_table(metrics: dict) -> pd.DataFrame:
    """The headline numbers of ``metrics``, one row each: ``metric``, ``model``, ``value``, ``unit``."""
    kind, single, roll = metrics["model_kind"], metrics["single_step"], metrics["rollout"]
    rows = []
    for who, numbers in ((kind, single["model"]), ("constant_velocity", single["constant_velocity"])):
        rows += [(f"single_step.{name}", who, numbers[name], UNITS[name]) for name in ("pos_mse", "pos_mse_x100", "vel_mse")]
    # every rollout average is over the rollouts still physical at its last step
    over = f"over {roll['n_physical']} of {roll['n_rollouts']} rollouts (the physical ones)"
    rows += [
        ("rollout.n_physical", kind, roll["n_physical"], f"of {roll['n_rollouts']} rollouts"),
        ("rollout.final_mse", kind, roll["final_mse"], f"{UNITS['pos_mse']}, {over}"),
        ("rollout.final_mse", "constant_velocity", roll["constant_velocity_final_mse"], f"{UNITS['pos_mse']}, {over}"),
        ("rollout.final_mse_x100", kind, roll["final_mse_x100"], f"{UNITS['pos_mse_x100']}, {over}"),
        ("rollout.mean_mse", kind, roll["mean_mse"], f"{UNITS['pos_mse']}, {over}"),
        ("rollout.final_linear_momentum_drift", kind, roll["final_linear_momentum_drift"],
         f"{UNITS['linear_momentum']}, {over}"),
        ("rollout.final_angular_momentum_drift", kind, roll["final_angular_momentum_drift"],
         f"{UNITS['angular_momentum']}, {over}"),
    ]
    energy = roll["energy"]
    if energy["available"]:
        rows += [
            ("rollout.final_energy_drift", kind, energy["final_drift"], f"{UNITS['energy']}, {over}"),
            ("rollout.final_energy_drift", "true_trajectory", energy["true_final_drift"], f"{UNITS['energy']}, {over}"),
            ("rollout.final_energy_error", kind, energy["final_error"], f"{UNITS['energy']}, {over}"),
        ]
    stability, steps = roll["stability"], f"steps of {metrics['step_fs']:g} fs"
    rows += [
        ("rollout.mean_steps_until_unphysical", kind, stability["mean_steps_until_unphysical"], steps),
        ("rollout.min_steps_until_unphysical", kind, stability["min_steps_until_unphysical"], steps),
        ("rollout.fraction_completed", kind, stability["fraction_completed"], f"of {roll['n_rollouts']} rollouts"),
    ]
    for variant in metrics.get("tailoring", {}).get("variants", []):
        who = f"{kind} {variant['variant']}"
        own = f"over its {variant['n_physical']} physical of {variant['n_rollouts']} rollouts"
        common = f"over the {variant['n_common']} of {variant['n_rollouts']} rollouts every variant kept physical"
        rows += [
            ("tailoring.n_physical", who, variant["n_physical"], f"of {variant['n_rollouts']} rollouts"),
            ("tailoring.rollout_final_mse", who, variant["rollout_final_mse"], f"{UNITS['pos_mse']}, {own}"),
            ("tailoring.final_energy_drift", who, variant["final_energy_drift"], f"{UNITS['energy']}, {own}"),
            ("tailoring.final_angular_momentum_drift", who, variant["final_angular_momentum_drift"],
             f"{UNITS['angular_momentum']}, {own}"),
            ("tailoring.common_final_mse", who, variant["common_final_mse"], f"{UNITS['pos_mse']}, {common}"),
            ("tailoring.final_mse_vs_untailored", who, variant["final_mse_vs_untailored"], f"ratio, {common}"),
            ("tailoring.seconds_per_rollout_step", who, variant["seconds_per_rollout_step"], "s"),
            ("tailoring.cost_vs_untailored", who, variant["cost_vs_untailored"], "ratio"),
        ]
    table = pd.DataFrame(rows, columns=["metric", "model", "value", "unit"])
    table["value"] = table["value"].astype(float)  # None (a NaN in JSON) back to NaN
    return table


def rollout_run(
    run_dir: str | os.PathLike,
    steps: int,
    *,
    start: int = 0,
    split: str = "test",
    out: str | os.PathLike | None = None,
    format: str = "extxyz",  # noqa: A002 - ase.io's name
    which: str = "best",
    device: str = "cpu",
) -> Path:
    """Roll the model of ``run_dir`` out ``steps`` steps from window ``start`` of ``split``; write it.

    The file holds the start frame and every predicted one (positions, velocities, the time
    step ``delta * dt_fs`` in ``info["dt_fs"]``) for the atoms of the model's graph (heavy atoms
    only for heavy-atom models), in any ``ase.io`` ``format``. Default path:
    ``run_dir/eval/rollout_<split><start>_<steps>steps.<format>``. A rollout that turns
    unphysical (``chemnoether.evaluate.physicality``: a bond strained past 50%, atoms closer than
    0.5 Å, non-finite numbers) is logged as one warning line (logger ``chemnoether``) naming the
    step and the reason (the bond and its length); its finite frames are written all the same,
    so that the blow-up can be looked at.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ConfigError(f"steps must be a whole number >= 1, got {steps!r}")
    run = open_run(run_dir, which=which, split=split, device=device)
    n_windows = len(run.windows)
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < n_windows:
        raise ConfigError(f"start={start!r}: the {split} split has {n_windows} windows, so start must be 0 to {n_windows - 1}")
    frame = int(run.windows.starts[start])
    pos, vel = true_states(run.windows, np.array([frame]))
    pred_pos, pred_vel = rollout(run.model, run.topology, pos, vel, run.step_fs, int(steps), device=run.device)
    atoms, source = run.topology.atom_index, run.trajectory
    check = check_rollouts(pred_pos, pred_vel, strain_edges(run)[0], source.atomic_numbers[atoms])
    check.log([f"rollout from {split} window {start} (frame {frame})"])
    pred_pos, pred_vel = pred_pos[0], pred_vel[0]
    finite = np.isfinite(pred_pos).all(axis=(1, 2)) & np.isfinite(pred_vel).all(axis=(1, 2))
    kept = len(finite) if finite.all() else int(np.argmin(finite))  # a trajectory file holds finite frames only
    metadata = {"source": f"rollout of {run.run_dir} from {split} frame {frame}", "start_frame": frame,
                "model_kind": run.model_kind, "heavy_atoms_only": bool(run.topology.heavy_atoms)}
    if "masses" in source.metadata:
        metadata["masses"] = np.asarray(source.metadata["masses"])[atoms].tolist()
    predicted = Trajectory(
        atomic_numbers=source.atomic_numbers[atoms], positions=pred_pos[:kept], velocities=pred_vel[:kept],
        dt_fs=run.step_fs, cell=source.cell, pbc=source.pbc, metadata=metadata,
    )
    suffix = _SUFFIXES.get(format, format)
    path = Path(out) if out is not None else run.run_dir / EVAL_DIR / f"rollout_{split}{start}_{steps}steps.{suffix}"
    return atomic_write(path, lambda tmp: predicted.write(tmp, format=format))


def _log_blowups(variant: str, summary: dict) -> None:
    """One warning line per rollout of ``variant`` that turned unphysical (step and reason)."""
    for entry in summary["stability"]["unphysical"]:
        blowup = Blowup(entry["rollout"], entry["step"], entry["reason"])
        logger.warning(blowup.line(f"{variant}: rollout {blowup.rollout} from frame {entry['start_frame']}"))


def _window_indices(n_windows: int, max_windows: int | None) -> np.ndarray:
    if not n_windows:
        raise ConfigError("the split has no windows to score")
    if max_windows is None or max_windows >= n_windows:
        return np.arange(n_windows)
    if isinstance(max_windows, bool) or not isinstance(max_windows, (int, np.integer)) or max_windows < 1:
        raise ConfigError(f"max_windows must be a whole number >= 1 or None, got {max_windows!r}")
    return np.unique(np.linspace(0, n_windows - 1, max_windows).round().astype(np.int64))


def _single_step_summary(table: pd.DataFrame, n_split: int) -> dict:
    def scores(prefix: str) -> dict:
        pos_mse = float(table[prefix + "pos_mse"].mean())  # equal-size windows: the mean over all atoms
        return {"pos_mse": pos_mse, "pos_mse_x100": as_x100(pos_mse), "vel_mse": float(table[prefix + "vel_mse"].mean())}

    worst = int(table["pos_mse"].idxmax())
    return {
        "n_windows": len(table),
        "n_windows_in_split": n_split,
        "model": scores(""),
        "constant_velocity": scores("constant_velocity_"),
        "per_window": {
            "pos_mse_median": float(table["pos_mse"].median()),
            "pos_mse_max": float(table["pos_mse"].max()),
            "worst_start_frame": int(table["start_frame"].iloc[worst]),
            "beats_constant_velocity": float((table["pos_mse"] < table["constant_velocity_pos_mse"]).mean()),
        },
    }


def _energy_summary(table: pd.DataFrame, potential, reason: str | None) -> dict:
    if potential is None:
        return {"available": False, "reason": reason}
    final = table.iloc[-1]
    return {
        "available": True,
        "reason": None,
        "potential": potential.method,
        "final_drift": final["energy_drift"],
        "true_final_drift": final["true_energy_drift"],
        "final_error": final["energy_error"],
        "max_drift": float(table["energy_drift"].max()),
    }


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def _jsonable(value):
    """Plain JSON types: numpy scalars and arrays unwrapped, NaN and infinities as ``None``."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
