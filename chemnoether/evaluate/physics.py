"""Physical diagnostics of predicted frames: momenta, energy under a reference potential, stability.

Every function takes frames as (..., T, N, 3) arrays in chemnoether units (Å, Å/fs, amu, eV) and
returns per-frame values, so that drifts can be read against time.
"""

from __future__ import annotations

import numpy as np

from chemnoether.core.units import kinetic_energy  # noqa: F401 - re-exported: the one kinetic energy
from chemnoether.simulation.potentials import Potential


def linear_momentum(masses: np.ndarray, vel: np.ndarray) -> np.ndarray:
    """(..., T, 3) total linear momentum, amu Å/fs."""
    return np.einsum("n,...ni->...i", masses, vel)


def angular_momentum(masses: np.ndarray, pos: np.ndarray, vel: np.ndarray) -> np.ndarray:
    """(..., T, 3) angular momentum about the centre of mass, amu Å^2/fs."""
    com = np.einsum("n,...ni->...i", masses, pos) / masses.sum()
    com_vel = np.einsum("n,...ni->...i", masses, vel) / masses.sum()
    rel_pos = pos - com[..., None, :]
    rel_vel = vel - com_vel[..., None, :]
    return np.einsum("n,...ni->...i", masses, np.cross(rel_pos, rel_vel))


def potential_energy(potential: Potential, pos: np.ndarray) -> np.ndarray:
    """(..., T) potential energy of every frame under ``potential`` (NaN frames stay NaN), eV."""
    flat = pos.reshape(-1, *pos.shape[-2:])
    energies = np.full(len(flat), np.nan)
    for i, frame in enumerate(flat):
        if np.isfinite(frame).all():
            energies[i] = potential.energy_forces(frame)[0]
    return energies.reshape(pos.shape[:-2])


def bond_strain(pos: np.ndarray, bonds: tuple[np.ndarray, np.ndarray], reference: np.ndarray) -> np.ndarray:
    """(..., T, E) relative change of each bond's length against ``reference`` positions.

    ``reference`` is (N, 3), or (..., N, 3) with one reference per leading index of ``pos``
    (e.g. each rollout's own start frame).
    """
    src, dst = (np.asarray(atoms, dtype=np.int64) for atoms in bonds)
    ref_len = np.linalg.norm(reference[..., dst, :] - reference[..., src, :], axis=-1)
    length = np.linalg.norm(pos[..., dst, :] - pos[..., src, :], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):  # NaN frames stay NaN
        return np.abs(length / ref_len[..., None, :] - 1.0)


def max_bond_strain(pos: np.ndarray, bonds: tuple[np.ndarray, np.ndarray], reference: np.ndarray) -> np.ndarray:
    """(..., T) largest relative change of a bond length against ``reference`` (N, 3) positions."""
    return np.max(bond_strain(pos, bonds, reference), axis=-1, initial=0.0)


def steps_until_unphysical(strain: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(...,) first step whose bond strain exceeds ``threshold`` (or is NaN); T when none does."""
    bad = ~(strain <= threshold)  # NaN counts as bad
    first = np.argmax(bad, axis=-1)
    return np.where(bad.any(axis=-1), first, strain.shape[-1])
