"""read_trajectory: MD17, rMD17, chemnoether .npz and ase.io files, their units, and bad input."""

import re
from pathlib import Path

import ase
import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether.data.readers import (
    KCAL_PER_MOL_IN_EV,
    MD17_DT_FS,
    read_trajectory,
    velocities_from_positions,
)
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import TrajectoryFormatError

ETHANOL = np.array([6, 6, 8, 1, 1, 1, 1, 1, 1])
AIMS_MD = Path(ase.__file__).parent / "test/testdata/aims/md.out"


def random_frames(n_frames=5, seed=0):
    """Positions (Å), energies (T, 1) and forces of ethanol-sized frames."""
    rng = np.random.default_rng(seed)
    shape = (n_frames, len(ETHANOL), 3)
    return rng.normal(size=shape), rng.normal(size=(n_frames, 1)), rng.normal(size=shape)


def write_md17(path, z=ETHANOL, R=None, E=None, F=None, **extra):
    """An MD17 file as sGDML ships them: z, R (Å), E (T, 1) and F in kcal/mol, plus string keys."""
    positions, energies, forces = random_frames()
    arrays = {"z": z, "R": positions if R is None else R, "E": energies if E is None else E, "F": forces if F is None else F}
    np.savez(path, **{key: value for key, value in arrays.items() if value is not False}, **extra)
    return path


def write_rmd17(path, n_frames=4):
    positions, energies, forces = random_frames(n_frames)
    np.savez(
        path,
        nuclear_charges=ETHANOL,
        coords=positions,
        energies=energies[:, 0],
        forces=forces,
        old_indices=np.array([90_000, 12, 4_567, 31])[:n_frames],
        old_energies=energies[:, 0] + 1.0,
        old_forces=forces + 1.0,
    )
    return path, positions, energies[:, 0], forces


# --- units --------------------------------------------------------------------------------------------
def test_kcal_per_mol_in_ev():
    assert KCAL_PER_MOL_IN_EV == pytest.approx(0.0433641, abs=5e-8)


def test_an_md17_energy_of_one_kcal_per_mol_is_0_0433641_ev(tmp_path):
    path = write_md17(tmp_path / "one.npz", z=np.array([1, 1]), R=np.zeros((1, 2, 3)), E=[[1.0]], F=np.ones((1, 2, 3)))
    trajectory = read_trajectory(path)
    assert trajectory.energies.tolist() == [pytest.approx(0.0433641, abs=5e-8)]
    np.testing.assert_allclose(trajectory.forces, 0.0433641, atol=5e-8)
    assert trajectory.velocities is None  # one frame: nothing to differentiate


# --- MD17 ---------------------------------------------------------------------------------------------
def test_md17_round_trip(tmp_path):
    positions, energies, forces = random_frames()
    path = write_md17(
        tmp_path / "md17_ethanol.npz",
        R=positions,
        E=energies,
        F=forces,
        name=np.array("ethanol"),
        theory=np.array("PBE+vdW-TS"),
        md5=np.array("abc123"),
        type=np.array("d"),
    )
    trajectory = read_trajectory(path)
    np.testing.assert_array_equal(trajectory.atomic_numbers, ETHANOL)
    np.testing.assert_array_equal(trajectory.positions, positions)
    np.testing.assert_array_equal(trajectory.energies, energies[:, 0] * KCAL_PER_MOL_IN_EV)
    np.testing.assert_array_equal(trajectory.forces, forces * KCAL_PER_MOL_IN_EV)
    assert trajectory.dt_fs == MD17_DT_FS == 0.5 and trajectory.consecutive
    assert trajectory.velocities_derived
    np.testing.assert_array_equal(trajectory.velocities, velocities_from_positions(positions, 0.5))
    meta = trajectory.metadata
    assert (meta["source"], meta["format"], meta["method"], meta["molecule"]) == (str(path), "md17", "PBE+vdW-TS", "ethanol")
    assert "kcal/mol" in meta["units"] and "Chmiela" in meta["dt_source"] and "derived" in meta["velocities_source"]


def test_md17_energies_may_be_flat_and_dt_may_be_given(tmp_path):
    positions, energies, forces = random_frames()
    path = write_md17(tmp_path / "flat.npz", R=positions, E=energies[:, 0], F=forces)
    trajectory = read_trajectory(path, "md17", dt_fs=0.25, derive_velocities=False)
    np.testing.assert_array_equal(trajectory.energies, energies[:, 0] * KCAL_PER_MOL_IN_EV)
    assert trajectory.dt_fs == 0.25 and trajectory.metadata["dt_source"] == "dt_fs argument"
    assert trajectory.velocities is None and not trajectory.velocities_derived


def test_derived_velocities_of_constant_motion_are_exact(tmp_path):
    """Dyadic numbers: every difference is exact, so the derived velocity is the velocity itself."""
    velocity = np.array([0.125, -0.25, 0.0625])  # Å/fs
    start = np.arange(len(ETHANOL) * 3).reshape(-1, 3) / 4.0
    positions = start + velocity * MD17_DT_FS * np.arange(7)[:, None, None]
    trajectory = read_trajectory(write_md17(tmp_path / "drift.npz", R=positions, E=False, F=False))
    assert trajectory.velocities_derived
    np.testing.assert_array_equal(trajectory.velocities, np.broadcast_to(velocity, positions.shape))


def test_derived_velocities_are_central_inside_and_one_sided_at_the_ends():
    positions = np.array([0.0, 1.0, 4.0, 9.0])[:, None, None] * np.ones((1, 1, 3))  # x = t^2 at dt = 1
    np.testing.assert_array_equal(velocities_from_positions(positions, 1.0)[:, 0, 0], [1.0, 2.0, 4.0, 5.0])


# --- rMD17 --------------------------------------------------------------------------------------------
def test_rmd17_round_trip_is_a_subsample_without_velocities(tmp_path):
    path, positions, energies, forces = write_rmd17(tmp_path / "rmd17_ethanol.npz")
    trajectory = read_trajectory(path)
    np.testing.assert_array_equal(trajectory.positions, positions)
    np.testing.assert_array_equal(trajectory.energies, energies * KCAL_PER_MOL_IN_EV)
    np.testing.assert_array_equal(trajectory.forces, forces * KCAL_PER_MOL_IN_EV)
    np.testing.assert_array_equal(trajectory.frame_indices, [90_000, 12, 4_567, 31])
    assert not trajectory.consecutive and trajectory.dt_fs is None
    assert trajectory.velocities is None and not trajectory.velocities_derived
    assert trajectory.metadata["format"] == "rmd17" and "random subsample" in trajectory.metadata["note"]


def test_rmd17_is_refused_for_consecutive_use(tmp_path):
    path, *_ = write_rmd17(tmp_path / "rmd17_ethanol.npz")
    trajectory = read_trajectory(path, "rmd17", dt_fs=0.5)  # the source's step, not a gap between frames
    assert trajectory.dt_fs == 0.5 and trajectory.velocities is None
    for candidate in (trajectory, trajectory.frames(slice(0, 2))):
        with pytest.raises(TrajectoryFormatError, match="not consecutive .* single-step windows"):
            candidate.require_consecutive("single-step windows")


# --- chemnoether .npz ---------------------------------------------------------------------------------
def test_a_saved_trajectory_reads_back_as_saved(tmp_path):
    positions, energies, _ = random_frames()
    original = Trajectory(ETHANOL, positions, dt_fs=0.5, energies=energies[:, 0], metadata={"source": "x.xyz"})
    path = original.save(tmp_path / "saved.npz")
    as_saved = read_trajectory(path, derive_velocities=False)
    np.testing.assert_array_equal(as_saved.positions, positions)
    assert as_saved.velocities is None and as_saved.metadata == original.metadata
    derived = read_trajectory(path, "chemnoether", dt_fs=0.25)
    assert derived.dt_fs == 0.25 and derived.velocities_derived
    np.testing.assert_array_equal(derived.velocities, velocities_from_positions(positions, 0.25))


def test_an_npz_is_recognised_by_its_content_whatever_its_name(tmp_path):
    path = tmp_path / "ethanol.data"
    write_md17(tmp_path / "ethanol.npz").rename(path)
    assert read_trajectory(path).metadata["format"] == "md17"


# --- ase.io formats -----------------------------------------------------------------------------------
def synthetic(n_frames=4, with_velocities=True) -> Trajectory:
    positions, energies, forces = random_frames(n_frames, seed=3)
    velocities = np.random.default_rng(4).normal(scale=1e-2, size=positions.shape) if with_velocities else None
    return Trajectory(ETHANOL, positions, velocities=velocities, energies=energies[:, 0], forces=forces)


@pytest.mark.parametrize(("name", "atol"), [("run.extxyz", 1e-7), ("run.xyz", 1e-7), ("run.traj", 1e-14)])
def test_ase_files_written_by_trajectory_read_back(tmp_path, name, atol):
    original = synthetic()
    trajectory = read_trajectory(original.write(tmp_path / name), dt_fs=0.5)
    np.testing.assert_array_equal(trajectory.atomic_numbers, ETHANOL)
    for field in ("positions", "velocities", "forces", "energies"):
        np.testing.assert_allclose(getattr(trajectory, field), getattr(original, field), rtol=0, atol=atol, err_msg=field)
    assert trajectory.dt_fs == 0.5 and trajectory.consecutive and not trajectory.velocities_derived
    assert trajectory.cell is None and not trajectory.pbc.any() and "masses" not in trajectory.metadata
    assert trajectory.metadata["format"] == {"run.xyz": "extxyz", "run.extxyz": "extxyz", "run.traj": "traj"}[name]


def test_ase_files_without_velocities(tmp_path):
    path = synthetic(with_velocities=False).write(tmp_path / "still.traj")
    derived = read_trajectory(path, dt_fs=2.0)
    assert derived.velocities_derived
    np.testing.assert_array_equal(derived.velocities, velocities_from_positions(derived.positions, 2.0))
    unknown_step = read_trajectory(path)
    assert unknown_step.dt_fs is None and unknown_step.velocities is None and not unknown_step.velocities_derived


def frames_with_info(infos, cell=None):
    frames = []
    for offset, info in enumerate(infos):
        atoms = Atoms(
            "H2O", positions=[[0, 0, offset], [0.96, 0, offset], [-0.24, 0.93, offset]], cell=cell, pbc=cell is not None
        )
        atoms.info.update(info)
        frames.append(atoms)
    return frames


@pytest.mark.parametrize(
    ("infos", "dt_fs", "consecutive"),
    [
        ([{"dt_fs": 0.25}] * 3, 0.25, True),
        ([{"time_fs": t} for t in (10.0, 12.0, 14.0)], 2.0, True),
        ([{"time": t * units.fs} for t in (0.0, 0.5, 1.0)], 0.5, True),
        ([{"time_fs": t} for t in (0.0, 1.0, 5.0)], None, False),
        ([{}] * 3, None, True),
    ],
)
def test_time_step_from_atoms_info(tmp_path, infos, dt_fs, consecutive):
    path = tmp_path / "water.extxyz"
    write(path, frames_with_info(infos))
    trajectory = read_trajectory(path, derive_velocities=False)
    assert trajectory.dt_fs == pytest.approx(dt_fs) and trajectory.consecutive == consecutive


def test_cell_pbc_and_own_masses_are_kept(tmp_path):
    frames = frames_with_info([{}] * 2, cell=np.diag([9.0, 9.0, 9.0]))
    for atoms in frames:
        atoms.set_masses([16.0, 2.014, 2.014])  # heavy water
    path = tmp_path / "box.traj"
    write(path, frames)
    trajectory = read_trajectory(path)
    np.testing.assert_array_equal(trajectory.cell, np.diag([9.0, 9.0, 9.0]))
    assert trajectory.pbc.all()
    assert trajectory.metadata["masses"] == [16.0, 2.014, 2.014]


# --- FHI-aims MD fixture shipped with ASE ------------------------------------------------------------
def aims_reported(label):
    return np.array([float(v) for v in re.findall(label + r"\s*:\s*(\S+) eV", AIMS_MD.read_text())])


@pytest.mark.skipif(not AIMS_MD.exists(), reason="ASE's FHI-aims test data is not installed")
@pytest.mark.filterwarnings("ignore:FHI-aims IO is moving:FutureWarning")
def test_fhi_aims_water_md():
    """5 MD steps of H2O (PBE-level DFT, 300 K start, 1 fs): velocities, forces and energies as aims reports them."""
    trajectory = read_trajectory(AIMS_MD, "aims-output")
    assert (trajectory.n_frames, trajectory.atomic_numbers.tolist()) == (5, [8, 1, 1])
    assert trajectory.dt_fs == 1.0 and trajectory.consecutive and not trajectory.velocities_derived
    assert trajectory.forces.shape == (5, 3, 3) and np.abs(trajectory.forces).max() < 10.0
    # aims prints velocities in Å/ps; at 300 K hydrogen moves about 0.02 Å/fs
    speeds = np.linalg.norm(trajectory.velocities, axis=-1)
    assert 1e-3 < np.sqrt(np.mean(speeds**2)) < 1e-1
    # aims' masses differ from ASE's in the 5th digit (H 1.00794 against 1.008)
    np.testing.assert_allclose(trajectory.kinetic_energies(), aims_reported("Nuclear kinetic energy"), rtol=1e-4)
    total = aims_reported(r"Total energy \(el\.\+nuc\.\)")
    np.testing.assert_allclose(trajectory.energies + aims_reported("Nuclear kinetic energy"), total, rtol=0, atol=1e-8)
    # velocity Verlet: at the inner frames its velocities are the central differences of positions
    derived = velocities_from_positions(trajectory.positions, trajectory.dt_fs)
    np.testing.assert_allclose(derived[1:-1], trajectory.velocities[1:-1], rtol=0, atol=1e-8)


@pytest.mark.skipif(not AIMS_MD.exists(), reason="ASE's FHI-aims test data is not installed")
def test_an_aims_output_without_its_banner_needs_a_format():
    """The fixture lacks FHI-aims' opening banner, so ase.io guesses Quantum Espresso and finds nothing."""
    with pytest.raises(TrajectoryFormatError, match="read no frames .* pass format="):
        read_trajectory(AIMS_MD)


# --- bad input ----------------------------------------------------------------------------------------
def test_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        read_trajectory(tmp_path / "absent.npz")


def test_truncated_and_corrupt_npz(tmp_path):
    truncated = write_md17(tmp_path / "truncated.npz")
    truncated.write_bytes(truncated.read_bytes()[:300])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip archive")
    for path in (truncated, garbage):
        with pytest.raises(TrajectoryFormatError, match=f"{re.escape(str(path))}: not a readable .npz"):
            read_trajectory(path)


def test_a_pickled_key_is_refused_not_unpickled(tmp_path):
    path = write_md17(tmp_path / "pickled.npz", z=np.array([6, 6, 8, 1, 1, 1, 1, 1, [1]], dtype=object))
    with pytest.raises(TrajectoryFormatError, match="key 'z' cannot be read"):
        read_trajectory(path)


def test_an_unknown_npz_layout_lists_its_keys_and_the_known_ones(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, pos=np.zeros((2, 1, 3)), numbers=[1])
    with pytest.raises(TrajectoryFormatError, match=r"keys \['numbers', 'pos'\]; known layouts: md17 .*rmd17 .*chemnoether"):
        read_trajectory(path)


def test_a_named_layout_needs_its_keys(tmp_path):
    path, *_ = write_rmd17(tmp_path / "rmd17.npz")
    with pytest.raises(TrajectoryFormatError, match="md17 layout needs key 'z'; the file has"):
        read_trajectory(path, "md17")
    with pytest.raises(TrajectoryFormatError, match="no chemnoether header"):
        read_trajectory(path, "chemnoether")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"F": random_frames(4)[2]}, "key 'F' has shape (4, 9, 3), expected (5, 9, 3)"),
        ({"E": np.zeros((5, 2))}, "key 'E' has shape (5, 2), expected (5,)"),
        ({"R": np.zeros((5, 9, 2))}, "key 'R' has shape (5, 9, 2), expected (T, 9, 3)"),
        ({"z": ETHANOL[:-1]}, "key 'R' has shape (5, 9, 3), expected (T, 8, 3)"),
    ],
)
def test_mismatched_shapes_name_the_key(tmp_path, arrays, message):
    with pytest.raises(TrajectoryFormatError) as caught:
        read_trajectory(write_md17(tmp_path / "bad.npz", **arrays))
    assert message in str(caught.value) and "bad.npz" in str(caught.value)


def test_nan_frames_are_named(tmp_path):
    positions, _, forces = random_frames()
    positions[2, 4] = np.nan
    with pytest.raises(TrajectoryFormatError, match=r"bad\.npz: positions has NaN or infinite values in frames \[2\]"):
        read_trajectory(write_md17(tmp_path / "bad.npz", R=positions))
    forces[3, 0, 1] = np.inf
    with pytest.raises(TrajectoryFormatError, match=r"forces has NaN or infinite values in frames \[3\]"):
        read_trajectory(write_md17(tmp_path / "bad.npz", F=forces))


@pytest.mark.parametrize("dt_fs", [0.0, -0.5, float("nan"), "fast"])
def test_a_time_step_must_be_positive(tmp_path, dt_fs):
    with pytest.raises(TrajectoryFormatError, match="dt_fs="):
        read_trajectory(write_md17(tmp_path / "md17.npz"), dt_fs=dt_fs)


def test_a_time_step_from_the_file_must_be_positive(tmp_path):
    path = tmp_path / "water.extxyz"
    write(path, frames_with_info([{"dt_fs": -1.0}] * 2))
    with pytest.raises(TrajectoryFormatError, match="water.extxyz: dt_fs=-1.0: the time step must be positive"):
        read_trajectory(path)


@pytest.mark.parametrize("z", [0, 119])
def test_unknown_elements(tmp_path, z):
    numbers = ETHANOL.copy()
    numbers[3] = z
    with pytest.raises(TrajectoryFormatError, match=rf"unknown elements \[{z}\] at atoms \[3\]"):
        read_trajectory(write_md17(tmp_path / "md17.npz", z=numbers))


@pytest.mark.parametrize("format_name", ["pdbx-nonsense", "png", 17])
def test_an_unsupported_format(tmp_path, format_name):
    path = synthetic().write(tmp_path / "run.extxyz")
    with pytest.raises(TrajectoryFormatError, match="format"):
        read_trajectory(path, format_name)


@pytest.mark.parametrize(
    ("name", "message"), [("junk.xyz", "ase.io could not read it"), ("junk.unknownext", "ase.io cannot tell its format")]
)
def test_a_file_ase_cannot_read(tmp_path, name, message):
    path = tmp_path / name
    path.write_text("this is\nnot a structure\n")
    with pytest.raises(TrajectoryFormatError, match=f"{name}: {message}"):
        read_trajectory(path)


def test_frames_with_different_atoms_are_refused(tmp_path):
    path = tmp_path / "mixed.extxyz"
    write(path, [Atoms("H2O", positions=np.zeros((3, 3))), Atoms("OH2", positions=np.zeros((3, 3)))])
    with pytest.raises(TrajectoryFormatError, match="frame 1 has atoms OH2 where frame 0 has H2O; .* same order"):
        read_trajectory(path)


def test_frames_missing_a_result_are_named(tmp_path):
    frames = frames_with_info([{}] * 3)
    for atoms in frames[:2]:
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0)
    path = tmp_path / "partial.traj"
    write(path, frames)
    with pytest.raises(TrajectoryFormatError, match="frame 2 has no energy but frame 0 has"):
        read_trajectory(path)


@pytest.mark.skipif(not AIMS_MD.exists(), reason="ASE's FHI-aims test data is not installed")
def test_aims_velocities_are_right_whether_or_not_ase_converts_them():
    """ASE 3.29 keeps aims' Å/ps numbers; a fixed ASE would give ASE units. Both must end in Å/fs."""
    from chemnoether.data._ase_frames import _aims_velocity_unit  # noqa: PLC0415 - private, tested on its own

    printed = np.array([[[2.62234059, -1.81669616, 0.0]]])  # Å/ps, the first velocity line of md.out
    one_angstrom_per_ps = units.Ang / (1000.0 * units.fs)
    assert _aims_velocity_unit(AIMS_MD, printed) == 1e-3
    assert _aims_velocity_unit(AIMS_MD, printed * one_angstrom_per_ps) == units.fs
    with pytest.raises(TrajectoryFormatError, match="cannot tell the units"):
        _aims_velocity_unit(AIMS_MD, printed * 7.0)
