import pickle

import dgl
import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem
from torch.utils.data import DataLoader

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.data import GraphTensors, collate_graphs
from chemnoether.data.topology import (
    md17_edges,
    md17_topology,
    radius_topology,
    smiles_topology,
)
from chemnoether.data.trajectory import Trajectory
from chemnoether.data.windows import (
    PairWindows,
    RolloutWindows,
    window_loader,
)
from chemnoether.errors import ConfigError, InvalidMoleculeError, TrajectoryFormatError
from chemnoether.featurize import radius_edges
from chemnoether.testing import assert_graphs_equal

DT_FS = 0.5
N_FRAMES = 60
GRAPHS = ("smiles", "md17", "radius")


def embedded(smiles: str, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers and 3D positions of ``smiles`` in RDKit's explicit-hydrogen order."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    return np.array([a.GetAtomicNum() for a in mol.GetAtoms()]), mol.GetConformer().GetPositions()


def drifting(smiles: str, n_frames: int = N_FRAMES, **options) -> Trajectory:
    """The molecule moving at a constant (random, per-atom) velocity: frame t is known exactly."""
    numbers, start = embedded(smiles)
    velocity = np.random.default_rng(0).normal(scale=1e-3, size=start.shape)  # Å/fs
    times = DT_FS * np.arange(n_frames)[:, None, None]
    return Trajectory(
        numbers,
        start[None] + velocity[None] * times,
        dt_fs=DT_FS,
        velocities=np.repeat(velocity[None], n_frames, axis=0),
        metadata={"smiles": smiles, "source": f"drifting {smiles}"},
        **options,
    )


@pytest.fixture(scope="module")
def ethanol() -> Trajectory:
    return drifting("CCO")


def atom(graph, key):
    return graph.nodes[keys.ATOM].data[key]


@pytest.mark.parametrize("graph", GRAPHS)
def test_pair_targets_are_the_frames_delta_later(ethanol, graph):
    delta, starts = 7, [0, 5, 52]
    windows = PairWindows(ethanol, delta, starts, graph, dtype=torch.float64)
    assert len(windows) == 3
    for i, start in enumerate(starts):
        g = windows[i]
        assert torch.equal(atom(g, keys.POS), torch.from_numpy(ethanol.positions[start]))
        assert torch.equal(atom(g, keys.VEL), torch.from_numpy(ethanol.velocities[start]))
        assert torch.equal(atom(g, keys.NEXT_POS), torch.from_numpy(ethanol.positions[start + delta]))
        assert torch.equal(atom(g, keys.NEXT_VEL), torch.from_numpy(ethanol.velocities[start + delta]))
        assert g.nodes[keys.SYSTEM].data[keys.DT].tolist() == [delta * DT_FS]
        assert torch.equal(atom(g, keys.ATOMIC_NUMBERS), torch.from_numpy(ethanol.atomic_numbers))
        assert torch.allclose(atom(g, keys.MASSES), torch.from_numpy(ethanol.masses))


def test_float32_targets_are_the_cast_frames(ethanol):
    g = PairWindows(ethanol, 3, [4])[0]
    assert atom(g, keys.NEXT_POS).dtype == torch.float32
    assert torch.equal(atom(g, keys.NEXT_POS), torch.from_numpy(ethanol.positions[7]).float())
    assert g.nodes[keys.SYSTEM].data[keys.DT].dtype == torch.float32


def test_rollout_stack_holds_every_step(ethanol):
    delta, horizon = 4, 5
    windows = RolloutWindows(ethanol, delta, horizon, [3, 10], "md17", dtype=torch.float64)
    g = windows[1]
    stack = atom(g, keys.ROLLOUT_POS)
    assert stack.shape == (ethanol.n_atoms, horizon, 3)
    expected = ethanol.positions[10 + delta * np.arange(1, horizon + 1)]  # (H, N, 3)
    assert torch.equal(stack.transpose(0, 1), torch.from_numpy(expected))
    assert torch.equal(atom(g, keys.ROLLOUT_VEL)[:, 0], atom(g, keys.NEXT_VEL))
    assert torch.equal(stack[:, 0], atom(g, keys.NEXT_POS))
    assert g.nodes[keys.SYSTEM].data[keys.DT].tolist() == [delta * DT_FS]
    assert windows.span == delta * horizon
    assert windows.frame_indices().tolist() == [[3 + delta * k for k in range(6)], [10 + delta * k for k in range(6)]]


@pytest.mark.parametrize("graph", GRAPHS)
def test_heavy_atoms_drop_hydrogens_everywhere(ethanol, graph):
    heavy = ethanol.atomic_numbers > 1
    g = RolloutWindows(ethanol, 2, 2, [6], graph, heavy_atoms=True, dtype=torch.float64)[0]
    assert g.num_nodes(keys.ATOM) == 3
    assert atom(g, keys.ATOMIC_NUMBERS).tolist() == [6, 6, 8]
    assert torch.equal(atom(g, keys.POS), torch.from_numpy(ethanol.positions[6][heavy]))
    assert torch.equal(atom(g, keys.VEL), torch.from_numpy(ethanol.velocities[6][heavy]))
    assert torch.equal(atom(g, keys.NEXT_POS), torch.from_numpy(ethanol.positions[8][heavy]))
    assert torch.equal(atom(g, keys.ROLLOUT_POS)[:, 1], torch.from_numpy(ethanol.positions[10][heavy]))
    assert torch.equal(atom(g, keys.NEXT_VEL), torch.from_numpy(ethanol.velocities[8][heavy]))
    for etype in (keys.BOND, keys.NEAR):
        src, dst = g.edges(etype=etype)
        assert all(int(i) < 3 for i in torch.cat([src, dst]))


def test_smiles_heavy_graph_is_the_heavy_molecule(ethanol):
    g = PairWindows(ethanol, 1, [0], heavy_atoms=True)[0]
    assert g.num_edges(keys.BOND) == 4  # C-C and C-O, both directions
    assert atom(g, keys.NUM_HS).tolist() == [3, 2, 1]


def test_forward_difference_velocities(ethanol):
    windows = PairWindows(ethanol, 5, [2, 53], velocity="forward_difference", dtype=torch.float64)
    assert windows.span == 6
    g = windows[0]
    expected = (ethanol.positions[3] - ethanol.positions[2]) / DT_FS
    assert torch.equal(atom(g, keys.VEL), torch.from_numpy(expected))
    expected_next = (ethanol.positions[8] - ethanol.positions[7]) / DT_FS
    assert torch.equal(atom(g, keys.NEXT_VEL), torch.from_numpy(expected_next))
    with pytest.raises(ConfigError, match="needs frames up to 60"):
        PairWindows(ethanol, 5, [54], velocity="forward_difference")


def test_batch_equals_dgl_batch_of_items(ethanol):
    periodic = drifting("CCO", cell=np.eye(3) * 6.0, pbc=np.ones(3, dtype=bool))
    cases = [(ethanol, g, heavy) for g in GRAPHS for heavy in (False, True)] + [(periodic, "radius", False)]
    for traj, graph, heavy in cases:
        windows = RolloutWindows(traj, 3, 2, [0, 9, 30, 50], graph, heavy_atoms=heavy, cutoff=None)
        picked = [3, 0, 2]
        assert_graphs_equal(windows.batch(picked), dgl.batch([windows[i] for i in picked]), batched=True)


def test_radius_graph_follows_each_frame():
    stretching = drifting("CCO")
    stretching.positions[:, 8] += np.linspace(0, 3, N_FRAMES)[:, None]  # the O-H hydrogen flies off
    windows = PairWindows(stretching, 1, [0, 58], "radius", cutoff=2.0)
    for i, start in enumerate([0, 58]):
        src, dst, _ = radius_edges(stretching.positions[start], 2.0)
        got = windows[i].edges(etype=keys.NEAR)
        assert got[0].tolist() == src.tolist() and got[1].tolist() == dst.tolist()
    assert windows[0].num_edges(keys.NEAR) != windows[1].num_edges(keys.NEAR)


def test_periodic_radius_graph_has_image_shifts():
    traj = drifting("CCO", cell=np.eye(3) * 4.0, pbc=np.ones(3, dtype=bool))
    g = PairWindows(traj, 1, [0], "radius", cutoff=3.0, dtype=torch.float64)[0]
    src, dst, shift = radius_edges(traj.positions[0], 3.0, traj.cell, traj.pbc)
    assert [e.tolist() for e in g.edges(etype=keys.NEAR)] == [src.tolist(), dst.tolist()]
    assert torch.equal(g.edges[keys.NEAR].data[keys.EDGE_SHIFT], torch.from_numpy(shift))
    assert g.nodes[keys.SYSTEM].data[keys.PBC].tolist() == [[True, True, True]]


def brute_force_md17(positions: np.ndarray, threshold: float = 1.6) -> dict[tuple[int, int], int]:
    """Every ordered pair of the benchmark graph with its hop count, by the dense definition."""
    n = len(positions)
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    near = (distance < threshold) & ~np.eye(n, dtype=bool)
    two = ((near.astype(int) @ near.astype(int)) > 0) & ~np.eye(n, dtype=bool)
    return {(i, j): 1 if near[i, j] else 2 for i in range(n) for j in range(n) if near[i, j] or two[i, j]}


@pytest.mark.parametrize("smiles", ["CCO", "CC(=O)Oc1ccccc1C(=O)O", "C1CC1C(=O)O", "c1ccc2ccccc2c1"])
def test_md17_edges_match_brute_force(smiles):
    numbers, positions = embedded(smiles)
    heavy = positions[numbers > 1]
    for frame in (heavy, positions):
        src, dst, hops = md17_edges(frame)
        assert {(int(i), int(j)): int(h) for i, j, h in zip(src, dst, hops, strict=True)} == brute_force_md17(frame)
        assert len(set(zip(src.tolist(), dst.tolist(), strict=True))) == len(src)  # one edge per pair


def test_md17_graph_uses_the_first_frame_as_near_edges():
    traj = drifting("CC(=O)Oc1ccccc1C(=O)O")
    traj.positions[1:] += np.random.default_rng(1).normal(scale=0.3, size=traj.positions[1:].shape)
    heavy = traj.positions[0][traj.atomic_numbers > 1]
    windows = PairWindows(traj, 2, [0, 40], "md17", heavy_atoms=True)
    expected = brute_force_md17(heavy)
    for g in (windows[0], windows[1]):  # fixed over the trajectory, as in the benchmark
        src, dst = g.edges(etype=keys.NEAR)
        hops = g.edges[keys.NEAR].data[keys.EDGE_HOPS]
        assert dict(zip(zip(src.tolist(), dst.tolist(), strict=True), hops.tolist(), strict=True)) == expected
        assert not g.edges[keys.NEAR].data[keys.EDGE_SHIFT].any()
        assert g.num_edges(keys.BOND) == 0


def test_data_loader_with_collate_graphs(ethanol):
    windows = PairWindows(ethanol, 2, np.arange(0, 50, 3), "md17", heavy_atoms=True)
    batches = list(DataLoader(windows, batch_size=4, collate_fn=collate_graphs))
    assert [b.num_graphs for b in batches] == [4, 4, 4, 4, 1]
    first = batches[0]
    assert isinstance(first, GraphTensors)
    assert first.atom[keys.NEXT_POS].shape == (12, 3)
    assert first.system[keys.DT].tolist() == [1.0] * 4


def test_window_loader_equals_collating_items(ethanol):
    windows = RolloutWindows(ethanol, 2, 3, np.arange(0, 50, 2), "smiles", cutoff=3.0)
    loader = window_loader(windows, 8, shuffle=True, seed=3)
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(3)).tolist()
    batches = list(loader)
    assert [b.num_graphs for b in batches] == [8, 8, 8, 1]
    for b, batch in enumerate(batches):
        expected = collate_graphs([windows[i] for i in order[8 * b : 8 * b + 8]])
        for name in ("atom", "near", "bond", "system"):
            got, want = getattr(batch, name), getattr(expected, name)
            assert got.keys() == want.keys()
            assert all(torch.equal(got[k], want[k]) for k in want), name
        assert torch.equal(batch.near_index, expected.near_index)
        assert torch.equal(batch.ring_incidence, expected.ring_incidence)
    assert [b.num_graphs for b in window_loader(windows, 8, drop_last=True)] == [8, 8, 8]


def test_windows_survive_pickling_for_worker_processes(ethanol):
    windows = PairWindows(ethanol, 2, [1, 2], "md17")
    copy = pickle.loads(pickle.dumps(windows))
    assert_graphs_equal(copy[1], windows[1])


def test_shared_topology_gives_the_same_graphs(ethanol):
    topology = smiles_topology(ethanol, heavy_atoms=True)
    shared = PairWindows(ethanol, 3, [5], topology, heavy_atoms=True)
    own = PairWindows(ethanol, 3, [5], "smiles", heavy_atoms=True)
    assert shared.topology is topology
    assert_graphs_equal(shared[0], own[0])
    with pytest.raises(ConfigError, match="heavy_atoms"):
        PairWindows(ethanol, 3, [5], topology)
    with pytest.raises(ConfigError, match="built for atoms"):
        PairWindows(drifting("CCN"), 3, [5], topology, heavy_atoms=True)


def test_graphs_do_not_share_memory(ethanol):
    windows = PairWindows(ethanol, 1, [0, 1])
    first = windows[0]
    atom(first, keys.NODE_ATTRS).zero_()
    assert atom(windows[1], keys.NODE_ATTRS).any()


def test_indexing_and_iteration(ethanol):
    windows = PairWindows(ethanol, 1, [4, 8])
    assert torch.equal(atom(windows[-1], keys.POS), atom(windows[1], keys.POS))
    assert len(list(windows)) == 2
    with pytest.raises(IndexError):
        windows[2]
    with pytest.raises(TypeError):
        windows[0.5]
    assert len(PairWindows(ethanol, 1, [])) == 0


# --- refusals ---------------------------------------------------------------------------------


def test_refuses_non_consecutive_trajectories(ethanol):
    subsample = ethanol.frames(np.array([0, 3, 9, 20]))  # rMD17-like: frames picked, not consecutive
    assert not subsample.consecutive
    with pytest.raises(TrajectoryFormatError, match="not consecutive"):
        PairWindows(subsample, 1, [0])
    unknown_step = Trajectory(ethanol.atomic_numbers, ethanol.positions, velocities=ethanol.velocities)
    with pytest.raises(TrajectoryFormatError, match="time step is unknown"):
        PairWindows(unknown_step, 1, [0])


def test_refuses_windows_past_the_end(ethanol):
    with pytest.raises(ConfigError, match=r"starting at frame 50 needs frames up to 60 .*60 frames \(0-59\); starts must be <= 49"):
        PairWindows(ethanol, 10, [0, 50, 55])
    with pytest.raises(ConfigError, match=r"needs frames up to 60 \(delta=10 x horizon=3\)"):
        RolloutWindows(ethanol, 10, 3, [30])
    with pytest.raises(ConfigError, match=">= 0"):
        PairWindows(ethanol, 1, [-1])
    with pytest.raises(ConfigError, match="whole frame numbers"):
        PairWindows(ethanol, 1, [1.5])


@pytest.mark.parametrize("delta", [0, -3, 1.5, True, "2"])
def test_refuses_bad_delta(ethanol, delta):
    with pytest.raises(ConfigError, match="delta must be a positive whole number"):
        PairWindows(ethanol, delta, [0])


def test_refuses_bad_horizon_and_options(ethanol):
    with pytest.raises(ConfigError, match="horizon"):
        RolloutWindows(ethanol, 1, 0, [0])
    with pytest.raises(ConfigError, match="graph must be one of"):
        PairWindows(ethanol, 1, [0], "bonds")
    with pytest.raises(ConfigError, match="cutoff must be None"):
        PairWindows(ethanol, 1, [0], "md17", cutoff=3.0)
    with pytest.raises(ConfigError, match="velocity must be one of"):
        PairWindows(ethanol, 1, [0], velocity="central")
    with pytest.raises(ConfigError, match="dtype"):
        PairWindows(ethanol, 1, [0], dtype=torch.float16)


def test_refuses_missing_velocities(ethanol):
    still = Trajectory(ethanol.atomic_numbers, ethanol.positions, dt_fs=DT_FS, metadata=ethanol.metadata)
    with pytest.raises(TrajectoryFormatError, match="no velocities.*forward_difference"):
        PairWindows(still, 1, [0])
    assert PairWindows(still, 1, [0], velocity="forward_difference")[0].num_nodes(keys.ATOM) == 9


def test_refuses_smiles_that_does_not_match_the_atoms(ethanol):
    wrong_order = Trajectory(
        ethanol.atomic_numbers, ethanol.positions, dt_fs=DT_FS, velocities=ethanol.velocities, metadata={"smiles": "OCC"}
    )
    with pytest.raises(TrajectoryFormatError, match="atom 0 is C in the trajectory but O in SMILES 'OCC'"):
        PairWindows(wrong_order, 1, [0])
    wrong_count = Trajectory(ethanol.atomic_numbers, ethanol.positions, dt_fs=DT_FS, metadata={"smiles": "CC"})
    with pytest.raises(TrajectoryFormatError, match="has 8 atoms"):
        smiles_topology(wrong_count)
    with pytest.raises(TrajectoryFormatError, match="no 'smiles'"):
        smiles_topology(Trajectory(ethanol.atomic_numbers, ethanol.positions, dt_fs=DT_FS))
    with pytest.raises(InvalidMoleculeError, match="C1CC"):
        smiles_topology(ethanol, smiles="C1CC")


def test_refuses_hydrogens_in_another_order(ethanol):
    swapped = ethanol.positions.copy()
    swapped[:, [3, 8]] = swapped[:, [8, 3]]  # a methyl H and the hydroxyl H trade places
    traj = Trajectory(ethanol.atomic_numbers, swapped, dt_fs=DT_FS, metadata={"smiles": "CCO"})
    with pytest.raises(TrajectoryFormatError, match=r"bond 0-3 \(C-H\) is .* long in the first frame"):
        smiles_topology(traj)
    assert smiles_topology(traj, bond_tolerance=None).num_atoms == 9


def test_explicit_hydrogens_in_the_smiles_keep_their_place():
    numbers, positions = embedded("CCO")
    order = [0, 1, 2, 8, 3, 4, 5, 6, 7]  # the hydroxyl H right after its O: "CCO[H]"
    traj = Trajectory(numbers[order], positions[order][None], dt_fs=DT_FS, metadata={"smiles": "CCO[H]"})
    topology = smiles_topology(traj)
    assert topology.template.atom_data[keys.ATOMIC_NUMBERS].tolist() == numbers[order].tolist()


def test_md17_topology_refuses_periodic_systems():
    traj = drifting("CCO", cell=np.eye(3) * 6.0, pbc=np.ones(3, dtype=bool))
    with pytest.raises(ConfigError, match="graph='radius'"):
        md17_topology(traj)
    assert radius_topology(traj, 3.0).cutoff == 3.0
