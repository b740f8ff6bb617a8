"""Batched physics of replicas: temperature and centre-of-mass velocity (kinetic energy: ``core.units``).

Arrays are (B, N, 3) in chemnoether units (Å, Å/fs, amu, eV); the constants are the ones the
numpy integrators use (``chemnoether.simulation.integrators``), so both kinds of MD report the same
temperature for the same state.
"""

from __future__ import annotations

import numpy as np

from chemnoether.core.units import BOLTZMANN_EV_PER_K, kinetic_energy
from chemnoether.simulation.integrators import degrees_of_freedom


def com_velocities(masses: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """(B, 3) centre-of-mass velocity, Å/fs."""
    return np.einsum("n,bni->bi", masses, velocities) / masses.sum()


def split_com(masses: np.ndarray, velocities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(com (B, 1, 3), internal (B, N, 3))`` with ``velocities = com + internal``."""
    com = com_velocities(masses, velocities)[:, None, :]
    return com, velocities - com


def temperatures(masses: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """(B,) instantaneous temperature 2·K / (dof·kB) with 3N - 3 degrees of freedom, K."""
    dof = degrees_of_freedom(len(masses))
    return 2.0 * kinetic_energy(masses, velocities) / (dof * BOLTZMANN_EV_PER_K)
