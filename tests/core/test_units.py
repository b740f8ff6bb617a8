"""The core's units equal ASE's, and the one kinetic energy agrees with ASE's for an Atoms."""

import numpy as np
import pytest
import torch
from ase import Atoms, units

from chemnoether.core.elements import SYMBOLS, symbol
from chemnoether.core.units import ACCELERATION_UNIT, BOLTZMANN_EV_PER_K, FS, kinetic_energy


def test_constants_equal_ase():
    assert FS == pytest.approx(units.fs, rel=1e-14)
    assert ACCELERATION_UNIT == pytest.approx(units.fs**2, rel=1e-14)
    assert BOLTZMANN_EV_PER_K == pytest.approx(units.kB, rel=1e-14)


def test_kinetic_energy_matches_ase_for_numpy_and_torch():
    rng = np.random.default_rng(0)
    masses = np.array([12.011, 1.008, 15.999])
    velocities = rng.normal(scale=0.01, size=(3, 3))  # Å/fs
    atoms = Atoms("CHO", positions=np.zeros((3, 3)), masses=masses)
    atoms.set_velocities(velocities / units.fs)  # ASE's velocity unit
    expected = atoms.get_kinetic_energy()
    assert kinetic_energy(masses, velocities) == pytest.approx(expected, rel=1e-12)
    as_torch = kinetic_energy(torch.tensor(masses), torch.tensor(velocities))
    assert float(as_torch) == pytest.approx(expected, rel=1e-12)
    frames = np.stack([velocities, 2 * velocities])  # (T, N, 3) -> (T,)
    np.testing.assert_allclose(kinetic_energy(masses, frames), [expected, 4 * expected], rtol=1e-12)


def test_symbols_equal_ase():
    from ase.data import chemical_symbols

    assert list(SYMBOLS) == chemical_symbols
    assert symbol(8) == "O" and symbol(0) == "?" and symbol(500) == "?"
