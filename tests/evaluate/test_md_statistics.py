"""Structure divergences and the vibrational density of states on cases with known answers."""

import numpy as np
import pytest
import torch

from chemnoether.evaluate.md_statistics import (
    coordinate_values, dos_peaks, internal_coordinates, jensen_shannon, peak_shifts, structure_jsd, vibrational_dos,
    SPEED_OF_LIGHT_CM_PER_FS,
)
from chemnoether.core.transforms import random_orthogonal

BUTANE_CHAIN = (np.array([0, 1, 2]), np.array([1, 2, 3]))  # 0-1-2-3


def test_internal_coordinates_of_a_chain_and_a_star():
    chain = internal_coordinates(BUTANE_CHAIN)
    assert chain["bond"].tolist() == [[0, 1], [1, 2], [2, 3]]
    assert chain["angle"].tolist() == [[0, 1, 2], [1, 2, 3]]
    assert chain["dihedral"].tolist() == [[0, 1, 2, 3]]
    star = internal_coordinates((np.array([0, 0, 0, 1]), np.array([1, 2, 3, 0])))  # a repeated bond counts once
    assert len(star["bond"]) == 3 and len(star["angle"]) == 3 and len(star["dihedral"]) == 0


def test_angles_and_dihedrals_of_known_geometries_under_rotation_and_reflection():
    trans = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, -1.0, 0.0]])  # planar zigzag
    gauche = trans.copy()
    gauche[3] = [2.0, 0.0, 1.0]  # last atom turned 90 degrees about the 1-2 bond
    atoms = internal_coordinates(BUTANE_CHAIN)
    np.testing.assert_allclose(coordinate_values(trans, "angle", atoms["angle"]), [45.0, 135.0])
    np.testing.assert_allclose(np.abs(coordinate_values(trans, "dihedral", atoms["dihedral"])), [180.0])
    turned = coordinate_values(gauche, "dihedral", atoms["dihedral"])
    np.testing.assert_allclose(np.abs(turned), [90.0])
    torch.manual_seed(0)
    rotation = random_orthogonal(torch.float64).numpy()  # with parity: bonds and angles do not see it
    moved = gauche @ rotation.T + 3.0
    for kind in ("bond", "angle"):
        np.testing.assert_allclose(coordinate_values(moved, kind, atoms[kind]), coordinate_values(gauche, kind, atoms[kind]))
    mirrored = gauche * np.array([1.0, 1.0, -1.0])  # a reflection flips the dihedral's sign only
    np.testing.assert_allclose(coordinate_values(mirrored, "dihedral", atoms["dihedral"]), -turned)


def test_jensen_shannon_is_zero_for_one_distribution_and_one_for_disjoint_ones():
    rng = np.random.default_rng(1)
    bins = np.linspace(0.0, 2.0, 41)
    sample = rng.normal(1.0, 0.1, 20000)
    assert jensen_shannon(sample, rng.normal(1.0, 0.1, 20000), bins) < 0.005
    assert jensen_shannon(sample, rng.normal(1.0, 0.1, 20000) + 0.5, bins) > 0.5
    np.testing.assert_allclose(jensen_shannon(np.full(10, 0.2), np.full(10, 1.5), bins), 1.0)


def test_structure_jsd_tells_a_stretched_run_from_the_reference():
    rng = np.random.default_rng(2)
    base = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [2.0, 1.4, 0.0], [3.5, 1.4, 0.3]])
    reference = base + 0.03 * rng.standard_normal((4000, 4, 3))
    same = base + 0.03 * rng.standard_normal((4000, 4, 3))
    stretched = same * np.array([1.15, 1.0, 1.0])
    good, bad = structure_jsd(reference, same, BUTANE_CHAIN), structure_jsd(reference, stretched, BUTANE_CHAIN)
    assert good["n_bonds"] == 3 and good["n_angles"] == 2 and good["n_dihedrals"] == 1
    assert good["bond_jsd_max"] < 0.02 < bad["bond_jsd_max"]


def test_vibrational_dos_finds_the_frequencies_of_oscillators():
    dt, steps = 1.0, 4096
    t = np.arange(steps) * dt
    wavenumbers = np.array([1000.0, 3000.0])
    angular = 2 * np.pi * wavenumbers * SPEED_OF_LIGHT_CM_PER_FS  # rad/fs
    velocities = np.zeros((steps, 2, 2, 3))  # two replicas, two atoms, each atom one frequency
    for atom, omega in enumerate(angular):
        for replica in range(2):
            velocities[:, replica, atom, 0] = 0.01 * np.cos(omega * t + replica)
    frequencies, spectrum = vibrational_dos(velocities, np.array([12.0, 1.0]), dt)
    np.testing.assert_allclose(np.trapezoid(spectrum, frequencies), 1.0)
    peaks = dos_peaks(frequencies, spectrum)  # bands 200-700, 700-1700, 2500-3400 cm-1
    resolution = frequencies[1]
    assert np.isnan(peaks[0])  # nothing vibrates in the first band
    np.testing.assert_allclose(peaks[1:], wavenumbers, atol=resolution)
    np.testing.assert_allclose(peak_shifts(peaks, peaks * 1.03)[1:], [0.03, 0.03])
    weaker = velocities.copy()
    weaker[:, :, 1] *= 0.1  # the 3000 cm-1 atom much weaker: still the strongest peak of its band
    np.testing.assert_allclose(dos_peaks(*vibrational_dos(weaker, np.array([12.0, 1.0]), dt))[2], 3000.0, atol=resolution)
    with pytest.raises(Exception, match="needs velocities"):
        vibrational_dos(velocities[:4], np.ones(2), dt)
