"""The Trajectory type: validation, lossless save/load, selection, physics and ASE export."""

import json
import os

import numpy as np
import pytest
from ase import units
from ase.io import read

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import TrajectoryFormatError

WATER_AND_CARBON = np.array([8, 1, 1, 6])


def make_trajectory(n_frames=6, **overrides) -> Trajectory:
    """A trajectory with every optional field filled by distinct float64 values."""
    rng = np.random.default_rng(7)
    shape = (n_frames, len(WATER_AND_CARBON), 3)
    fields = {
        "atomic_numbers": WATER_AND_CARBON,
        "positions": rng.normal(size=shape),
        "dt_fs": 0.5,
        "velocities": rng.normal(scale=1e-2, size=shape),
        "forces": rng.normal(size=shape),
        "energies": rng.normal(size=n_frames),
        "cell": np.diag([10.0, 11.0, 12.0]),
        "pbc": np.array([True, True, False]),
        "frame_indices": np.arange(n_frames) * 3 + 100,
        "metadata": {"source": "synthetic.xyz", "method": "MMFF94", "temperature_K": 300.0, "nested": {"ok": [1, 2]}},
    }
    fields.update(overrides)
    return Trajectory(**fields)


def test_fields_take_chemnoether_dtypes():
    trajectory = make_trajectory(atomic_numbers=[8, 1, 1, 6], dt_fs=np.float32(0.5))
    assert trajectory.atomic_numbers.dtype == np.int64
    assert trajectory.positions.dtype == trajectory.velocities.dtype == np.float64
    assert type(trajectory.dt_fs) is float  # a numpy scalar would break the JSON header
    assert (trajectory.n_frames, trajectory.n_atoms) == (6, 4)


# --- validation ---------------------------------------------------------------------------------------
def nan_at(frame, name="positions"):
    values = getattr(make_trajectory(), name).copy()
    values[frame] = np.nan
    return {name: values}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"atomic_numbers": 8}, "non-empty (N,)"),
        ({"atomic_numbers": np.zeros(0, int), "positions": np.zeros((2, 0, 3))}, "non-empty (N,)"),
        ({"atomic_numbers": [8, 1, 0, 6]}, "unknown elements [0] at atoms [2]"),
        ({"atomic_numbers": [8, 119, 1, 6]}, "unknown elements [119] at atoms [1]"),
        ({"positions": np.zeros((6, 4, 2))}, "positions must have shape (T, 4, 3)"),
        ({"positions": np.zeros((6, 3, 3))}, "positions must have shape (T, 4, 3)"),
        (
            {"positions": np.zeros((0, 4, 3)), "velocities": None, "forces": None, "energies": None, "frame_indices": None},
            "no frames",
        ),
        ({"velocities": np.zeros((5, 4, 3))}, "velocities has shape (5, 4, 3)"),
        ({"forces": np.zeros((6, 4))}, "forces has shape (6, 4)"),
        ({"energies": np.zeros((6, 1))}, "energies must have shape (6,)"),
        (nan_at(3), "positions has NaN or infinite values in frames [3]"),
        (nan_at(0, "velocities"), "velocities has NaN or infinite values in frames [0]"),
        (nan_at(5, "forces"), "forces has NaN or infinite values in frames [5]"),
        ({"energies": [0, 1, np.inf, 0, 0, np.nan]}, "energies has NaN or infinite values in frames [2, 5]"),
        ({"cell": np.eye(2)}, "cell must have shape (3, 3)"),
        ({"cell": np.full((3, 3), np.nan)}, "cell has NaN"),
        ({"cell": None}, "needs a cell of non-zero volume"),
        ({"cell": np.zeros((3, 3))}, "needs a cell of non-zero volume"),
        ({"dt_fs": 0.0}, "the time step must be positive"),
        ({"dt_fs": -0.5}, "the time step must be positive"),
        ({"dt_fs": float("nan")}, "the time step must be positive"),
        ({"dt_fs": "half"}, "is not a number"),
        ({"frame_indices": np.arange(5)}, "frame_indices must have shape (6,)"),
        ({"metadata": {"source": "synthetic.xyz", "masses": [16.0, 1.0]}}, "metadata['masses'] must be 4"),
        ({"metadata": {"source": "synthetic.xyz", "masses": [16.0, 1.0, 0.0, 12.0]}}, "positive masses"),
    ],
)
def test_validation_names_the_source_and_the_fault(overrides, message):
    overrides.setdefault("metadata", {"source": "synthetic.xyz"})
    with pytest.raises(TrajectoryFormatError) as caught:
        make_trajectory(**overrides)
    assert message in str(caught.value)
    assert str(caught.value).startswith("synthetic.xyz: ")


def test_many_bad_frames_are_listed_with_an_ellipsis():
    positions = make_trajectory(n_frames=30).positions
    positions[::2] = np.nan
    with pytest.raises(TrajectoryFormatError, match=r"frames \[0, 2, 4, 6, 8, 10, 12, 14, 16, 18\] \.\.\."):
        make_trajectory(n_frames=30, positions=positions)


# --- save / load --------------------------------------------------------------------------------------
def assert_same_trajectory(loaded: Trajectory, original: Trajectory):
    for name in ("atomic_numbers", "positions", "velocities", "forces", "energies", "cell", "pbc", "frame_indices"):
        expected, actual = getattr(original, name), getattr(loaded, name)
        if expected is None:
            assert actual is None, name
        else:
            assert actual.dtype == expected.dtype, name
            np.testing.assert_array_equal(actual, expected, err_msg=name)
    assert (loaded.dt_fs, loaded.consecutive, loaded.velocities_derived) == (
        original.dt_fs,
        original.consecutive,
        original.velocities_derived,
    )
    assert loaded.metadata == original.metadata


def test_save_load_round_trip_is_exact(tmp_path):
    original = make_trajectory(consecutive=False, velocities_derived=True)
    original.metadata["smiles"] = "O"
    original.metadata["note"] = "Å/fs, ünïcode"
    path = original.save(tmp_path / "deep" / "water")  # no suffix: the exact path is kept
    assert path == tmp_path / "deep" / "water"
    assert_same_trajectory(Trajectory.load(path), original)


def test_save_load_round_trip_without_optional_fields(tmp_path):
    original = Trajectory(atomic_numbers=[1, 1], positions=np.arange(12, dtype=float).reshape(2, 2, 3))
    loaded = Trajectory.load(original.save(tmp_path / "h2.npz"))
    assert_same_trajectory(loaded, original)
    assert loaded.dt_fs is None and loaded.cell is None


def test_a_failed_save_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "water.npz"
    first = make_trajectory()
    first.save(path)
    before = path.read_bytes()

    def broken_savez(handle, **arrays):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        make_trajectory(energies=np.zeros(6)).save(path)
    with pytest.raises(OSError, match="disk full"):
        first.save(tmp_path / "new.npz")
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["water.npz"]


def rewrite(path, **changes):
    """The arrays of a saved trajectory with ``changes`` applied, written back to ``path``."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays.update(changes)
    arrays = {name: value for name, value in arrays.items() if value is not None}
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def header(**changes):
    fields = {"format_version": 1, "dt_fs": 0.5, "consecutive": True, "velocities_derived": False, "metadata": {}}
    fields.update(changes)
    return np.array(json.dumps(fields))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"header": None}, "no chemnoether header"),
        ({"header": header(format_version=99)}, "format version 99 is not 1"),
        ({"header": np.array("{not json")}, "damaged header"),
        ({"header": np.array(json.dumps({"format_version": 1}))}, "damaged header, missing ['consecutive', 'dt_fs'"),
        ({"header": np.array("[1, 2]")}, "damaged header"),
        ({"positions": None}, "missing arrays ['positions']"),
        ({"momenta": np.zeros(3)}, "unknown arrays ['momenta']"),
        ({"forces": np.full((6, 4, 3), np.nan)}, "forces has NaN or infinite values in frames [0, 1, 2, 3, 4, 5]"),
    ],
)
def test_load_names_the_file_and_the_fault(tmp_path, changes, message):
    path = rewrite(make_trajectory().save(tmp_path / "water.npz"), **changes)
    with pytest.raises(TrajectoryFormatError) as caught:
        Trajectory.load(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_load_refuses_a_truncated_file_and_reports_a_missing_one(tmp_path):
    path = make_trajectory().save(tmp_path / "water.npz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(TrajectoryFormatError, match="not a readable .npz file"):
        Trajectory.load(path)
    with pytest.raises(FileNotFoundError):
        Trajectory.load(tmp_path / "absent.npz")


# --- selection ----------------------------------------------------------------------------------------
def test_a_slice_of_step_one_stays_consecutive_and_carries_frame_numbers():
    trajectory = make_trajectory()
    part = trajectory.frames(slice(2, 5))
    assert part.consecutive and part.dt_fs == 0.5
    np.testing.assert_array_equal(part.frame_indices, [106, 109, 112])
    np.testing.assert_array_equal(part.positions, trajectory.positions[2:5])
    np.testing.assert_array_equal(part.velocities, trajectory.velocities[2:5])
    np.testing.assert_array_equal(part.energies, trajectory.energies[2:5])


def test_every_kth_frame_is_consecutive_at_k_times_dt():
    part = make_trajectory().frames(slice(1, None, 2))
    assert part.consecutive and part.dt_fs == 1.0
    np.testing.assert_array_equal(part.frame_indices, [103, 109, 115])


def test_frame_numbers_default_to_positions_in_the_trajectory():
    part = make_trajectory(frame_indices=None).frames(slice(3, None))
    np.testing.assert_array_equal(part.frame_indices, [3, 4, 5])


@pytest.mark.parametrize("index", [[0, 2, 3], np.array([True, False, True, False, False, True]), 4, slice(None, None, -1)])
def test_other_selections_are_not_consecutive(index):
    trajectory = make_trajectory()
    part = trajectory.frames(index)
    assert not part.consecutive
    assert part.dt_fs == 0.5  # unchanged: it says nothing about these gaps any more
    np.testing.assert_array_equal(part.frame_indices, trajectory.frame_indices[np.atleast_1d(np.arange(6)[index])])


def test_a_subsample_stays_a_subsample_and_keeps_its_time_step():
    part = make_trajectory(consecutive=False).frames(slice(None, None, 2))
    assert not part.consecutive and part.dt_fs == 0.5


def test_a_consecutive_trajectory_of_unknown_time_step_stays_consecutive_when_strided():
    part = make_trajectory(dt_fs=None).frames(slice(None, None, 3))
    assert part.consecutive and part.dt_fs is None


def test_atoms_subset_keeps_heavy_atoms_and_their_masses():
    trajectory = make_trajectory(metadata={"masses": [16.0, 2.0, 2.0, 12.0]})
    heavy = trajectory.atoms_subset(trajectory.atomic_numbers > 1)
    np.testing.assert_array_equal(heavy.atomic_numbers, [8, 6])
    np.testing.assert_array_equal(heavy.positions, trajectory.positions[:, [0, 3]])
    np.testing.assert_array_equal(heavy.velocities, trajectory.velocities[:, [0, 3]])
    np.testing.assert_array_equal(heavy.forces, trajectory.forces[:, [0, 3]])
    np.testing.assert_array_equal(heavy.energies, trajectory.energies)
    np.testing.assert_array_equal(heavy.masses, [16.0, 12.0])
    assert trajectory.metadata["masses"] == [16.0, 2.0, 2.0, 12.0]  # the original is untouched


# --- physics ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metadata", [{}, {"masses": [16.0, 2.014, 2.014, 13.0]}])
def test_kinetic_energies_match_ase(metadata):
    trajectory = make_trajectory(metadata=metadata)
    expected = [trajectory.to_atoms(t).get_kinetic_energy() for t in range(trajectory.n_frames)]
    np.testing.assert_allclose(trajectory.kinetic_energies(), expected, rtol=1e-13)


def test_kinetic_energy_needs_velocities():
    with pytest.raises(TrajectoryFormatError, match="no velocities"):
        make_trajectory(velocities=None).kinetic_energies()


def test_to_atoms_carries_cell_pbc_and_results():
    trajectory = make_trajectory()
    atoms = trajectory.to_atoms(2)
    np.testing.assert_array_equal(atoms.cell.array, trajectory.cell)
    np.testing.assert_array_equal(atoms.pbc, trajectory.pbc)
    assert atoms.get_potential_energy() == trajectory.energies[2]
    np.testing.assert_array_equal(atoms.get_forces(), trajectory.forces[2])


@pytest.mark.parametrize(("name", "atol"), [("water.extxyz", 1e-7), ("water.traj", 1e-14)])
def test_write_reads_back_with_ase(tmp_path, name, atol):
    """extxyz prints 8 decimals; .traj stores the float64 values."""
    trajectory = make_trajectory()
    frames = read(trajectory.write(tmp_path / name), ":")
    assert len(frames) == trajectory.n_frames
    for t, atoms in enumerate(frames):
        np.testing.assert_array_equal(atoms.numbers, trajectory.atomic_numbers)
        np.testing.assert_allclose(atoms.positions, trajectory.positions[t], rtol=0, atol=atol)
        np.testing.assert_allclose(atoms.get_velocities() * units.fs, trajectory.velocities[t], rtol=0, atol=atol)
        np.testing.assert_allclose(atoms.get_forces(), trajectory.forces[t], rtol=0, atol=atol)
        assert atoms.get_potential_energy() == pytest.approx(trajectory.energies[t], abs=1e-14)
        np.testing.assert_allclose(atoms.cell.array, trajectory.cell, rtol=0, atol=atol)
        np.testing.assert_array_equal(atoms.pbc, trajectory.pbc)


def test_require_consecutive():
    assert make_trajectory().require_consecutive("velocity windows") == 0.5
    with pytest.raises(TrajectoryFormatError, match="not consecutive .* cannot be used for velocity windows"):
        make_trajectory(consecutive=False).require_consecutive("velocity windows")
    with pytest.raises(TrajectoryFormatError, match="time step is unknown and is needed for rollouts.*data.dt_fs"):
        make_trajectory(dt_fs=None).require_consecutive("rollouts")


def test_written_files_keep_the_time_step_and_normal_permissions(tmp_path):
    from chemnoether.data.readers import read_trajectory

    traj = Trajectory([8, 1, 1], np.random.default_rng(0).normal(size=(3, 3, 3)), dt_fs=0.25)
    back = read_trajectory(traj.write(tmp_path / "t.extxyz"))
    assert back.dt_fs == 0.25 and back.consecutive
    saved = traj.save(tmp_path / "t.npz")
    assert os.stat(saved).st_mode & 0o077 == 0o666 & ~_current_umask() & 0o077


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
