"""Units of the package (Å, fs, Å/fs, eV, amu) and the one kinetic energy every module uses.

The constants are ASE's (CODATA 2014, ASE's default), derived here so that the torch-only core
does not import ASE; ``tests/core/test_units.py`` checks them against ``ase.units``.
"""

from __future__ import annotations

import math

_ELEMENTARY_CHARGE = 1.6021766208e-19  # C, CODATA 2014
_ATOMIC_MASS = 1.66053904e-27  # kg, CODATA 2014
_BOLTZMANN = 1.38064852e-23  # J/K, CODATA 2014

# 1 fs in ASE's time unit Å·sqrt(amu/eV) (about 10.18 fs)
FS = 1e-5 * math.sqrt(_ELEMENTARY_CHARGE / _ATOMIC_MASS)
# eV/(Å·amu) -> Å/fs²: multiply a force over a mass by this to get an acceleration
ACCELERATION_UNIT = FS**2
BOLTZMANN_EV_PER_K = _BOLTZMANN / _ELEMENTARY_CHARGE


def kinetic_energy(masses, velocities):
    """``sum_i m_i |v_i|^2 / 2`` over the atom axis, eV, for numpy arrays or torch tensors.

    ``masses`` (N,) amu, ``velocities`` (..., N, 3) Å/fs; returns (...). Per-graph sums of a
    batch of graphs pool ``kinetic_energy_per_atom`` instead.
    """
    return kinetic_energy_per_atom(masses, velocities).sum(-1)


def kinetic_energy_per_atom(masses, velocities):
    """``m_i |v_i|^2 / 2`` per atom, eV: (..., N) from masses (N,) amu and velocities (..., N, 3) Å/fs."""
    return 0.5 * masses * (velocities**2).sum(-1) / ACCELERATION_UNIT


def thermal_velocity_scale(masses, temperature_K: float):
    """Per-atom standard deviation of one Maxwell-Boltzmann velocity component, Å/fs: sqrt(kB T / m)."""
    return (BOLTZMANN_EV_PER_K * temperature_K / masses) ** 0.5 * FS
