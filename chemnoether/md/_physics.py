"""Batched physics of replicas: kinetic energy, temperature, centre-of-mass velocity.

Arrays are (B, N, 3) in chemnoether units (Å, Å/fs, amu, eV); the constants are the ones the
numpy integrators use (``chemnoether.data.integrators``), so both kinds of MD report the same
temperature for the same state.
"""

from __future__ import annotations

import numpy as np

from chemnoether.data.integrators import ACCELERATION_UNIT, BOLTZMANN_EV_PER_K, degrees_of_freedom


def kinetic_energies(masses: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """(B,) ½·Σ m v² in eV of velocities (B, N, 3) Å/fs."""
    return 0.5 * np.einsum("n,bni,bni->b", masses, velocities, velocities) / ACCELERATION_UNIT


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
    return 2.0 * kinetic_energies(masses, velocities) / (dof * BOLTZMANN_EV_PER_K)
