"""The one physicality check of rollouts: which step turns unphysical, and why, in one line."""

import logging

import numpy as np
import pytest

from chemnoether.errors import ConfigError
from chemnoether.evaluate.physicality import MIN_DISTANCE_A, STRAIN_THRESHOLD, check_rollouts

# a C-C-O chain with one H on the last carbon: bonds C0-C1, C1-O2, C1-H3 (1.5, 1.4, 1.1 Å)
NUMBERS = np.array([6, 6, 8, 1])
START = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [2.9, 0.0, 0.0], [1.5, 1.1, 0.0]])
BONDS = (np.array([0, 1, 1]), np.array([1, 2, 3]))


def rollouts(n_rollouts=2, n_steps=4):
    """Rigidly drifting copies of START: physical at every step."""
    shift = 0.1 * np.arange(n_steps + 1)[None, :, None, None] * np.ones((n_rollouts, 1, 1, 1))
    pos = START[None, None] + shift
    return pos, np.full_like(pos, 0.01)


def test_rigid_motion_is_physical():
    pos, vel = rollouts()
    check = check_rollouts(pos, vel, BONDS, NUMBERS)
    assert check.blowups == () and check.steps_physical.tolist() == [4, 4]
    assert check.alive.all() and check.physical.all() and check.n_physical == 2


def test_a_stretched_bond_names_the_step_the_atoms_and_the_length():
    pos, vel = rollouts()
    pos[1, 2:, 0, 0] -= 2.0  # C0 pulled away from C1 from step 2 on: C0-C1 3.5 Å instead of 1.5 Å
    check = check_rollouts(pos, vel, BONDS, NUMBERS)
    assert check.steps_physical.tolist() == [4, 1]
    assert check.physical.tolist() == [True, False] and check.n_physical == 1
    assert check.alive[1].tolist() == [True, True, False, False, False]
    (blowup,) = check.blowups
    assert (blowup.rollout, blowup.step) == (1, 2)
    assert "bond C0-C1 is 3.5 Å, 1.5 Å at the start" in blowup.reason


def test_threshold_is_strict_and_compression_counts():
    pos, vel = rollouts(n_rollouts=3)
    pos[0, 1:, 0, 0] = pos[0, 1:, 1, 0] - 1.5 * (1 + 0.9 * STRAIN_THRESHOLD)  # stretched, under the limit
    pos[1, 1:, 0, 0] = pos[1, 1:, 1, 0] - 1.5 * (1 + 1.1 * STRAIN_THRESHOLD)  # stretched past it
    pos[2, 3:, 0, 0] = pos[2, 3:, 1, 0] - 1.5 * (1 - 1.1 * STRAIN_THRESHOLD)  # compressed past it
    check = check_rollouts(pos, vel, BONDS, NUMBERS)
    assert check.steps_physical.tolist() == [4, 0, 2]
    assert [b.rollout for b in check.blowups] == [1, 2]


def test_atoms_that_overlap_without_a_bond_are_caught():
    pos, vel = rollouts()
    # O2 and H3 are not bonded: O2 moves onto H3 (0.3 Å away) at step 3; no bond is strained past 50%...
    pos[0, 3:, 2] = pos[0, 3:, 3] + [0.3, 0.0, 0.0]
    bonds = (np.array([0, 1]), np.array([1, 3]))  # ...once C1-O2 is left out of the bonds
    check = check_rollouts(pos, vel, bonds, NUMBERS)
    (blowup,) = check.blowups
    assert (blowup.rollout, blowup.step) == (0, 3)
    assert blowup.reason.startswith("atoms O2 and H3 are 0.3 Å apart")
    # just outside the limit: physical
    pos[0, 3:, 2] = pos[0, 3:, 3] + [MIN_DISTANCE_A + 0.01, 0.0, 0.0]
    assert check_rollouts(pos, vel, bonds, NUMBERS).blowups == ()


def test_non_finite_frames_are_unphysical():
    pos, vel = rollouts()
    pos[0, 3:] = np.nan  # what rollout writes once a replica has blown up
    vel[1, 1, 2, 0] = np.inf
    check = check_rollouts(pos, vel, BONDS, NUMBERS)
    assert check.steps_physical.tolist() == [2, 0]
    assert all("not finite" in blowup.reason for blowup in check.blowups)


def test_bonds_are_measured_against_the_reference_when_given():
    pos, vel = rollouts(n_rollouts=1)
    reference = START.copy()
    reference[0, 0] = 1.5 - 0.9  # a 0.9 Å reference C0-C1: the rollout's 1.5 Å is a 67% strain
    check = check_rollouts(pos, vel, BONDS, NUMBERS, reference=reference)
    assert check.blowups[0].step == 1 and "0.9 Å at the start" in check.blowups[0].reason


def test_log_writes_one_line_per_failed_replica(caplog):
    pos, vel = rollouts(n_rollouts=3)
    pos[0, 2:, 0, 0] -= 5.0
    pos[2, 4:] = np.nan
    check = check_rollouts(pos, vel, BONDS, NUMBERS)
    with caplog.at_level(logging.WARNING, logger="chemnoether"):
        lines = check.log([f"replica {i}" for i in range(3)])
    assert [record.getMessage() for record in caplog.records] == lines
    assert len(lines) == 2
    assert lines[0].startswith("replica 0: unphysical from step 2: bond C0-C1 is 6.5 Å")
    assert lines[1].startswith("replica 2: unphysical from step 4: positions or velocities are not finite")


def test_bad_shapes_and_thresholds_are_refused():
    pos, vel = rollouts()
    with pytest.raises(ConfigError, match="positions and velocities"):
        check_rollouts(pos[0], vel[0], BONDS, NUMBERS)
    with pytest.raises(ConfigError, match="strain_threshold"):
        check_rollouts(pos, vel, BONDS, NUMBERS, strain_threshold=0.0)
