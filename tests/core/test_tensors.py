import dgl
import pytest
import torch
from ase.build import bulk, molecule
from torch.utils.data import DataLoader

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.data import (
    GraphTensors,
    collate_graphs,
    edge_vectors,
    pool_atoms,
    pool_incidence,
)
from chemnoether.errors import ConfigError, GraphFormatError
from chemnoether.featurize.ase_graph import atoms_to_graph
from chemnoether.featurize.rdkit_graph import smiles_to_graph

NAPHTHALENE = "c1ccc2ccccc2c1"
# rings: naphthalene 2, ethanol 0, phenol 1, cyclopropanecarboxylic acid 1
SMILES = [NAPHTHALENE, "CCO", "Oc1ccccc1", "OC(=O)C1CC1"]
CUTOFF = 3.0


@pytest.fixture(scope="module")
def graphs():
    return [smiles_to_graph(s, positions="embed", cutoff=CUTOFF) for s in SMILES]


def _tensor_fields(batch: GraphTensors) -> dict[str, torch.Tensor]:
    """Every tensor of a batch by a flat name, for whole-batch comparisons."""
    flat = {}
    for name, value in vars(batch).items():
        if isinstance(value, torch.Tensor):
            flat[name] = value
        elif isinstance(value, dict):
            flat.update({f"{name}.{key}": tensor for key, tensor in value.items()})
    return flat


def assert_same_batch(actual: GraphTensors, expected: GraphTensors) -> None:
    assert actual.num_graphs == expected.num_graphs
    actual_fields, expected_fields = _tensor_fields(actual), _tensor_fields(expected)
    assert actual_fields.keys() == expected_fields.keys()
    for name, tensor in expected_fields.items():
        assert actual_fields[name].dtype == tensor.dtype, name
        torch.testing.assert_close(actual_fields[name], tensor, rtol=0, atol=0, msg=name)


def test_list_and_dgl_batch_give_equal_tensors(graphs):
    assert_same_batch(GraphTensors.from_graph(graphs), GraphTensors.from_graph(dgl.batch(graphs)))


def test_single_graph_carries_every_field(graphs):
    batch = GraphTensors.from_graph(graphs[0])
    graph = graphs[0]
    assert batch.num_graphs == 1
    assert batch.num_atoms.tolist() == [10] and batch.atom_graph.tolist() == [0] * 10
    assert set(batch.atom) == set(graph.nodes[keys.ATOM].data.keys())
    assert {keys.POS, keys.ATOMIC_NUMBERS, keys.NODE_ATTRS, keys.MASSES, keys.FORMAL_CHARGE} <= set(batch.atom)
    assert set(batch.bond) == {keys.EDGE_ATTRS, keys.BOND_ORDER}
    assert set(batch.near) == {keys.EDGE_SHIFT}
    assert batch.bond_index.shape == (2, graph.num_edges(keys.BOND))
    assert batch.near_index.shape == (2, graph.num_edges(keys.NEAR))
    assert batch.ring[keys.RING_SIZE].tolist() == [6, 6]
    assert batch.subgraph_graph.shape == (graph.num_nodes(keys.SUBGRAPH),)
    assert batch.system[keys.TOTAL_CHARGE].shape == (1,)
    for index in (batch.bond_index, batch.near_index, batch.ring_incidence, batch.subgraph_incidence):
        assert index.dtype == torch.int64


def test_ids_are_global_after_batching(graphs):
    batch = GraphTensors.from_graph(graphs)
    singles = [GraphTensors.from_graph(g) for g in graphs]
    atoms = torch.tensor([s.num_atoms.item() for s in singles])
    rings = torch.tensor([s.num_rings.item() for s in singles])
    subgraphs = torch.tensor([s.num_subgraphs.item() for s in singles])
    assert batch.num_atoms.tolist() == atoms.tolist()
    assert batch.num_rings.tolist() == [2, 0, 1, 1] == rings.tolist()
    atom_offset = torch.cumsum(atoms, 0) - atoms
    ring_offset = torch.cumsum(rings, 0) - rings
    subgraph_offset = torch.cumsum(subgraphs, 0) - subgraphs

    def expected(name, src_offsets, dst_offsets):
        shifted = [
            getattr(s, name) + torch.stack([src_offsets[b], dst_offsets[b]]).view(2, 1) for b, s in enumerate(singles)
        ]
        return torch.cat(shifted, dim=1)

    assert torch.equal(batch.bond_index, expected("bond_index", atom_offset, atom_offset))
    assert torch.equal(batch.near_index, expected("near_index", atom_offset, atom_offset))
    assert torch.equal(batch.ring_incidence, expected("ring_incidence", atom_offset, ring_offset))
    assert torch.equal(batch.subgraph_incidence, expected("subgraph_incidence", atom_offset, subgraph_offset))
    # spelled out for graph 2 (phenol): its ring follows naphthalene's two and ethanol's none
    in_phenol = batch.atom_graph[batch.ring_incidence[0]] == 2
    assert batch.ring_incidence[1][in_phenol].unique().tolist() == [2]
    assert batch.ring_graph.tolist() == [0, 0, 2, 3]
    assert batch.atom_graph.tolist() == sum(([b] * int(n) for b, n in enumerate(atoms)), [])
    assert torch.equal(batch.subgraph_graph, torch.repeat_interleave(torch.arange(4), subgraphs))


def test_ring_pooling_on_naphthalene_counts_fused_atoms_in_both_rings(graphs):
    batch = GraphTensors.from_graph([graphs[0], graphs[0]])
    # c1ccc2ccccc2c1: atoms 3 and 8 are the fused pair, in both rings
    ring_atoms = [
        sorted(batch.ring_incidence[0][batch.ring_incidence[1] == r].tolist()) for r in range(4)
    ]
    assert ring_atoms == [[0, 1, 2, 3, 8, 9], [3, 4, 5, 6, 7, 8], [10, 11, 12, 13, 18, 19], [13, 14, 15, 16, 17, 18]]
    values = torch.arange(1.0, 21.0)  # atom i holds i + 1
    sums = pool_incidence(values, batch.ring_incidence, 4, reduce="sum")
    means = pool_incidence(values, batch.ring_incidence, 4, reduce="mean")
    hand_sums = [
        1 + 2 + 3 + 4 + 9 + 10,
        4 + 5 + 6 + 7 + 8 + 9,
        11 + 12 + 13 + 14 + 19 + 20,
        14 + 15 + 16 + 17 + 18 + 19,
    ]
    assert sums.tolist() == hand_sums
    torch.testing.assert_close(means, torch.tensor(hand_sums) / 6.0)
    # per-atom vectors pool row by row
    vectors = torch.stack([values, -values], dim=1)
    assert pool_incidence(vectors, batch.ring_incidence, 4).tolist() == [[s, -s] for s in hand_sums]


def test_pool_atoms_per_graph(graphs):
    batch = GraphTensors.from_graph(graphs)
    masses = batch.atom[keys.MASSES]
    totals = pool_atoms(masses, batch.atom_graph, batch.num_graphs, reduce="sum")
    expected = torch.stack([g.nodes[keys.ATOM].data[keys.MASSES].sum() for g in graphs])
    torch.testing.assert_close(totals, expected)
    centres = pool_atoms(batch.atom[keys.POS], batch.atom_graph, batch.num_graphs, reduce="mean")
    torch.testing.assert_close(centres, torch.stack([g.nodes[keys.ATOM].data[keys.POS].mean(0) for g in graphs]))


def test_bond_vectors_match_positions(graphs):
    batch = GraphTensors.from_graph(graphs)
    pos = batch.atom[keys.POS]
    vectors = edge_vectors(pos, batch.bond_index)
    src, dst = batch.bond_index
    torch.testing.assert_close(vectors, pos[dst] - pos[src])
    lengths = edge_vectors(pos, batch.near_index, batch.near[keys.EDGE_SHIFT]).norm(dim=1)
    assert bool((lengths < CUTOFF).all())


def test_float64_casts_floating_fields_only(graphs):
    original = GraphTensors.from_graph(graphs)
    batch = GraphTensors.from_graph(graphs, dtype=torch.float64)
    for name, tensor in _tensor_fields(batch).items():
        before = _tensor_fields(original)[name]
        if before.is_floating_point():
            assert tensor.dtype == torch.float64, name
            torch.testing.assert_close(tensor, before.double(), msg=name)
        else:
            assert tensor.dtype == before.dtype, name
            assert torch.equal(tensor, before), name
    assert batch.atom[keys.ATOMIC_NUMBERS].dtype == torch.int64


def test_periodic_system_fields_stack_one_row_per_graph():
    water = molecule("H2O")
    water.info["energy"] = -14.2
    copper = bulk("Cu", cubic=True)
    copper.info["energy"] = -3.5
    batch = GraphTensors.from_graph([atoms_to_graph(water, CUTOFF), atoms_to_graph(copper, CUTOFF)])
    assert batch.system[keys.CELL].shape == (2, 3, 3)
    assert batch.system[keys.PBC].tolist() == [[False] * 3, [True] * 3]
    torch.testing.assert_close(batch.system[keys.ENERGY], torch.tensor([-14.2, -3.5]))
    torch.testing.assert_close(batch.system[keys.CELL][1], torch.tensor(copper.cell.array, dtype=torch.float32))
    shifted = batch.near[keys.EDGE_SHIFT].abs().sum(dim=1) > 0
    assert bool(shifted.any()) and not bool(shifted[batch.atom_graph[batch.near_index[0]] == 0].any())
    lengths = edge_vectors(batch.atom[keys.POS], batch.near_index, batch.near[keys.EDGE_SHIFT]).norm(dim=1)
    assert bool((lengths < CUTOFF).all())


def test_to_cpu_keeps_everything(graphs):
    batch = GraphTensors.from_graph(graphs)
    moved = batch.to("cpu")
    assert moved.device == torch.device("cpu")
    assert_same_batch(moved, batch)
    assert_same_batch(GraphTensors.from_graph(graphs, device="cpu"), batch)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_moves_to_cuda_and_pools_there(graphs):
    batch = GraphTensors.from_graph(graphs)
    on_gpu = GraphTensors.from_graph(graphs, device="cuda", dtype=torch.float64, non_blocking=True)
    assert all(t.is_cuda for t in _tensor_fields(on_gpu).values())
    pinned = batch.pin_memory()
    assert all(t.is_pinned() for t in _tensor_fields(pinned).values())
    assert_same_batch(pinned.to("cuda", non_blocking=True).to("cpu"), batch)
    sums = pool_incidence(on_gpu.atom[keys.MASSES], on_gpu.ring_incidence, int(on_gpu.num_rings.sum()))
    expected = pool_incidence(batch.atom[keys.MASSES].double(), batch.ring_incidence, int(batch.num_rings.sum()))
    torch.testing.assert_close(sums.cpu(), expected)


def test_dataloader_with_collate_graphs(graphs):
    loader = DataLoader(graphs, batch_size=2, shuffle=False, collate_fn=collate_graphs)
    batches = list(loader)
    assert [b.num_graphs for b in batches] == [2, 2]
    assert_same_batch(batches[1], GraphTensors.from_graph(graphs[2:]))


def test_dgl_bookkeeping_fields_and_int32_ids(graphs):
    sub = dgl.node_subgraph(graphs[0], {keys.ATOM: [0, 1, 2], keys.RING: [], keys.SUBGRAPH: [], keys.SYSTEM: [0]})
    batch = GraphTensors.from_graph(sub)
    assert dgl.NID not in batch.atom and dgl.EID not in batch.bond
    narrow = GraphTensors.from_graph(graphs[0].int())
    assert narrow.bond_index.dtype == torch.int64
    assert torch.equal(narrow.bond_index, GraphTensors.from_graph(graphs[0]).bond_index)


def test_plain_graph_is_refused_with_a_way_out():
    with pytest.raises(GraphFormatError, match=r"missing node types \['atom', 'ring', 'subgraph', 'system'\]") as info:
        GraphTensors.from_graph(dgl.graph(([0, 1], [1, 0])))
    assert "smiles_to_graph" in str(info.value) and "atoms_to_graph" in str(info.value)


def test_refusals_name_the_offending_input(graphs):
    bare = smiles_to_graph("CCO")  # no positions, no near graph data
    with pytest.raises(GraphFormatError, match=r"graph 1 .*lack \['pos'\]"):
        GraphTensors.from_graph([graphs[0], bare])
    with pytest.raises(GraphFormatError, match="graph 1 lacks the chemnoether schema"):
        GraphTensors.from_graph([graphs[0], dgl.graph(([0], [1]))])
    with pytest.raises(GraphFormatError, match="graph 0 is a str"):
        collate_graphs(["CCO"])
    with pytest.raises(GraphFormatError, match="empty list"):
        collate_graphs([])
    with pytest.raises(GraphFormatError, match="got str"):
        GraphTensors.from_graph("CCO")
    two_systems = dgl.heterograph(
        {etype: ([], []) for etype in keys.EDGE_TYPES},
        num_nodes_dict={keys.ATOM: 1, keys.RING: 0, keys.SUBGRAPH: 0, keys.SYSTEM: 2},
    )
    with pytest.raises(GraphFormatError, match="exactly one 'system' node"):
        GraphTensors.from_graph(two_systems)
    with pytest.raises(ConfigError, match="floating torch dtype"):
        GraphTensors.from_graph(graphs, dtype=torch.int64)


def test_graphs_with_same_fields_but_other_dtype_are_refused(graphs):
    double = smiles_to_graph("CCO", positions="embed", cutoff=CUTOFF, dtype=torch.float64)
    with pytest.raises(GraphFormatError, match="same options and dtype"):
        GraphTensors.from_graph([graphs[1], double])
