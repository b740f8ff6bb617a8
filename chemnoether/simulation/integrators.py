"""Plain numpy MD integrators over a ``Potential``: velocity Verlet (NVE) and Langevin BAOAB (NVT).

Units are chemnoether's: Å, fs, Å/fs, amu, eV, eV/Å; ``chemnoether.core.units`` bridges them
(acceleration F/m times ``ACCELERATION_UNIT`` gives Å/fs²; ``kinetic_energy`` gives eV).

The loops avoid per-step Python work beyond the potential call: arrays are preallocated and
updated in place, the frame buffer is written by row. A run of ``n`` steps records a frame after
every ``save_every``-th step (not the starting state, which the caller records).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chemnoether.core.units import ACCELERATION_UNIT, BOLTZMANN_EV_PER_K, kinetic_energy, thermal_velocity_scale
from chemnoether.simulation.potentials import Potential
from chemnoether.errors import SimulationError



@dataclass
class MDState:
    """Where a run stands: the state after ``step`` steps."""

    positions: np.ndarray  # (N, 3) Å
    velocities: np.ndarray  # (N, 3) Å/fs
    forces: np.ndarray  # (N, 3) eV/Å, at positions
    energy: float  # potential energy at positions, eV
    step: int = 0

    def copy(self) -> MDState:
        return MDState(self.positions.copy(), self.velocities.copy(), self.forces.copy(), self.energy, self.step)


class FrameBuffer:
    """Preallocated frames (positions, velocities, forces, potential energies, steps) filled row by row."""

    def __init__(self, capacity: int, n_atoms: int):
        self.positions = np.empty((capacity, n_atoms, 3))
        self.velocities = np.empty((capacity, n_atoms, 3))
        self.forces = np.empty((capacity, n_atoms, 3))
        self.energies = np.empty(capacity)
        self.steps = np.empty(capacity, dtype=np.int64)
        self.count = 0

    @property
    def capacity(self) -> int:
        return len(self.energies)

    def append(self, state: MDState) -> None:
        k = self.count
        self.positions[k] = state.positions
        self.velocities[k] = state.velocities
        self.forces[k] = state.forces
        self.energies[k] = state.energy
        self.steps[k] = state.step
        self.count = k + 1


def degrees_of_freedom(n_atoms: int) -> int:
    """3N - 3: the net momentum is zero (removed at the start, kept out of the thermostat's noise)."""
    return max(3 * n_atoms - 3, 1)


def temperature_K(masses: np.ndarray, velocities: np.ndarray) -> float:
    """Instantaneous temperature 2·KE / (dof·kB) with ``degrees_of_freedom`` (3N - 3)."""
    return 2.0 * kinetic_energy(masses, velocities) / (degrees_of_freedom(len(masses)) * BOLTZMANN_EV_PER_K)


def remove_net_momentum(masses: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """``velocities`` minus the centre-of-mass velocity (in place; returned for chaining)."""
    velocities -= (masses @ velocities) / masses.sum()
    return velocities


def maxwell_boltzmann_velocities(masses: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) Å/fs drawn at ``temperature`` K, net momentum removed (so KE ≈ (3N-3)/2·kB·T on average)."""
    sigma = thermal_velocity_scale(masses, temperature)  # per atom, Å/fs
    velocities = rng.standard_normal((len(masses), 3)) * sigma[:, None]
    return remove_net_momentum(masses, velocities)


class _Integrator:
    """Shared set-up: the potential, masses, time step and the blow-up guard."""

    def __init__(self, potential: Potential, masses: np.ndarray, dt_fs: float):
        if not dt_fs > 0:
            raise ValueError(f"dt_fs={dt_fs!r}: the time step must be positive")
        self.potential = potential
        self.masses = np.asarray(masses, dtype=np.float64)
        self.dt_fs = float(dt_fs)
        # (N, 1) so that it broadcasts over x, y, z
        self._accel_per_force = (ACCELERATION_UNIT / self.masses)[:, None]
        # (3N,) so that the kinetic energy is one dot product with the flat velocities: KE = Σ w v²
        self._kinetic_weights = np.repeat(0.5 * self.masses / ACCELERATION_UNIT, 3)
        self.reference_total_energy: float | None = None  # eV; the guard compares against it
        self.tolerance_eV = math.inf  # |E_total - reference| above this stops the run

    def guard(self, reference_total_energy: float, tolerance_eV: float) -> None:
        """Stop any later ``run`` when |E_total - reference| > ``tolerance_eV`` or it is not finite."""
        self.reference_total_energy = float(reference_total_energy)
        self.tolerance_eV = float(tolerance_eV)

    def _unstable(self, step: int, total: float) -> SimulationError:
        return SimulationError(
            f"{self.potential.method} MD became unstable at step {step}: total energy {total:.6g} eV vs "
            f"{self.reference_total_energy:.6g} eV at the start (tolerance {self.tolerance_eV:.3g} eV); "
            f"use a shorter time step than {self.dt_fs} fs"
        )

    def run(self, state: MDState, n_steps: int, *, save_every: int = 1, frames: FrameBuffer | None = None) -> MDState:
        """Advance ``state`` (in place) by ``n_steps``; record into ``frames`` every ``save_every`` steps."""
        raise NotImplementedError

    @staticmethod
    def _contiguous(state: MDState) -> None:
        # the loops update arrays in place through flat views; a strided array would give a copy
        state.positions = np.ascontiguousarray(state.positions, dtype=np.float64)
        state.velocities = np.ascontiguousarray(state.velocities, dtype=np.float64)
        state.forces = np.ascontiguousarray(state.forces, dtype=np.float64)


class VelocityVerlet(_Integrator):
    """NVE velocity Verlet: half kick, drift, force, half kick. Deterministic (no randomness)."""

    def run(self, state: MDState, n_steps: int, *, save_every: int = 1, frames: FrameBuffer | None = None) -> MDState:
        self._contiguous(state)
        x, v, f = state.positions, state.velocities, state.forces
        energy, step = state.energy, state.step
        dt, half_kick = self.dt_fs, 0.5 * self.dt_fs * self._accel_per_force
        reference, tolerance, checked = self.reference_total_energy, self.tolerance_eV, self.reference_total_energy is not None
        energy_forces, weights = self.potential.energy_forces, self._kinetic_weights
        vflat, scratch = v.reshape(-1), np.empty_like(v)
        for i in range(1, n_steps + 1):
            np.multiply(f, half_kick, out=scratch)
            v += scratch
            np.multiply(v, dt, out=scratch)
            x += scratch
            energy, f_new = energy_forces(x)
            f[...] = f_new
            np.multiply(f, half_kick, out=scratch)
            v += scratch
            step += 1
            if checked:
                total = energy + float(np.dot(weights * vflat, vflat))
                if not abs(total - reference) <= tolerance:  # also true for NaN
                    state.energy, state.step = energy, step
                    raise self._unstable(step, total)
            if frames is not None and i % save_every == 0:
                state.energy, state.step = energy, step
                frames.append(state)
        state.energy, state.step = energy, step
        return state


class LangevinBAOAB(_Integrator):
    """NVT Langevin dynamics with the BAOAB splitting (Leimkuhler & Matthews 2013).

    B: half kick, A: half drift, O: exact Ornstein-Uhlenbeck update of the velocities
    ``v <- c1 v + c2 sigma xi`` (c1 = exp(-friction dt), c2 = sqrt(1 - c1²), sigma = sqrt(kT/m)),
    A: half drift, force, B: half kick. Chosen over the scheme of ASE's ``Langevin`` (Vanden-Eijnden
    & Ciccotti) for its small time-step error in configurational averages. The noise has its net
    momentum projected out (mass-weighted, so the update stays an exact Ornstein-Uhlenbeck step on
    the remaining 3N-3 degrees of freedom): a molecule does not random-walk through space, and the
    stationary kinetic energy is (3N-3)/2·kB·T.
    Deterministic for a given ``numpy.random.Generator`` state.
    """

    def __init__(self, potential: Potential, masses, dt_fs: float, *, temperature: float, friction_per_fs: float, rng: np.random.Generator):
        super().__init__(potential, masses, dt_fs)
        if not friction_per_fs > 0:
            raise ValueError(f"friction_per_fs={friction_per_fs!r} must be positive")
        self.temperature = float(temperature)
        self.friction_per_fs = float(friction_per_fs)
        self.rng = rng
        self._c1 = math.exp(-self.friction_per_fs * self.dt_fs)
        sigma = thermal_velocity_scale(self.masses, self.temperature)  # Å/fs
        self._noise_scale = (math.sqrt(1.0 - self._c1**2) * sigma)[:, None]

    def run(self, state: MDState, n_steps: int, *, save_every: int = 1, frames: FrameBuffer | None = None) -> MDState:
        self._contiguous(state)
        x, v, f = state.positions, state.velocities, state.forces
        energy, step = state.energy, state.step
        half_dt, half_kick = 0.5 * self.dt_fs, 0.5 * self.dt_fs * self._accel_per_force
        c1, noise_scale = self._c1, self._noise_scale
        reference, tolerance, checked = self.reference_total_energy, self.tolerance_eV, self.reference_total_energy is not None
        masses, total_mass, normal = self.masses, self.masses.sum(), self.rng.standard_normal
        energy_forces, weights = self.potential.energy_forces, self._kinetic_weights
        vflat, scratch, noise = v.reshape(-1), np.empty_like(v), np.empty_like(v)
        for i in range(1, n_steps + 1):
            np.multiply(f, half_kick, out=scratch)  # B
            v += scratch
            np.multiply(v, half_dt, out=scratch)  # A
            x += scratch
            normal(out=noise)  # O
            noise *= noise_scale
            noise -= (masses @ noise) / total_mass
            v *= c1
            v += noise
            np.multiply(v, half_dt, out=scratch)  # A
            x += scratch
            energy, f_new = energy_forces(x)
            f[...] = f_new
            np.multiply(f, half_kick, out=scratch)  # B
            v += scratch
            step += 1
            if checked:
                total = energy + float(np.dot(weights * vflat, vflat))
                if not abs(total - reference) <= tolerance:
                    state.energy, state.step = energy, step
                    raise self._unstable(step, total)
            if frames is not None and i % save_every == 0:
                state.energy, state.step = energy, step
                frames.append(state)
        state.energy, state.step = energy, step
        return state
