"""The fast graph builders equal DGL's public construction and dgl.batch, and their graphs behave."""

import pickle

import dgl
import dgl.function as fn
import numpy as np
import pytest
import torch
from rdkit import Chem

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.errors import GraphFormatError
from chemnoether.featurize import assemble, mol_to_graph, molecule_parts, smiles_to_graph
from chemnoether.featurize.assemble import (
    BatchParts,
    GraphParts,
    build_batched_graph,
    build_graph,
    build_graph_public,
)
from chemnoether.featurize.rdkit_graph import mol_to_parts
from chemnoether.testing import assert_graphs_equal

# off the DGL versions it was checked on, build_graph *is* build_graph_public: an equality test
# would compare a function with itself, so it is skipped (and says why) instead of passing
fast_path_only = pytest.mark.skipif(
    not assemble._FAST_PATH, reason=f"DGL {dgl.__version__}: the fast graph builder is off, nothing to compare"
)

SMILES = ["CCO", "c1ccc2ccccc2c1", "CC(=O)Oc1ccccc1C(=O)O", "[Na+].CC(=O)[O-]", "C12C3C4C1C5C2C3C45", "[CH3]"]


def parts_of(smiles_list, **options):
    return [mol_to_parts(Chem.MolFromSmiles(s), **options) for s in smiles_list]


OPTIONS = [
    {},
    {"explicit_hydrogens": True},
    {"positions": "embed", "cutoff": 2.5},
    {"rings": False, "subgraphs": ()},
]


@fast_path_only
@pytest.mark.parametrize("options", OPTIONS, ids=["default", "explicit_h", "3d", "bare"])
def test_build_graph_equals_the_public_construction(options):
    for parts in parts_of(SMILES, **options):
        assert_graphs_equal(build_graph(parts), build_graph_public(parts))


@fast_path_only
def test_build_graph_accepts_tensors_and_empty_parts():
    parts = molecule_parts(Chem.MolFromSmiles("c1ccccc1O"))
    as_tensors = GraphParts(
        num_atoms=parts.num_atoms,
        bonds=tuple(torch.as_tensor(x) for x in parts.bonds),
        ring_incidence=tuple(torch.as_tensor(x) for x in parts.ring_incidence),
        num_rings=parts.num_rings,
        atom_data={k: torch.as_tensor(v) for k, v in parts.atom_data.items()},
    )
    assert_graphs_equal(build_graph(as_tensors), build_graph_public(as_tensors))
    empty = GraphParts(num_atoms=0)
    assert_graphs_equal(build_graph(empty), build_graph_public(empty))
    assert build_graph(empty).num_nodes(keys.SYSTEM) == 1


@fast_path_only
@pytest.mark.parametrize("options", OPTIONS, ids=["default", "explicit_h", "3d", "bare"])
def test_batched_graph_equals_dgl_batch(options):
    parts = parts_of(SMILES, **options)
    expected = dgl.batch([build_graph_public(p) for p in parts])
    got = build_batched_graph(parts)
    assert_graphs_equal(got, expected, batched=True)
    assert_graphs_equal(build_batched_graph(BatchParts.from_graph_parts(parts)), expected, batched=True)
    for graph, part in zip(dgl.unbatch(got), parts):
        assert_graphs_equal(graph, build_graph_public(part))


@fast_path_only
def test_the_fast_path_does_not_go_through_the_public_one(monkeypatch):
    # so that the equality tests above compare two constructions, not one with itself
    def refuse(parts):
        raise AssertionError("build_graph_public called")

    monkeypatch.setattr(assemble, "build_graph_public", refuse)
    parts = parts_of(["CCO", "c1ccccc1O"])
    assert build_graph(parts[0]).num_nodes(keys.ATOM) == 3
    assert build_batched_graph(parts).batch_size == 2


def test_batched_incidence_is_offset_per_graph():
    parts = parts_of(["c1ccc2ccccc2c1", "CCO", "C1CC1"])
    graph = build_batched_graph(parts)
    atoms, rings = graph.edges(etype=keys.IN_RING)
    # naphthalene: atoms 0-9, rings 0-1; ethanol: atoms 10-12, no ring; cyclopropane: atoms 13-15, ring 2
    assert graph.batch_num_nodes(keys.RING).tolist() == [2, 0, 1]
    assert atoms[rings == 2].tolist() == [13, 14, 15]
    assert set(atoms[rings < 2].tolist()) == set(range(10))
    atoms, subs = graph.edges(etype=keys.IN_SUBGRAPH)
    counts = graph.batch_num_nodes(keys.SUBGRAPH).tolist()
    bounds = np.cumsum([0] + graph.batch_num_nodes(keys.ATOM).tolist())
    sub_bounds = np.cumsum([0] + counts)
    for g in range(3):
        inside = (subs >= int(sub_bounds[g])) & (subs < int(sub_bounds[g + 1]))
        assert ((atoms[inside] >= int(bounds[g])) & (atoms[inside] < int(bounds[g + 1]))).all()


def test_batch_parts_round_trip_and_concat():
    parts = parts_of(SMILES, positions="embed", cutoff=2.5)
    batch = BatchParts.from_graph_parts(parts)
    assert len(batch) == len(parts)
    for g, original in enumerate(parts):
        back = batch.graph_parts(g)
        assert back.num_nodes() == original.num_nodes()
        for name in ("bonds", "near", "ring_incidence", "subgraph_incidence"):
            for x, y in zip(getattr(back, name), getattr(original, name)):
                np.testing.assert_array_equal(x, y)
        for name in ("atom_data", "bond_data", "near_data", "ring_data", "subgraph_data", "system_data"):
            ours, theirs = getattr(back, name), getattr(original, name)
            assert ours.keys() == theirs.keys(), name
            for k in ours:
                np.testing.assert_array_equal(ours[k], theirs[k])
    halves = BatchParts.concat([BatchParts.from_graph_parts(parts[:2]), BatchParts.from_graph_parts(parts[2:])])
    assert len(halves) == len(parts)
    assert_graphs_equal(build_batched_graph(halves), build_batched_graph(batch), batched=True)
    assert BatchParts.concat([batch]) is batch


def test_empty_and_mismatched_batches_are_refused():
    with pytest.raises(GraphFormatError):
        BatchParts.from_graph_parts([])
    with pytest.raises(GraphFormatError):
        BatchParts.concat([])
    flat = mol_to_parts(Chem.MolFromSmiles("CCO"))
    spatial = mol_to_parts(Chem.MolFromSmiles("CCO"), positions="embed")
    with pytest.raises(GraphFormatError, match="pos"):
        build_batched_graph([flat, spatial])
    with pytest.raises(GraphFormatError, match="graph 1"):
        BatchParts.concat([BatchParts.from_graph_parts([flat]), BatchParts.from_graph_parts([spatial])])


@fast_path_only
def test_fast_graphs_pass_messages_like_public_ones():
    parts = molecule_parts(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    results = []
    for graph in (build_graph(parts), build_graph_public(parts)):
        graph.nodes[keys.ATOM].data["z"] = graph.nodes[keys.ATOM].data[keys.ATOMIC_NUMBERS].float()
        graph.update_all(fn.copy_u("z", "m"), fn.sum("m", "ring_z"), etype=keys.IN_RING)
        graph.update_all(fn.copy_u("z", "m"), fn.sum("m", "nbr_z"), etype=keys.BOND)
        results.append(
            (
                graph.nodes[keys.RING].data["ring_z"],
                graph.nodes[keys.ATOM].data["nbr_z"],
                graph.in_degrees(etype=keys.BOND),
                graph.out_degrees(etype=keys.IN_SUBGRAPH),
            )
        )
    for x, y in zip(*results):
        assert torch.equal(x, y)
    assert results[0][0].tolist() == [36.0]  # six ring carbons


def test_graphs_do_not_share_schema_state():
    first = smiles_to_graph("CCO")
    first.nodes[keys.ATOM].data["extra"] = torch.zeros(3)
    first.edges[keys.BOND].data["extra"] = torch.zeros(4)
    second = smiles_to_graph("CCO")
    assert "extra" not in second.nodes[keys.ATOM].data
    assert "extra" not in second.edges[keys.BOND].data
    assert second.ntypes == list(keys.NODE_TYPES)


def _saved_and_loaded(graphs, path):
    dgl.save_graphs(str(path), graphs)
    loaded, _ = dgl.load_graphs(str(path))
    return loaded


def test_graphs_survive_pickle_and_save_load(tmp_path):
    single = smiles_to_graph("c1ccccc1O", positions="embed", cutoff=3.0)
    batched = build_batched_graph(parts_of(["CCO", "c1ccccc1O"]))
    for graph in (single, batched):
        assert_graphs_equal(pickle.loads(pickle.dumps(graph)), graph, batched=True)
    # dgl.save_graphs keeps the data but not the batch structure, so save the members
    members = [single, *dgl.unbatch(batched)]
    for got, expected in zip(_saved_and_loaded(members, tmp_path / "graphs.bin"), members):
        aromatic = got.nodes[keys.RING].data[keys.RING_AROMATIC]
        assert aromatic.tolist() == expected.nodes[keys.RING].data[keys.RING_AROMATIC].int().tolist()
        got.nodes[keys.RING].data[keys.RING_AROMATIC] = aromatic.bool()  # plain DGL files keep bool as uint8
        assert_graphs_equal(got, expected)


def test_chemnoether_io_restores_bool_fields_that_dgl_files_store_as_uint8(tmp_path):
    from chemnoether.featurize import featurize_smiles
    from chemnoether.featurize.io import load_graphs, save_graphs

    path = save_graphs(tmp_path / "graph.bin", featurize_smiles(["c1ccccc1O", "CCO"]))
    loaded = load_graphs(path).batched()
    assert loaded.nodes[keys.RING].data[keys.RING_AROMATIC].dtype == torch.bool
    # and so a reloaded graph batches with a fresh one
    assert dgl.batch([load_graphs(path).graphs[0], smiles_to_graph("c1ccccc1")]).batch_size == 2


def test_single_graph_reports_batch_of_one():
    graph = mol_to_graph(Chem.MolFromSmiles("CCO"))
    assert graph.batch_size == 1
    assert graph.batch_num_nodes(keys.ATOM).tolist() == [3]
    assert graph.batch_num_edges(keys.BOND).tolist() == [4]
