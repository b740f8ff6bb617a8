import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.data.datasets import md17_protocol_windows, time_block_windows
from chemnoether.data.splits import (
    Split,
    SplitOverlapError,
    check_no_overlap,
    md17_protocol_split,
    overlap_fractions,
    time_block_split,
    window_overlap,
)
from chemnoether.data.trajectory import Trajectory
from chemnoether.data.windows import PairWindows, RolloutWindows
from chemnoether.errors import ConfigError

# the shortest trajectory for which the published fractions draw 500 / 2000 / 2000 starts:
# 5% of M = n_frames - 1 - 20000 candidates must reach 2000
MD17_MIN_FRAMES = 60_001


def gmn_split(n_frames: int, seed: int = 100):
    """The published draw, transcribed from the GMN / EGNO dataset code (loops and all)."""
    x_frames = n_frames - 1  # x = x[:-1] after the velocity differences
    m = x_frames - 20000  # _x = x[10000:-10000]
    rng = np.random.RandomState(seed)  # np.random.seed(seed) + np.random.choice
    train = rng.choice(np.arange(m), size=int(0.1 * m), replace=False)
    flag = np.zeros(m)
    flag[train] = 1
    rest = [i for i in range(m) if not flag[i]]
    val = rng.choice(rest, size=int(0.05 * m), replace=False)
    flag[val] = 1
    rest = [i for i in range(m) if not flag[i]]
    test = rng.choice(rest, size=int(0.05 * m), replace=False)
    return (train + 10000)[:500], (val + 10000)[:2000], (test + 10000)[:2000]


# --- MD17 protocol ----------------------------------------------------------------------------


def test_md17_split_reproduces_the_published_draw():
    split = md17_protocol_split(MD17_MIN_FRAMES + 500)
    for ours, theirs in zip(split, gmn_split(MD17_MIN_FRAMES + 500), strict=True):
        assert ours.tolist() == theirs.tolist()


@pytest.mark.parametrize("n_frames", [MD17_MIN_FRAMES, 211_762])
def test_md17_split_counts_range_and_disjointness(n_frames):
    split = md17_protocol_split(n_frames)
    assert [len(s) for s in split] == [500, 2000, 2000]
    everything = np.concatenate(split)
    assert len(np.unique(everything)) == 4500  # disjoint start sets, no repeats inside a set
    assert everything.min() >= 10000 and everything.max() < n_frames - 10000
    # and the target's forward-difference velocity still fits
    assert everything.max() + 3000 + 1 <= n_frames - 1
    assert all(s.dtype == np.int64 for s in split)


def test_md17_split_is_deterministic_per_seed():
    first, again = md17_protocol_split(MD17_MIN_FRAMES), md17_protocol_split(MD17_MIN_FRAMES)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    other = md17_protocol_split(MD17_MIN_FRAMES, seed=1)
    assert not np.array_equal(first.train, other.train)


def test_md17_split_overlaps_in_time():
    # documented: the published protocol does not separate its splits in time
    fractions = overlap_fractions(md17_protocol_split(MD17_MIN_FRAMES), 3001)
    assert fractions["train/test"] > 0.99


def test_md17_split_refuses_short_trajectories_with_the_numbers():
    with pytest.raises(ConfigError, match=r"30000 frames leave 9999 candidate starts.*n_frames >= 60001"):
        md17_protocol_split(30_000)
    direct = md17_protocol_split(24_501, draw_fractions=None)
    assert [len(s) for s in direct] == [500, 2000, 2000]
    assert len(np.unique(np.concatenate(direct))) == 4500
    with pytest.raises(ConfigError, match=r"24500 frames.*n_frames >= 24501"):
        md17_protocol_split(24_500, draw_fractions=None)
    with pytest.raises(ConfigError, match="delta=20000 must be <= margin"):
        md17_protocol_split(MD17_MIN_FRAMES, delta=20_000)


@pytest.fixture(scope="module")
def long_ethanol() -> Trajectory:
    """MD17-length ethanol (RDKit's explicit-H order) at constant velocity: frames known exactly."""
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=7)
    start = mol.GetConformer().GetPositions()
    velocity = np.random.default_rng(0).normal(scale=1e-6, size=start.shape)  # Å/fs
    times = 0.5 * np.arange(MD17_MIN_FRAMES)[:, None, None]
    return Trajectory(
        [a.GetAtomicNum() for a in mol.GetAtoms()],
        start[None] + velocity[None] * times,
        dt_fs=0.5,
        velocities=np.broadcast_to(velocity, (MD17_MIN_FRAMES, *start.shape)),
        metadata={"smiles": "CCO"},
    )


def test_md17_protocol_windows(long_ethanol):
    train, val, test, split = md17_protocol_windows(long_ethanol)
    assert (len(train), len(val), len(test)) == (500, 2000, 2000)
    heavy = long_ethanol.atomic_numbers > 1
    positions = long_ethanol.positions
    for windows, starts in ((train, split.train), (test, split.test)):
        start = int(starts[7])
        g = windows[7]
        assert g.num_nodes(keys.ATOM) == 3  # heavy atoms only
        atoms = g.nodes[keys.ATOM].data
        # the target is 3000 frames after the input
        assert torch.equal(atoms[keys.POS], torch.from_numpy(positions[start][heavy]).float())
        assert torch.equal(atoms[keys.NEXT_POS], torch.from_numpy(positions[start + 3000][heavy]).float())
        forward = (positions[start + 1][heavy] - positions[start][heavy]) / long_ethanol.dt_fs
        assert torch.equal(atoms[keys.VEL], torch.from_numpy(forward).float())
        assert g.nodes[keys.SYSTEM].data[keys.DT].tolist() == [3000 * long_ethanol.dt_fs]
        # C-C, C-O bonded (hop 1), C...O through the middle carbon (hop 2)
        assert sorted(g.edges[keys.NEAR].data[keys.EDGE_HOPS].tolist()) == [1, 1, 1, 1, 2, 2]
    assert train.topology is test.topology


# --- time blocks ------------------------------------------------------------------------------

BLOCK_CASES = [
    # n_frames, span, fractions, gap, seed, n_blocks, stride
    (1000, 10, (0.8, 0.1, 0.1), None, None, 1, 1),
    (1000, 10, (0.8, 0.1, 0.1), 0, None, 1, 1),
    (5000, 301, (0.6, 0.2, 0.2), 50, 3, 4, 1),
    (60_001, 3001, (0.8, 0.1, 0.1), None, 0, 2, 7),
    (200, 1, (0.5, 0.0, 0.5), 5, None, 3, 1),
    (37, 3, (0.34, 0.33, 0.33), 0, 11, 1, 1),
]


@pytest.mark.parametrize(("n_frames", "span", "fractions", "gap", "seed", "n_blocks", "stride"), BLOCK_CASES)
def test_time_blocks_never_overlap(n_frames, span, fractions, gap, seed, n_blocks, stride):
    split = time_block_split(n_frames, span, fractions, gap=gap, seed=seed, n_blocks=n_blocks, stride=stride)
    check_no_overlap(split, span, min_gap=span if gap is None else gap)
    assert all(f == 0.0 for f in overlap_fractions(split, span).values())
    everything = np.concatenate(split)
    assert everything.min() >= 0 and everything.max() + span <= n_frames - 1
    used = sum(len(s) for s in split) * stride
    for starts, fraction in zip(split, fractions, strict=True):
        if fraction == 0:
            assert len(starts) == 0
        else:  # shares as asked, up to rounding and the stride
            assert abs(len(starts) * stride / used - fraction) < 0.05 + 2 * stride * n_blocks / used
        if stride > 1 and len(starts) > 1:
            assert set(np.diff(starts)) <= {stride} | set(range(stride + span, n_frames))


def test_time_blocks_in_time_order_without_seed():
    train, val, test = time_block_split(1000, 10)
    assert train.max() < val.min() and val.max() < test.min()
    assert val.min() - train.max() == 10 + 10 + 1  # span + gap frames between, then the next start
    assert train[0] == 0


def test_time_blocks_deterministic_per_seed():
    first = time_block_split(5000, 20, n_blocks=3, seed=4)
    again = time_block_split(5000, 20, n_blocks=3, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_overlap_checker_catches_overlapping_splits():
    span = 10
    train = np.arange(0, 100)
    with pytest.raises(SplitOverlapError, match=r"1 of 1 test windows overlap train windows.*test frames 109-119 and train frames 99-109"):
        check_no_overlap(Split(train, np.zeros(0, dtype=np.int64), np.array([109])), span)
    check_no_overlap(Split(train, np.zeros(0, dtype=np.int64), np.array([110])), span)  # frames 110-120: apart
    with pytest.raises(SplitOverlapError, match="val windows overlap train"):
        check_no_overlap(Split(train, np.array([110]), np.array([500])), span, min_gap=1)
    random = Split(*np.split(np.random.default_rng(0).permutation(1000), [800, 900]))
    with pytest.raises(SplitOverlapError):
        check_no_overlap(random, span)
    assert window_overlap(train, np.array([50, 109, 110, 200]), span).tolist() == [True, True, False, False]


def test_time_blocks_refuse_short_trajectories_and_bad_options():
    with pytest.raises(ConfigError, match=r"100 frames leave 70 window starts for span 30.*leave 0"):
        time_block_split(100, 30)
    with pytest.raises(ConfigError, match="sum to 1"):
        time_block_split(1000, 10, (0.8, 0.1, 0.2))
    with pytest.raises(ConfigError, match="non-negative"):
        time_block_split(1000, 10, (1.2, -0.1, -0.1))
    with pytest.raises(ConfigError, match="gap"):
        time_block_split(1000, 10, gap=-1)


def test_time_block_windows(long_ethanol):
    short = long_ethanol.frames(slice(0, 400))
    pairs = time_block_windows(short, 5, graph="md17", heavy_atoms=True, stride=3)
    assert isinstance(pairs.train, PairWindows) and pairs.train.topology is pairs.test.topology
    check_no_overlap(pairs.split, pairs.train.span)
    rollouts = time_block_windows(short, 5, horizon=4, velocity="forward_difference", n_blocks=2, seed=0)
    assert isinstance(rollouts.val, RolloutWindows) and rollouts.val.span == 21
    check_no_overlap(rollouts.split, 21, min_gap=21)
    assert rollouts.test[0].nodes[keys.ATOM].data[keys.ROLLOUT_POS].shape == (9, 4, 3)
