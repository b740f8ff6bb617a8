"""The numbers of a run's evaluation: single-jump errors, and rollouts with their physics.

Rollout diagnostics per model step ``k`` (index 0 is the true start frame), averaged over the
``n_physical`` of the ``n_rollouts`` rollouts that are still physical at ``k``
(``chemnoether.evaluate.physicality``: finite, no bond strained past 50%, no atoms closer than
0.5 Å); a rollout that blew up is a failure, counted in ``n_rollouts - n_physical``, never averaged:

* ``mse``: position MSE against the true frame ``start + k * delta`` (Å^2), and
  ``constant_velocity_mse`` of the straight-line peer on the same rollouts;
* ``linear_momentum_drift`` / ``angular_momentum_drift``: ``|P(k) - P(0)|`` of the predicted
  frames (amu Å/fs, amu Å^2/fs);
* ``energy_drift``: ``|E(k) - E(0)|`` of the predicted total energy (reference potential plus
  kinetic, eV), beside ``true_energy_drift`` of the true frames (near 0 for NVE data) and
  ``energy_error``, ``|U_pred(k) - U_true(k)|`` of the potential energies;
* ``fraction_alive``: ``n_physical / n_rollouts``.

The summary's final and mean numbers are over the rollouts physical to the last step
(``n_physical``); ``per_rollout`` keeps each rollout's own numbers (``None`` once it failed), so
that variants can be compared on the rollouts they all kept physical.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import ChemNoetherError, ConfigError
from chemnoether.simulation.generate import make_potential, prepare_molecule
from chemnoether.train.run_dir import OpenedRun, model_dtype, steps_of_room, true_states
from chemnoether.evaluate.metrics import as_x100
from chemnoether.evaluate.physicality import STRAIN_THRESHOLD, Physicality, check_rollouts, strain_edges
from chemnoether.evaluate.physics import angular_momentum, kinetic_energy, linear_momentum, potential_energy
from chemnoether.evaluate.rollout import rollout

DEFAULT_MAX_ROLLOUT_STEPS = 50  # the default horizon: long enough to see drift, short enough for a CPU
ROLLOUT_COLUMNS = (
    "step", "time_fs", "n_rollouts", "n_physical", "mse", "mse_x100", "constant_velocity_mse", "linear_momentum_drift",
    "angular_momentum_drift", "energy_drift", "true_energy_drift", "energy_error", "fraction_alive",
)


@torch.no_grad()
def single_step_errors(run: OpenedRun, indices: np.ndarray, batch_size: int) -> pd.DataFrame:
    """Per window: start frame, position and velocity MSE of the model and of constant velocity."""
    from chemnoether.models import ConstantVelocity  # lazy: keeps e3nn out of `import chemnoether.evaluate`

    windows, dtype = run.windows, model_dtype(run.model)
    constant = ConstantVelocity().to(run.device)
    rows = []
    for begin in range(0, len(indices), batch_size):
        chunk = indices[begin : begin + batch_size]
        batch = GraphTensors.from_graph(windows.batch(chunk), device=run.device, dtype=dtype)
        target_pos, target_vel = batch.atom[keys.NEXT_POS], batch.atom[keys.NEXT_VEL]
        errors = {"start_frame": windows.starts[chunk]}
        for name, predictor in (("", run.model), ("constant_velocity_", constant)):
            prediction = predictor(batch)
            errors[name + "pos_mse"] = _per_graph_mse(prediction.pos, target_pos, len(chunk))
            errors[name + "vel_mse"] = _per_graph_mse(prediction.vel, target_vel, len(chunk))
        rows.append(pd.DataFrame(errors))
    return pd.concat(rows, ignore_index=True)


def _per_graph_mse(pred: torch.Tensor, target: torch.Tensor, num_graphs: int) -> np.ndarray:
    # every window of a trajectory has the same atoms, so graphs are equal-size rows
    err = (pred.double() - target.double()) ** 2
    return err.reshape(num_graphs, -1).mean(dim=1).cpu().numpy()


def pick_rollout_starts(windows, n_rollouts: int, rollout_steps: int | None) -> tuple[np.ndarray, int]:
    """``n_rollouts`` start frames of the split, evenly spread, with true frames for every step.

    ``rollout_steps=None``: as many steps as the ``n_rollouts`` roomiest starts all allow, at most
    ``DEFAULT_MAX_ROLLOUT_STEPS``.
    """
    if isinstance(n_rollouts, bool) or not isinstance(n_rollouts, (int, np.integer)) or n_rollouts < 1:
        raise ConfigError(f"n_rollouts must be a whole number >= 1, got {n_rollouts!r}")
    starts = np.sort(windows.starts)
    if not len(starts):
        raise ConfigError("the split has no windows, so there is nothing to roll out from")
    room = steps_of_room(windows, starts)
    if rollout_steps is None:
        roomiest = np.sort(room)[::-1]
        rollout_steps = int(min(DEFAULT_MAX_ROLLOUT_STEPS, roomiest[min(n_rollouts, len(roomiest)) - 1]))
        if rollout_steps < 1:
            raise ConfigError(f"no start of the split leaves the trajectory room for one step of {windows.delta} frames")
    elif isinstance(rollout_steps, bool) or not isinstance(rollout_steps, (int, np.integer)) or rollout_steps < 1:
        raise ConfigError(f"rollout_steps must be a whole number >= 1, got {rollout_steps!r}")
    fitting = starts[room >= rollout_steps]
    if not len(fitting):
        raise ConfigError(
            f"rollout_steps={rollout_steps}: no start of the split has true frames that far ahead "
            f"(steps of {windows.delta} frames); at most {int(room.max())} fit"
        )
    picked = np.unique(np.linspace(0, len(fitting) - 1, min(n_rollouts, len(fitting))).round().astype(np.int64))
    return fitting[picked], int(rollout_steps)


def reference_potential(run: OpenedRun):
    """``(reference potential, None)`` for the trajectory's molecule, or ``(None, why not)``.

    The reference is the potential the data was generated with (``metadata["potential"]``:
    MMFF94 or GFN2-xTB), MMFF94 for files that do not say.
    """
    traj, topology = run.trajectory, run.topology
    if topology.heavy_atoms:
        return None, (
            f"the model's graph holds {topology.num_atoms} of the trajectory's {traj.n_atoms} atoms "
            "(heavy atoms only); the MMFF94 energy needs every atom"
        )
    smiles = traj.metadata.get("smiles")
    if not smiles:
        return None, "the trajectory records no SMILES (metadata['smiles']), so there is no molecule for MMFF94"
    # the potential the trajectory was generated with (GFN2-xTB runs record "gfn2"); else MMFF94
    kind = traj.metadata.get("potential") if traj.metadata.get("potential") in ("mmff", "gfn2") else "mmff"
    try:
        potential = make_potential(kind, prepare_molecule(smiles))
    except (ChemNoetherError, ImportError) as err:
        return None, f"the {kind} reference potential cannot be set up for {smiles}: {err}"
    if not np.array_equal(potential.atomic_numbers, traj.atomic_numbers):
        return None, f"the trajectory's atoms are not in the order of SMILES {smiles} with hydrogens added"
    return potential, None


def rollout_diagnostics(run: OpenedRun, starts: np.ndarray, n_steps: int, potential) -> tuple[pd.DataFrame, dict]:
    """The per-step table (``ROLLOUT_COLUMNS``) and a summary of rollouts from ``starts`` (module docstring)."""
    windows = run.windows
    frames = starts[:, None] + windows.delta * np.arange(n_steps + 1)
    true_pos, true_vel = true_states(windows, frames)  # (B, K + 1, N, 3)
    pred_pos, pred_vel = rollout(run.model, run.topology, true_pos[:, 0], true_vel[:, 0], run.step_fs, n_steps, device=run.device)
    time_fs = run.step_fs * np.arange(n_steps + 1)
    # constant velocity needs no model: the start moves on a straight line
    straight = true_pos[:, :1] + time_fs[None, :, None, None] * true_vel[:, :1]
    masses = run.trajectory.masses[run.topology.atom_index]
    edges, edges_text = strain_edges(run)
    check = check_rollouts(pred_pos, pred_vel, edges, run.trajectory.atomic_numbers[run.topology.atom_index],
                           reference=true_pos[:, 0])
    momentum, spin = linear_momentum(masses, pred_vel), angular_momentum(masses, pred_pos, pred_vel)
    per_rollout = {  # (B, K + 1) each
        "mse": _squared_error(pred_pos, true_pos),
        "constant_velocity_mse": _squared_error(straight, true_pos),
        "linear_momentum_drift": np.linalg.norm(momentum - momentum[:, :1], axis=-1),
        "angular_momentum_drift": np.linalg.norm(spin - spin[:, :1], axis=-1),
        **_energy_columns(potential, masses, pred_pos, pred_vel, true_pos, true_vel),
    }
    alive = check.alive
    table = pd.DataFrame({"step": np.arange(n_steps + 1), "time_fs": time_fs, "n_rollouts": len(starts),
                          "n_physical": alive.sum(axis=0)})
    for name in ROLLOUT_COLUMNS[4:]:
        if name in per_rollout:
            table[name] = _mean_where(per_rollout[name], alive)
    table["mse_x100"] = as_x100(table["mse"].to_numpy())
    table["fraction_alive"] = alive.mean(axis=0)
    for name in ("energy_drift", "true_energy_drift", "energy_error"):
        table[name] = table.get(name, np.full(n_steps + 1, np.nan))
    table = table[list(ROLLOUT_COLUMNS)]
    return table, _summary(run, starts, n_steps, per_rollout, check, edges_text)


def _summary(run: OpenedRun, starts, n_steps, per_rollout: dict, check: Physicality, edges_text: str) -> dict:
    """Final and mean numbers over the rollouts physical to the end, and every rollout's own."""
    physical = check.physical
    final = {name: np.where(physical, values[:, -1], np.nan) for name, values in per_rollout.items()}
    mean_mse = np.where(physical, _quiet(np.nanmean, per_rollout["mse"][:, 1:], axis=1), np.nan)
    over_physical = {name: float(_quiet(np.nanmean, values)) for name, values in final.items()}
    return {
        "n_rollouts": len(starts),
        "n_physical": check.n_physical,
        "steps": n_steps,
        "step_fs": run.step_fs,
        "start_frames": starts.tolist(),
        "final_mse": over_physical["mse"],
        "final_mse_x100": as_x100(over_physical["mse"]),
        "mean_mse": float(_quiet(np.nanmean, mean_mse)),
        "constant_velocity_final_mse": over_physical["constant_velocity_mse"],
        "final_linear_momentum_drift": over_physical["linear_momentum_drift"],
        "final_angular_momentum_drift": over_physical["angular_momentum_drift"],
        "per_rollout": {
            "physical": physical.tolist(),
            **{f"final_{name}": values.tolist() for name, values in final.items()},
            "mean_mse": mean_mse.tolist(),
        },
        "stability": {
            "strain_threshold": STRAIN_THRESHOLD,
            "strain_edges": edges_text,
            "steps_until_unphysical": check.steps_physical.tolist(),
            "mean_steps_until_unphysical": float(check.steps_physical.mean()),
            "min_steps_until_unphysical": int(check.steps_physical.min()),
            "fraction_completed": check.n_physical / len(starts),
            "unphysical": [
                {"rollout": blowup.rollout, "start_frame": int(starts[blowup.rollout]), "step": blowup.step,
                 "reason": blowup.reason}
                for blowup in check.blowups
            ],
        },
    }


def _energy_columns(potential, masses, pred_pos, pred_vel, true_pos, true_vel) -> dict[str, np.ndarray]:
    """(B, K + 1) energy drifts and errors per rollout; empty without a reference potential."""
    if potential is None:
        return {}
    pred_potential, true_potential = potential_energy(potential, pred_pos), potential_energy(potential, true_pos)
    pred_total = pred_potential + kinetic_energy(masses, pred_vel)
    true_total = true_potential + kinetic_energy(masses, true_vel)
    return {
        "energy_drift": np.abs(pred_total - pred_total[:, :1]),
        "true_energy_drift": np.abs(true_total - true_total[:, :1]),
        "energy_error": np.abs(pred_potential - true_potential),
    }


def _squared_error(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(B, T) position MSE of each rollout at each step (atoms and components averaged)."""
    err = (pred - target) ** 2
    return err.reshape(*err.shape[:2], -1).mean(axis=-1)


def _mean_where(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(B, T) -> (T,) mean over the rollouts ``keep`` marks at each step; NaN where none is kept."""
    return _quiet(np.nanmean, np.where(keep, values, np.nan), axis=0)


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice" once every rollout has failed
        return function(*args, **kwargs)
