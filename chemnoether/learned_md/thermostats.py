"""Thermostat half steps for NVT by operator splitting around a learned NVE step (FlashMD's scheme).

A learned step is trained on NVE data, so it cannot thermostat by itself; instead a stochastic
half step of the thermostat runs before and after it (``O - learned step - O``), as BAOAB wraps
its O step in the middle. Both act on velocities (B, N, 3) Å/fs of replicas of one molecule:

* ``LangevinHalfStep``: the exact Ornstein-Uhlenbeck update over dt/2,
  ``v <- c v + sqrt(1 - c²) sigma xi`` with ``c = exp(-friction dt / 2)``; the noise has its net
  momentum projected out (mass-weighted), as in ``chemnoether.simulation.integrators.LangevinBAOAB``.
* ``CSVRHalfStep``: Bussi, Donadio & Parrinello's stochastic velocity rescaling (J. Chem. Phys.
  126, 014101, 2007), the exact propagation of their kinetic-energy SDE over dt/2 with relaxation
  time ``tau_fs``, applied to the velocities about the centre of mass (3N - 3 degrees of freedom),
  so the net momentum is untouched. It only rescales: the direction of motion is the learned one.

Each takes a ``numpy.random.Generator`` so that a run is reproducible and resumable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chemnoether.core.options import positive_float
from chemnoether.core.units import BOLTZMANN_EV_PER_K, kinetic_energy, thermal_velocity_scale
from chemnoether.errors import ConfigError
from chemnoether.learned_md._physics import split_com
from chemnoether.simulation.integrators import degrees_of_freedom

THERMOSTATS = ("langevin", "csvr")


@dataclass(frozen=True)
class LangevinHalfStep:
    """Langevin O step over half a learned step (``dt_fs / 2``) at ``temperature_K``."""

    temperature_K: float
    dt_fs: float
    friction_per_fs: float = 0.01

    def __post_init__(self):
        for name in ("temperature_K", "dt_fs", "friction_per_fs"):
            positive_float(getattr(self, name), name)

    def __call__(self, velocities: np.ndarray, masses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = math.exp(-0.5 * self.friction_per_fs * self.dt_fs)
        sigma = thermal_velocity_scale(masses, self.temperature_K)  # (N,) Å/fs
        noise = rng.standard_normal(velocities.shape) * sigma[None, :, None]
        noise -= np.einsum("n,bni->bi", masses, noise)[:, None, :] / masses.sum()
        return c * velocities + math.sqrt(1.0 - c * c) * noise


@dataclass(frozen=True)
class CSVRHalfStep:
    """Bussi stochastic velocity rescaling over ``dt_fs / 2`` with relaxation time ``tau_fs``."""

    temperature_K: float
    dt_fs: float
    tau_fs: float = 100.0

    def __post_init__(self):
        for name in ("temperature_K", "dt_fs", "tau_fs"):
            positive_float(getattr(self, name), name)

    def __call__(self, velocities: np.ndarray, masses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        com, internal = split_com(masses, velocities)
        dof = degrees_of_freedom(len(masses))
        kinetic = kinetic_energy(masses, internal)  # (B,)
        target = 0.5 * dof * BOLTZMANN_EV_PER_K * self.temperature_K
        c = math.exp(-0.5 * self.dt_fs / self.tau_fs)
        r1 = rng.standard_normal(len(kinetic))
        rest = rng.chisquare(dof - 1, len(kinetic)) if dof > 1 else np.zeros(len(kinetic))
        new = (
            kinetic
            + (1.0 - c) * (target * (rest + r1 * r1) / dof - kinetic)
            + 2.0 * r1 * np.sqrt(np.maximum(kinetic, 0.0) * target / dof * (1.0 - c) * c)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.sqrt(np.maximum(new, 0.0) / kinetic)
            # Bussi's sign rule: the update is exact only if alpha may turn negative
            flip = r1 + np.sqrt(c * dof * kinetic / ((1.0 - c) * target)) < 0
        alpha = np.where(flip, -alpha, alpha)
        alpha = np.where(kinetic > 0, alpha, 1.0)  # a system at rest has no direction to rescale
        return com + alpha[:, None, None] * internal


def make_thermostat(kind: str, temperature_K: float, dt_fs: float, *, friction_per_fs: float = 0.01, tau_fs: float = 100.0):
    """``LangevinHalfStep`` or ``CSVRHalfStep`` by name (``THERMOSTATS``)."""
    if kind == "langevin":
        return LangevinHalfStep(temperature_K, dt_fs, friction_per_fs)
    if kind == "csvr":
        return CSVRHalfStep(temperature_K, dt_fs, tau_fs)
    raise ConfigError(f"thermostat={kind!r}: choose one of {', '.join(THERMOSTATS)}")
