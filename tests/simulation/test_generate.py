"""generate_md: frames and metadata, determinism, chunked writing and resume, the blow-up guard, the CLI."""

import json

import numpy as np
import pytest

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether.simulation import generate as generate_module
from chemnoether.simulation.generate import generate_md
from chemnoether.simulation.integrators import ACCELERATION_UNIT
from chemnoether.data.md_chunks import ChunkFolder, load_generated, read_manifest
from chemnoether.cli import main
from chemnoether.data.trajectory import Trajectory
from chemnoether.errors import ChemNoetherError, ConfigError, InvalidMoleculeError

QUICK = {"equilibration_steps": 200, "progress": False}  # keeps every run here well under 0.1 s


def assert_same_frames(a: Trajectory, b: Trajectory):
    for name in ("positions", "velocities", "forces", "energies", "frame_indices"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.dt_fs == b.dt_fs and a.metadata == b.metadata


def test_frames_units_and_metadata():
    trajectory = generate_md("ethanol", 100, save_every=5, seed=3, **QUICK)
    assert trajectory.n_frames == 21 and trajectory.n_atoms == 9
    assert trajectory.dt_fs == 2.5 and trajectory.consecutive
    assert trajectory.velocities.shape == trajectory.forces.shape == (21, 9, 3)
    meta = trajectory.metadata
    assert meta["source"] == "generated" and meta["method"] == "MMFF94 (RDKit)"
    assert (meta["name"], meta["smiles"], meta["thermostat"], meta["seed"]) == ("ethanol", "CCO", "nve", 3)
    assert meta["temperature_K"] == 300.0 and meta["dt_integration_fs"] == 0.5 and meta["save_every"] == 5
    np.testing.assert_allclose(trajectory.masses @ trajectory.velocities[0], 0.0, atol=1e-12)  # zero net momentum


def test_stored_frames_obey_velocity_verlet_in_chemnoether_units():
    # x(t+dt) = x(t) + v(t) dt + F(t)/m dt²/2: positions Å, velocities Å/fs, forces eV/Å, masses amu
    trajectory = generate_md("ethanol", 20, **QUICK)
    x, v, dt = trajectory.positions, trajectory.velocities, trajectory.dt_fs
    acceleration = trajectory.forces * ACCELERATION_UNIT / trajectory.masses[:, None]
    np.testing.assert_allclose(x[1:] - x[:-1], v[:-1] * dt + 0.5 * acceleration[:-1] * dt**2, atol=1e-13)


@pytest.mark.parametrize("thermostat", ["nve", "langevin"])
def test_same_seed_same_arrays_other_seed_other_arrays(thermostat):
    first = generate_md("ethanol", 60, thermostat=thermostat, seed=1, **QUICK)
    assert_same_frames(first, generate_md("ethanol", 60, thermostat=thermostat, seed=1, **QUICK))
    assert not np.array_equal(first.positions, generate_md("ethanol", 60, thermostat=thermostat, seed=2, **QUICK).positions)


@pytest.mark.parametrize("thermostat", ["nve", "langevin"])
def test_extending_a_chunked_run_equals_one_uninterrupted_run(tmp_path, thermostat):
    options = dict(thermostat=thermostat, seed=4, save_every=2, chunk_frames=7, **QUICK)
    whole = generate_md("ethanol", 100, **options)
    half = generate_md("ethanol", 50, out=tmp_path, **options)
    assert_same_frames(half, whole.frames(slice(0, 26)))
    extended = generate_md("ethanol", 100, out=tmp_path, **options)
    assert_same_frames(extended, whole)
    assert_same_frames(load_generated(tmp_path), whole)
    manifest = read_manifest(tmp_path)
    assert manifest["n_frames"] == 51 and sum(c["n_frames"] for c in manifest["chunks"]) == 51
    assert Trajectory.load(tmp_path / manifest["chunks"][1]["file"]).frame_indices[0] == 7


def test_an_interrupted_run_resumes_from_its_last_chunk(tmp_path, monkeypatch):
    options = dict(thermostat="langevin", seed=5, chunk_frames=20, **QUICK)
    whole = generate_md("ethanol", 99, **options)
    original_append = ChunkFolder.append
    calls = []

    def append_then_die(self, chunk, state):
        calls.append(chunk.n_frames)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C while the third chunk was written
        return original_append(self, chunk, state)

    monkeypatch.setattr(ChunkFolder, "append", append_then_die)
    with pytest.raises(KeyboardInterrupt):
        generate_md("ethanol", 99, out=tmp_path, **options)
    monkeypatch.setattr(ChunkFolder, "append", original_append)
    assert read_manifest(tmp_path)["n_frames"] == 40
    assert_same_frames(generate_md("ethanol", 99, out=tmp_path, **options), whole)


def test_resume_refuses_other_settings_and_no_resume_overwrites(tmp_path):
    generate_md("ethanol", 20, out=tmp_path, **QUICK)
    with pytest.raises(ConfigError, match="dt_fs: 0.5 there, 0.25 now"):
        generate_md("ethanol", 20, out=tmp_path, dt_fs=0.25, **QUICK)
    fresh = generate_md("ethanol", 20, out=tmp_path, dt_fs=0.25, resume=False, **QUICK)
    assert_same_frames(load_generated(tmp_path), fresh)


def test_report_and_plot_are_written(tmp_path):
    generate_md("ethanol", 400, out=tmp_path, **QUICK)
    report = json.loads((tmp_path / "energy_report.json").read_text())
    assert report["n_frames"] == 401 and report["thermostat"] == "nve"
    assert abs(report["total_energy_drift_eV_per_ps"]) < 0.01 and report["max_abs_total_energy_change_eV"] < 0.01
    pytest.importorskip("matplotlib")
    assert (tmp_path / "energy.png").stat().st_size > 1000


def test_langevin_report_has_the_temperature_error(tmp_path):
    generate_md("ethanol", 200, thermostat="langevin", out=tmp_path, **QUICK)
    report = json.loads((tmp_path / "energy_report.json").read_text())
    assert "temperature_relative_error" in report and report["target_temperature_K"] == 300.0


def test_too_long_a_time_step_stops_with_the_step_named(tmp_path):
    with pytest.raises(ChemNoetherError, match=r"unstable at step \d+.*shorter time step than 20.0 fs"):
        generate_md("ethanol", 100, dt_fs=20.0, equilibration_steps=0, progress=False, out=tmp_path)


class ExplodesAfter:
    """A potential that returns NaN after ``calls`` calls: a blow-up at a known step."""

    def __init__(self, potential, calls):
        self.potential, self.calls = potential, calls
        self.method, self.atomic_numbers = potential.method, potential.atomic_numbers

    def energy_forces(self, positions):
        self.calls -= 1
        energy, forces = self.potential.energy_forces(positions)
        return (float("nan"), forces) if self.calls < 0 else (energy, forces)


class OffsetEnergy:
    """A potential whose energies are shifted by ``offset`` eV: an absurd start energy on demand."""

    def __init__(self, potential, offset):
        self.potential, self.offset = potential, offset
        self.method, self.atomic_numbers = potential.method, potential.atomic_numbers

    def energy_forces(self, positions):
        energy, forces = self.potential.energy_forces(positions)
        return energy + self.offset, forces


def test_an_absurd_start_energy_is_named_as_the_cause(monkeypatch):
    real = generate_module.make_potential
    monkeypatch.setattr(generate_module, "make_potential", lambda kind, mol: OffsetEnergy(real(kind, mol), 4.2e6))
    with pytest.raises(InvalidMoleculeError, match=r"start energy under .* is 4\.2e\+06 eV .*absurd.*no time step can help"):
        generate_md("ethanol", 10, equilibration_steps=0, progress=False)


def test_overlapping_fragments_are_named_not_the_time_step():
    # RDKit embeds each single-atom ion at the origin: both ions on one spot
    with pytest.raises(InvalidMoleculeError, match=r"atoms 0 \(Na\) and 1 \(Cl\) .* 0\.00 Å apart.*one connected molecule"):
        generate_md("[Na+].[Cl-]", 10, equilibration_steps=0, progress=False)


def test_chunks_written_before_a_blow_up_stay_readable(tmp_path, monkeypatch):
    real = generate_module.make_potential
    # call 1 is frame 0, call k + 1 is step k: step 46 is the first NaN
    monkeypatch.setattr(generate_module, "make_potential", lambda kind, mol: ExplodesAfter(real(kind, mol), 46))
    with pytest.raises(ChemNoetherError, match=r"unstable at step 46.*40 frames of complete chunks.*frames 40-45"):
        generate_md("ethanol", 100, chunk_frames=10, out=tmp_path, equilibration_steps=0, progress=False)
    kept = load_generated(tmp_path)
    assert kept.n_frames == 40 and np.isfinite(kept.energies).all()
    assert Trajectory.load(tmp_path / "unstable_frames.npz").frame_indices.tolist() == list(range(40, 46))
    assert "unstable at step 46" in read_manifest(tmp_path)["failed"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"thermostat": "nose-hoover"}, "thermostat='nose-hoover'"),
        ({"potential": "ani"}, "potential='ani'"),
        ({"save_every": 3}, "not a multiple of save_every=3"),
        ({"explicit_hydrogens": False}, "atoms_subset"),
        ({"dt_fs": -1.0}, "dt_fs=-1.0"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        generate_md("ethanol", 10, **options)


def test_gfn2_run():
    pytest.importorskip("tblite")
    trajectory = generate_md("water", 20, potential="gfn2", equilibration_steps=0, progress=False)
    assert trajectory.metadata["method"] == "GFN2-xTB (tblite)" and trajectory.n_frames == 21
    total = trajectory.energies + trajectory.kinetic_energies()
    assert np.abs(total - total[0]).max() < 5e-3


def test_cli_writes_chunks_and_prints_the_report(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["md", "generate", "ethanol", "--steps", "40", "-o", str(out), "--save-every", "2", "--equilibration-steps", "100", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "total energy drift" in printed and "meV/ps" in printed
    assert load_generated(out).n_frames == 21 and (out / "energy_report.json").exists()


def test_cli_main_reports_errors(tmp_path, capsys):
    assert main(["md", "generate", "ethanoll", "--steps", "10", "-o", str(tmp_path), "-q"]) == 2
    assert "known names" in capsys.readouterr().err


def test_nve_runs_start_at_the_canonical_mean_energy_so_their_temperature_is_the_target():
    # without the rescale, seeds 0-11 gave mean NVE temperatures from 156 K to 442 K for 300 K
    from chemnoether.simulation.integrators import temperature_K

    means = []
    for seed in range(4):
        traj = generate_md("ethanol", 3000, seed=seed, progress=False)
        means.append(np.mean([temperature_K(traj.masses, v) for v in traj.velocities]))
    assert all(200 < t < 420 for t in means), means
    assert abs(np.mean(means) - 300) < 36, means
