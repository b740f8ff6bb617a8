"""Assertions for tests of code that makes or transforms chemnoether graphs (shipped for reuse)."""

from __future__ import annotations

import dgl
import torch


def assert_graphs_equal(a: dgl.DGLGraph, b: dgl.DGLGraph, batched: bool = False) -> None:
    """Same types, node and edge counts, edges, and every data tensor (dtype and values).

    ``batched=True`` also compares the per-graph node and edge counts of a batch.
    """
    assert a.ntypes == b.ntypes and a.canonical_etypes == b.canonical_etypes
    assert a.idtype == b.idtype and a.device == b.device
    assert a.batch_size == b.batch_size
    for ntype in a.ntypes:
        assert a.num_nodes(ntype) == b.num_nodes(ntype), ntype
        _assert_same_data(a.nodes[ntype].data, b.nodes[ntype].data, ntype)
        if batched:
            assert torch.equal(a.batch_num_nodes(ntype), b.batch_num_nodes(ntype)), ntype
    for etype in a.canonical_etypes:
        assert a.num_edges(etype) == b.num_edges(etype), etype
        for x, y in zip(a.edges(etype=etype), b.edges(etype=etype), strict=True):
            assert torch.equal(x, y), etype
        _assert_same_data(a.edges[etype].data, b.edges[etype].data, etype)
        if batched:
            assert torch.equal(a.batch_num_edges(etype), b.batch_num_edges(etype)), etype


def _assert_same_data(x, y, where) -> None:
    assert set(x) == set(y), (where, sorted(x), sorted(y))
    for name, value in x.items():
        other = y[name]
        assert value.dtype == other.dtype and torch.equal(value, other), (where, name)
