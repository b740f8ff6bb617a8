"""Empirical vibrational spectra: synthetic signals of known frequencies, real MMFF94 ethanol, plots."""

import numpy as np
import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.simulation import generate_md
from chemnoether.errors import TrajectoryFormatError
from chemnoether.gp import (
    SpectralMixtureNet,
    plot_spectra,
    spectrum_peaks,
    to_frequency,
    velocity_autocorrelation,
    vibrational_spectrum,
)



def synthetic(frames=4000, dt=0.5):
    """Atom 0 oscillates at 1000 cm^-1; atom 1 at 1500 and 3000 cm^-1 (the second weaker)."""
    rng = np.random.default_rng(0)
    t = np.arange(frames)[:, None] * dt
    v = np.zeros((frames, 2, 3))
    v[:, 0, :] = np.cos(2 * np.pi * to_frequency(1000.0) * t + rng.uniform(0, 6, 3))
    v[:, 1, :] = np.cos(2 * np.pi * to_frequency(1500.0) * t) + 0.5 * np.sin(2 * np.pi * to_frequency(3000.0) * t + 1.0)
    return v + 0.01 * rng.standard_normal(v.shape)


def test_synthetic_signal_peaks_at_its_frequencies():
    spectrum = vibrational_spectrum(velocities=synthetic(), dt_fs=0.5, atomic_numbers=[6, 1])
    assert spectrum.density.shape == (spectrum.frequencies.size, 2)
    assert spectrum.wavenumbers[-1] == pytest.approx(33356.41)  # Nyquist at dt = 0.5 fs
    first = spectrum_peaks(spectrum.wavenumbers, spectrum.density[:, 0], band_cm=(200, 4000))
    second = spectrum_peaks(spectrum.wavenumbers, spectrum.density[:, 1], band_cm=(200, 4000))
    assert first.size == 1 and first[0] == pytest.approx(1000, abs=5)
    assert second.size == 2 and second == pytest.approx([1500, 3000], abs=5)  # highest first
    assert set(spectrum.by_element()) == {1, 6}


def test_density_integrates_to_the_autocorrelation_at_zero():
    velocities = synthetic(1000)
    spectrum = vibrational_spectrum(velocities=velocities, dt_fs=0.5)
    acf = velocity_autocorrelation(velocities)
    step = spectrum.frequencies[1]
    two_sided = 2 * spectrum.density.sum(0) * step - spectrum.density[0] * step  # f = 0 counted once
    np.testing.assert_allclose(two_sided, acf[0], rtol=1e-3)


def test_autocorrelation_of_constant_and_mass_weighted_velocities():
    velocities = np.tile(np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 3.0]]), (50, 1, 1))
    acf = velocity_autocorrelation(velocities, max_lag=10)
    np.testing.assert_allclose(acf, np.tile([3.0, 3.0], (10, 1)))  # |v|^2 / 3 at every lag
    weighted = velocity_autocorrelation(velocities, max_lag=10, masses=np.array([2.0, 16.0]))
    np.testing.assert_allclose(weighted[0], [6.0, 48.0])


def test_bad_velocities_name_the_frame():
    velocities = synthetic(100)
    velocities[42, 1, 0] = np.nan
    with pytest.raises(TrajectoryFormatError, match=r"frames \[42\]"):
        vibrational_spectrum(velocities=velocities, dt_fs=0.5)


@pytest.fixture(scope="module")
def ethanol():
    return generate_md("ethanol", 4000, dt_fs=0.5, seed=0, progress=False)  # 2 fs, about 0.2 s


def bonded_heavy_atom(traj, hydrogen):
    distance = np.linalg.norm(traj.positions[0] - traj.positions[0, hydrogen], axis=1)
    distance[traj.atomic_numbers == 1] = np.inf
    return int(traj.atomic_numbers[np.argmin(distance)])


def test_mmff_ethanol_stretches(ethanol):
    """MMFF94 ethanol, 4000 steps of 0.5 fs from seed 0 (NVE after equilibration): the H on O peaks
    at 3736 cm^-1 and each H on C at 2956-2965 cm^-1 (strongest peak in 2500-4200 cm^-1)."""
    spectrum = vibrational_spectrum(ethanol, mass_weighted=True)
    hydrogens = np.flatnonzero(ethanol.atomic_numbers == 1)
    partners = [bonded_heavy_atom(ethanol, h) for h in hydrogens]
    assert sorted(partners) == [6] * 5 + [8]
    for hydrogen, partner in zip(hydrogens, partners, strict=True):
        top = spectrum_peaks(spectrum.wavenumbers, spectrum.density[:, hydrogen], band_cm=(2500, 4200), max_peaks=1)[0]
        if partner == 8:
            assert 3500 <= top <= 3900, f"O-H stretch of atom {hydrogen} at {top:.0f} cm^-1"
        else:
            assert 2800 <= top <= 3200, f"C-H stretch of atom {hydrogen} at {top:.0f} cm^-1"


def test_plot_writes_a_png_with_predicted_densities(tmp_path, ethanol):
    spectrum = vibrational_spectrum(ethanol.frames(slice(0, 800)))
    predicted = SpectralMixtureNet(4, 3).double()(torch.randn(ethanol.n_atoms, 4, dtype=torch.float64))
    for by in ("element", "atom"):
        path = plot_spectra(tmp_path / f"spectra_{by}.png", spectrum, predicted, by=by, title="ethanol")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spectra_atom.png", "spectra_element.png"]  # no temporary files left
