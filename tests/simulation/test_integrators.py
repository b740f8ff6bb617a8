"""Integrators: units, Maxwell-Boltzmann draws, NVE energy conservation, Langevin temperature."""

import numpy as np
import pytest
from ase.data import atomic_masses
from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether.simulation.integrators import (
    ACCELERATION_UNIT,
    BOLTZMANN_EV_PER_K,
    FrameBuffer,
    LangevinBAOAB,
    MDState,
    VelocityVerlet,
    kinetic_energy,
    maxwell_boltzmann_velocities,
    temperature_K,
)
from chemnoether.simulation.potentials import MMFFPotential
from chemnoether.errors import ChemNoetherError


@pytest.fixture(scope="module")
def ethanol():
    """MMFF ethanol at its minimum: (potential, masses, positions)."""
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = 0
    rdDistGeom.EmbedMolecule(mol, params)
    rdForceFieldHelpers.MMFFOptimizeMolecule(mol)
    potential = MMFFPotential(mol)
    return potential, atomic_masses[potential.atomic_numbers], mol.GetConformer().GetPositions()


def start(potential, masses, positions, temperature, seed):
    velocities = maxwell_boltzmann_velocities(masses, temperature, np.random.default_rng(seed))
    energy, forces = potential.energy_forces(positions)
    return MDState(positions.copy(), velocities, forces.copy(), energy)


def total_energies(frames, masses):
    kinetic = 0.5 * np.einsum("n,tni->t", masses, frames.velocities**2) / ACCELERATION_UNIT
    return frames.energies + kinetic


def test_acceleration_unit_from_si_constants():
    # 1 eV/Å on 1 amu: 1.602176634e-19 J / (1e-10 m * 1.66053906660e-27 kg) = 9.6485e17 m/s²;
    # 1 m/s² = 1e10 Å / 1e30 fs² = 1e-20 Å/fs²
    assert ACCELERATION_UNIT == pytest.approx(1.602176634e-19 / (1e-10 * 1.66053906660e-27) * 1e-20, rel=1e-6)
    assert BOLTZMANN_EV_PER_K == pytest.approx(1.380649e-23 / 1.602176634e-19, rel=1e-6)


def test_maxwell_boltzmann_draw_has_the_temperature_and_no_net_momentum():
    rng = np.random.default_rng(1)
    masses = rng.choice([1.008, 12.011, 15.999], size=3000)
    velocities = maxwell_boltzmann_velocities(masses, 300.0, rng)
    np.testing.assert_allclose(masses @ velocities, 0.0, atol=1e-10)
    expected = 0.5 * (3 * len(masses) - 3) * BOLTZMANN_EV_PER_K * 300.0
    # relative std of a chi-square with 9000 dof: sqrt(2/9000) = 1.5%; 5% is over 3 sigma
    assert kinetic_energy(masses, velocities) == pytest.approx(expected, rel=0.05)
    assert temperature_K(masses, velocities) == pytest.approx(300.0, rel=0.05)


def test_velocity_verlet_conserves_total_energy(ethanol):
    potential, masses, positions = ethanol
    state = start(potential, masses, positions, 300.0, seed=0)
    frames = FrameBuffer(2000, len(masses))
    VelocityVerlet(potential, masses, 0.5).run(state, 2000, frames=frames)
    total = total_energies(frames, masses)
    # measured over 1 ps at 0.5 fs: max |E - E(first)| 1.1 meV, slope of a line fit 0.07 meV/ps
    assert np.abs(total - total[0]).max() < 5e-3
    slope = np.polyfit(np.arange(2000) * 0.5e-3, total, 1)[0]  # eV/ps
    assert abs(slope) < 2e-3
    assert frames.steps[-1] == 2000 and state.step == 2000


def test_velocity_verlet_is_time_reversible(ethanol):
    potential, masses, positions = ethanol
    state = start(potential, masses, positions, 300.0, seed=3)
    x0 = state.positions.copy()
    integrator = VelocityVerlet(potential, masses, 0.5)
    integrator.run(state, 200)
    state.velocities *= -1
    integrator.run(state, 200)
    np.testing.assert_allclose(state.positions, x0, atol=1e-9)


def test_langevin_holds_the_target_temperature_and_zero_momentum(ethanol):
    potential, masses, positions = ethanol
    state = start(potential, masses, positions, 0.0, seed=0)  # starts cold: the thermostat must heat it
    rng = np.random.default_rng(0)
    frames = FrameBuffer(2000, len(masses))
    integrator = LangevinBAOAB(potential, masses, 0.5, temperature=500.0, friction_per_fs=0.02, rng=rng)
    integrator.run(state, 2000)  # 1 ps: 20 relaxation times
    integrator.run(state, 20000, save_every=10, frames=frames)
    temperatures = [temperature_K(masses, v) for v in frames.velocities]
    # 10 ps at 1/friction = 50 fs: ~200 independent samples of std ~ 500 * sqrt(2/24) = 144 K,
    # so the mean has a std of ~10 K; measured 506 K (480-506 over seeds 0-4). 10% is 5 sigma.
    assert np.mean(temperatures) == pytest.approx(500.0, rel=0.10)
    np.testing.assert_allclose(masses @ state.velocities, 0.0, atol=1e-12)


def test_langevin_is_deterministic_for_a_seed(ethanol):
    potential, masses, positions = ethanol

    def run(seed):
        state = start(potential, masses, positions, 300.0, seed=0)
        LangevinBAOAB(potential, masses, 0.5, temperature=300.0, friction_per_fs=0.01, rng=np.random.default_rng(seed)).run(state, 100)
        return state.positions

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_guard_stops_a_blow_up_naming_the_step(ethanol):
    potential, masses, positions = ethanol
    state = start(potential, masses, positions, 300.0, seed=0)
    integrator = VelocityVerlet(potential, masses, 20.0)
    integrator.guard(state.energy + kinetic_energy(masses, state.velocities), tolerance_eV=9.0)
    with pytest.raises(ChemNoetherError, match=r"unstable at step \d+.*shorter time step than 20.0 fs"):
        integrator.run(state, 100)


def test_bad_time_step_is_refused(ethanol):
    potential, masses, _ = ethanol
    with pytest.raises(ValueError, match="dt_fs"):
        VelocityVerlet(potential, masses, 0.0)
