"""LearnedDynamics: an ASE MolecularDynamics whose observers see every step of the batched engine."""

import numpy as np
import pytest
import torch
from ase import units
from ase.io import read
from ase.io.trajectory import Trajectory
from ase.md.logger import MDLogger

from chemnoether.errors import SimulationError
from chemnoether.learned_md import LearnedDynamics


def _atoms(session, window=0):
    atoms = session.run.trajectory.to_atoms(int(session.run.windows.starts[window]))
    atoms.calc = None
    return atoms


def test_observers_trajectory_and_logger_see_every_step(tmp_path, session, verlet_engine, mmff, test_starts):
    atoms = _atoms(session)
    dyn = LearnedDynamics(atoms, verlet_engine(potential=mmff))
    seen = []
    dyn.attach(lambda: seen.append((dyn.nsteps, atoms.get_positions().copy())), interval=1)
    with Trajectory(tmp_path / "md.traj", "w", atoms) as trajectory:
        dyn.attach(trajectory.write, interval=1)
        dyn.attach(MDLogger(dyn, atoms, str(tmp_path / "md.log"), mode="w"), interval=1)
        dyn.run(5)
    assert [n for n, _ in seen] == [0, 1, 2, 3, 4, 5]
    # the one-replica ASE path is the batched engine's path: the same states, step by step
    engine = verlet_engine()
    pos, vel = test_starts(1)
    state = engine.start(pos, vel)
    for step, positions in seen[1:]:
        engine.step(state)
        np.testing.assert_allclose(positions, state.positions[0], rtol=0, atol=1e-12, err_msg=f"step {step}")
    frames = read(tmp_path / "md.traj", index=":")
    assert len(frames) == 6
    np.testing.assert_allclose(frames[-1].get_velocities() * units.fs, state.velocities[0], atol=1e-12)
    np.testing.assert_allclose(frames[-1].get_potential_energy(), float(mmff(torch.as_tensor(frames[-1].positions[None]))))
    log = (tmp_path / "md.log").read_text().splitlines()
    assert len(log) == 7 and "Epot[eV]" in log[0]
    assert dyn.get_time() == pytest.approx(5 * 0.5 * units.fs)


def test_no_real_alpha_raises_a_simulation_error(session, verlet_engine, mmff):
    calls = []

    def rising(positions):  # the companion potential jumps by 100 eV after the start
        calls.append(1)
        return mmff(positions) + (100.0 if len(calls) > 1 else 0.0)

    atoms = _atoms(session)
    before = atoms.get_positions().copy()
    dyn = LearnedDynamics(atoms, verlet_engine(potential=rising, rescale=True))
    with pytest.raises(SimulationError, match="step 1.*no real alpha"):
        dyn.run(3)
    np.testing.assert_array_equal(atoms.get_positions(), before)  # the atoms keep their last good state


def test_from_run_checks_the_atoms_and_uses_the_model_step(session, md_run):
    atoms = _atoms(session)
    dyn = LearnedDynamics.from_run(atoms, md_run)
    assert dyn.dt == pytest.approx(session.run.step_fs * units.fs)
    assert dyn.atoms.calc is not None  # the MMFF94 companion, so MDLogger has an energy
    bad = _atoms(session)
    bad.numbers[0] = 9
    from chemnoether.errors import UnsupportedElementError

    with pytest.raises(UnsupportedElementError, match="F, which the model never saw"):
        LearnedDynamics.from_run(bad, md_run)
