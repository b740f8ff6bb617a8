"""Starts of learned MD: every kind resolves to the run's atoms; every bad one is named."""

import numpy as np
import pytest
from ase import Atoms, units
from ase.io import write

from chemnoether.errors import ConfigError, InvalidStructureError, UnsupportedElementError
from chemnoether.learned_md import prepare_starts


def _frame(session, window=0) -> Atoms:
    atoms = session.run.trajectory.to_atoms(int(session.run.windows.starts[window]))
    atoms.calc = None
    return atoms


def test_test_windows_give_one_replica_each(session):
    pos, vel, _ = prepare_starts(session, "test:2:4", replicas=3)
    frames = session.run.windows.starts[[2, 6, 10]]
    np.testing.assert_array_equal(pos, session.run.trajectory.positions[frames])
    np.testing.assert_array_equal(vel, session.run.trajectory.velocities[frames])


def test_a_file_start_keeps_its_velocities(tmp_path, session):
    atoms = _frame(session, 1)
    write(tmp_path / "start.extxyz", atoms)
    pos, vel, _ = prepare_starts(session, str(tmp_path / "start.extxyz"), replicas=2)
    np.testing.assert_allclose(pos[1], atoms.positions, atol=1e-6)
    np.testing.assert_allclose(vel[0], atoms.get_velocities() * units.fs, atol=1e-9)


@pytest.mark.filterwarnings("ignore:.*far outside the training data")  # a fresh minimum: another conformer
def test_a_smiles_in_another_atom_order_is_put_in_the_runs_order(session):
    pos, vel, _ = prepare_starts(session, "OCC", replicas=4, temperature_K=300.0)
    assert pos.shape == (4, 9, 3)
    masses = session.engine.masses
    np.testing.assert_allclose(np.einsum("n,bni->bi", masses, vel), 0.0, atol=1e-12)  # zero net momentum
    assert not np.allclose(vel[0], vel[1])  # each replica draws its own velocities


def test_a_start_without_velocities_needs_a_temperature(session):
    atoms = _frame(session)
    atoms.set_velocities(np.zeros((len(atoms), 3)))
    with pytest.raises(ConfigError, match="no velocities.*temperature"):
        prepare_starts(session, atoms)


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda a: a.numbers.__setitem__(4, 9), UnsupportedElementError, "F, which the model never saw"),
        (lambda a: a.positions.__setitem__(5, a.positions[4] + [0.3, 0.0, 0.0]), InvalidStructureError, r"atoms 4 and 5 only 0.300 Å apart"),
        (lambda a: a.positions.__setitem__((3, 1), np.nan), InvalidStructureError, "NaN or infinite coordinates at atom 3"),
        (lambda a: a.numbers.__setitem__(slice(1, 3), [8, 6]), InvalidStructureError, "atom 1 is O here but C in the run"),
    ],
    ids=["unseen element", "overlapping atoms", "nan coordinates", "elements in another order"],
)
def test_bad_starts_are_refused_by_name(session, edit, error, match):
    atoms = _frame(session)
    edit(atoms)
    with pytest.raises(error, match=match):
        prepare_starts(session, atoms)


def test_hydrogens_in_another_order_are_caught_by_their_bonds(session):
    atoms = _frame(session)
    order = list(range(len(atoms)))
    order[3], order[8] = order[8], order[3]  # a methyl H swapped with the hydroxyl H
    with pytest.raises(InvalidStructureError, match="another order than the run's molecule"):
        prepare_starts(session, atoms[order])


def test_other_molecules_and_bad_test_windows_are_refused(session):
    with pytest.raises(InvalidStructureError, match="not the run's molecule"):
        prepare_starts(session, "CCN", temperature_K=300.0)
    with pytest.raises(ConfigError, match="test split has"):
        prepare_starts(session, "test:1000")


def test_a_start_far_from_the_training_data_warns_with_its_distance(session):
    atoms = _frame(session)
    with pytest.warns(RuntimeWarning, match=r"far outside the training data: replica 0 is \d\.\d+ Å"):
        atoms.positions *= 1.25  # every bond 25% long: a structure the data never had
        prepare_starts(session, atoms)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_starts(session, _frame(session, 3))  # a frame of the data: no warning
