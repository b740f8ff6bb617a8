"""evaluate_run and rollout_run on a real (tiny) training run: files, numbers, and clear failures."""

import copy
import logging
import json
import shutil
import sys
from types import SimpleNamespace

import ase.io
import numpy as np
import pandas as pd
import pytest
import torch
from ase import units

from chemnoether.errors import CheckpointError, ConfigError
from chemnoether.evaluate import evaluate_run, metrics_table, rollout_run
from chemnoether.evaluate._diagnostics import ROLLOUT_COLUMNS, pick_rollout_starts
from chemnoether.evaluate.plots import write_rollout_plots
from chemnoether.evaluate.report import _jsonable
from chemnoether.train import load_recipe
from chemnoether.train.recipe_data import DataOptions, windows_from_options

STEPS, ROLLOUTS, WINDOWS = 4, 3, 20
FILES = ("metrics.json", "metrics.csv", "rollout.csv", "windows.csv", "rollout_mse.png", "energy_drift.png", "momentum_drift.png")


@pytest.fixture(scope="module")
def evaluated(trained_run):
    return evaluate_run(trained_run, rollout_steps=STEPS, n_rollouts=ROLLOUTS, max_windows=WINDOWS)


@pytest.fixture(scope="module")
def test_windows(trained_run):
    recipe = load_recipe(trained_run / "config.yaml", schemas={"data": DataOptions})
    return windows_from_options(recipe.data).test


def test_evaluate_run_writes_every_file(trained_run, evaluated):
    folder = trained_run / "eval"
    for name in FILES:
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temporary files
    assert json.loads((folder / "metrics.json").read_text()) == evaluated
    assert set(evaluated["files"]) >= {"metrics_json", "metrics_csv", "rollout_csv", "rollout_mse_png"}
    assert evaluated["skipped_files"] == {}


def test_metrics_have_the_expected_keys(evaluated, test_windows):
    assert evaluated["model_kind"] == "equivariant" and evaluated["split"] == "test"
    assert evaluated["n_atoms"] == 9 and not evaluated["heavy_atoms_only"]
    assert evaluated["step_fs"] == pytest.approx(5 * 0.5)
    single = evaluated["single_step"]
    assert single["n_windows"] == WINDOWS and single["n_windows_in_split"] == len(test_windows)
    for who in ("model", "constant_velocity"):
        assert set(single[who]) == {"pos_mse", "pos_mse_x100", "vel_mse"}
        assert single[who]["pos_mse_x100"] == pytest.approx(100 * single[who]["pos_mse"])
    roll = evaluated["rollout"]
    assert roll["n_rollouts"] == ROLLOUTS and roll["steps"] == STEPS
    assert set(roll["start_frames"]) <= set(test_windows.starts.tolist())
    expected = {"final_mse", "mean_mse", "final_linear_momentum_drift", "final_angular_momentum_drift", "energy", "stability"}
    assert expected <= set(roll)
    stability = roll["stability"]
    assert stability["strain_edges"] == "bonds of the topology" and stability["strain_threshold"] == 0.5
    assert len(stability["steps_until_unphysical"]) == ROLLOUTS
    assert all(0 <= s <= STEPS for s in stability["steps_until_unphysical"])


def test_rollout_table_per_step(trained_run, evaluated):
    table = pd.read_csv(trained_run / "eval" / "rollout.csv")
    assert tuple(table.columns) == ROLLOUT_COLUMNS
    assert table["step"].tolist() == list(range(STEPS + 1))
    first = table.iloc[0]  # the true start: no error, no drift
    assert first["mse"] == 0 and first["linear_momentum_drift"] == 0 and first["energy_drift"] == 0
    assert first["fraction_alive"] == 1
    assert table["fraction_alive"].is_monotonic_decreasing
    # the model conserves linear momentum by construction (float32 rounding only)
    assert table["linear_momentum_drift"].max() < 1e-4


def test_energy_under_the_reference_potential(trained_run, evaluated):
    energy = evaluated["rollout"]["energy"]
    assert energy["available"] and energy["reason"] is None and energy["potential"] == "MMFF94 (RDKit)"
    # the data are NVE MMFF94 frames: their own total energy barely moves (atoms in the right order)
    table = pd.read_csv(trained_run / "eval" / "rollout.csv")
    assert table["true_energy_drift"].max() < 0.01
    # averages over the rollouts still physical at each step; none left: no number, not a survivor's
    physical = table["n_physical"] > 0
    assert physical.iloc[0] and (table["n_rollouts"] == ROLLOUTS).all()
    assert np.isfinite(table.loc[physical, ["energy_drift", "energy_error"]]).all().all()
    assert table.loc[~physical, ["mse", "energy_drift", "energy_error"]].isna().all().all()


def test_constant_velocity_row_equals_a_direct_computation(trained_run, evaluated, test_windows):
    windows = pd.read_csv(trained_run / "eval" / "windows.csv")
    traj, delta = test_windows.trajectory, test_windows.delta
    starts = windows["start_frame"].to_numpy()
    assert len(starts) == WINDOWS
    straight = traj.positions[starts] + delta * traj.dt_fs * traj.velocities[starts]
    errors = ((straight - traj.positions[starts + delta]) ** 2).mean(axis=(1, 2))
    # the model saw float32 windows: agreement to float32 rounding
    np.testing.assert_allclose(windows["constant_velocity_pos_mse"], errors, rtol=1e-4)
    cv = evaluated["single_step"]["constant_velocity"]
    assert cv["pos_mse"] == pytest.approx(errors.mean(), rel=1e-4)
    vel_errors = ((traj.velocities[starts] - traj.velocities[starts + delta]) ** 2).mean()
    assert cv["vel_mse"] == pytest.approx(vel_errors, rel=1e-4)
    table = pd.read_csv(trained_run / "eval" / "metrics.csv")
    row = table[(table["metric"] == "single_step.pos_mse") & (table["model"] == "constant_velocity")]
    assert row["value"].item() == pytest.approx(errors.mean(), rel=1e-4)
    assert set(table["model"]) >= {"equivariant", "constant_velocity"}


def test_rollout_file_reads_back_with_ase(trained_run, test_windows, tmp_path):
    steps, start = 6, 2
    path = rollout_run(trained_run, steps, start=start, out=tmp_path / "roll.extxyz")
    frames = ase.io.read(path, ":")
    assert len(frames) == steps + 1 and all(len(atoms) == 9 for atoms in frames)
    traj, frame = test_windows.trajectory, test_windows.starts[start]
    np.testing.assert_allclose(frames[0].positions, traj.positions[frame], atol=1e-6)
    np.testing.assert_allclose(frames[0].get_velocities() * units.fs, traj.velocities[frame], atol=1e-6)
    assert frames[1].info["dt_fs"] == pytest.approx(2.5)
    assert frames[0].get_chemical_formula() == "C2H6O"


def test_rollout_run_default_path_and_bad_start(trained_run):
    path = rollout_run(trained_run, 2)
    assert path == trained_run / "eval" / "rollout_test0_2steps.extxyz" and path.is_file()
    with pytest.raises(ConfigError, match="start=999: the test split has"):
        rollout_run(trained_run, 2, start=999)
    with pytest.raises(ConfigError, match="steps must be"):
        rollout_run(trained_run, 0)


def test_heavy_atom_run_skips_the_energy_with_a_reason(heavy_run, tmp_path):
    metrics = evaluate_run(heavy_run, rollout_steps=2, n_rollouts=2, max_windows=4)
    assert metrics["heavy_atoms_only"] and metrics["n_atoms"] == 3
    energy = metrics["rollout"]["energy"]
    assert not energy["available"] and "heavy atoms only" in energy["reason"]
    assert "energy_drift.png" in metrics["skipped_files"] and not (heavy_run / "eval" / "energy_drift.png").exists()
    assert pd.read_csv(heavy_run / "eval" / "rollout.csv")["energy_drift"].isna().all()
    frames = ase.io.read(rollout_run(heavy_run, 3, out=tmp_path / "heavy.extxyz"), ":")
    assert len(frames) == 4 and frames[0].get_chemical_formula() == "C2O"


def test_a_run_without_checkpoint_or_config_is_named(trained_run, tmp_path):
    no_checkpoint = tmp_path / "no_checkpoint"
    no_checkpoint.mkdir()
    shutil.copy(trained_run / "config.yaml", no_checkpoint / "config.yaml")
    with pytest.raises(CheckpointError, match=str(no_checkpoint)):
        evaluate_run(no_checkpoint)
    no_config = tmp_path / "no_config"
    no_config.mkdir()
    shutil.copy(trained_run / "best.pt", no_config / "best.pt")
    with pytest.raises(ConfigError, match=str(no_config / "config.yaml")):
        evaluate_run(no_config)
    with pytest.raises(ConfigError, match="does not exist"):
        evaluate_run(tmp_path / "missing")
    with pytest.raises(ConfigError, match="split must be one of"):
        evaluate_run(trained_run, split="holdout")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            evaluate_run(trained_run, device="cuda")


def test_blown_up_numbers_are_null_in_json_and_nan_in_the_table(evaluated):
    metrics = copy.deepcopy(evaluated)
    metrics["rollout"]["final_mse"] = float("nan")  # every rollout blew up before the last step
    plain = _jsonable(metrics)
    assert plain["rollout"]["final_mse"] is None
    json.dumps(plain, allow_nan=False)
    table = metrics_table(plain)
    assert np.isnan(table.loc[(table["metric"] == "rollout.final_mse") & (table["model"] == "equivariant"), "value"].item())


def _windows(starts, n_frames=100, delta=5, velocity="trajectory"):
    return SimpleNamespace(starts=np.array(starts), delta=delta, velocity=velocity, trajectory=SimpleNamespace(n_frames=n_frames))


def test_rollout_starts_leave_room_for_every_step():
    # frames 0-99, steps of 5: start 80 has room for 3 steps, 90 for 1
    starts, steps = pick_rollout_starts(_windows([60, 70, 80, 90]), n_rollouts=3, rollout_steps=None)
    assert steps == 3 and starts.tolist() == [60, 70, 80]
    # a long trajectory: the default cap of 50 steps, starts spread over the whole split
    starts, steps = pick_rollout_starts(_windows(range(40), n_frames=1000), n_rollouts=4, rollout_steps=None)
    assert steps == 50 and starts.tolist() == [0, 13, 26, 39]
    starts, _ = pick_rollout_starts(_windows([60, 70, 80, 90], velocity="forward_difference"), 1, rollout_steps=7)
    assert starts.tolist() == [60]  # 60 + 35 + 1 <= 99; 70 would need frame 106
    with pytest.raises(ConfigError, match="at most 7 fit"):
        pick_rollout_starts(_windows([60, 70]), 2, rollout_steps=8)
    with pytest.raises(ConfigError, match="n_rollouts"):
        pick_rollout_starts(_windows([60]), 0, None)


def test_plots_are_skipped_cleanly_without_matplotlib(monkeypatch, tmp_path):
    table = pd.DataFrame({name: np.linspace(0, 1, 3) for name in ROLLOUT_COLUMNS})
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # `import matplotlib.figure` now fails
    written, skipped = write_rollout_plots(table, tmp_path)
    assert written == {} and len(skipped) == 3 and "matplotlib is not installed" in next(iter(skipped.values()))
    assert not list(tmp_path.iterdir())


def test_rollout_run_logs_one_line_when_the_molecule_blows_up(trained_run, tmp_path, monkeypatch, caplog):
    from chemnoether.evaluate import report

    real_rollout = report.rollout

    def exploding(*args, **kwargs):  # the real rollout, then C0 flung 500 Å away from step 2 on
        pos, vel = real_rollout(*args, **kwargs)
        pos[:, 2:, 0] += 500.0
        return pos, vel

    monkeypatch.setattr(report, "rollout", exploding)
    with caplog.at_level(logging.WARNING, logger="chemnoether"):
        path = rollout_run(trained_run, 4, start=1, out=tmp_path / "boom.extxyz")
    (line,) = [record.getMessage() for record in caplog.records]
    assert line.startswith("rollout from test window 1 (frame ")
    assert ": unphysical from step 2: bond C0-" in line and "Å at the start" in line
    assert len(ase.io.read(path, ":")) == 5  # the finite frames are all written, blow-up included


def test_rollout_run_is_silent_when_the_rollout_stays_physical(trained_run, tmp_path, monkeypatch, caplog):
    from chemnoether.evaluate import report

    def rigid(model, topology, pos, vel, dt_fs, n_steps, **kwargs):  # the start, translated a little each step
        shift = 0.01 * np.arange(n_steps + 1)[None, :, None, None]
        return pos[:, None] + shift, np.repeat(vel[:, None], n_steps + 1, axis=1)

    monkeypatch.setattr(report, "rollout", rigid)
    with caplog.at_level(logging.WARNING, logger="chemnoether"):
        rollout_run(trained_run, 4, out=tmp_path / "calm.extxyz")
    assert caplog.records == []


def test_every_blown_up_rollout_is_listed_with_its_step(evaluated):
    roll = evaluated["rollout"]
    stability = roll["stability"]
    assert len(stability["unphysical"]) == roll["n_rollouts"] - roll["n_physical"]
    for entry in stability["unphysical"]:
        assert entry["step"] == stability["steps_until_unphysical"][entry["rollout"]] + 1 and entry["reason"]
        assert roll["per_rollout"]["final_mse"][entry["rollout"]] is None  # a failure, not a number
    physical = roll["per_rollout"]["physical"]
    assert sum(physical) == roll["n_physical"]
    assert [s == roll["steps"] for s in stability["steps_until_unphysical"]] == physical
