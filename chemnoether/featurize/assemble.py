"""Assemble chemnoether heterographs (schema in ``chemnoether.keys``) from index arrays.

``dgl.heterograph`` spends most of its time on a small molecule on Python bookkeeping that is the
same for every graph of our fixed schema (canonical edge types, metagraph, frames). Two remedies
(measured in ``benchmarks/README.md``, "Featurizer throughput"):

* ``build_graph`` builds the relation indices directly and reuses the bookkeeping of one template
  graph, as DGL's own unpickling restores a graph from its ``__dict__``;
* ``build_batched_graph`` concatenates the arrays of many molecules and builds one batched graph,
  so the per-graph DGL cost disappears altogether; it is what the batch featurizers return.

Both are checked against ``dgl.heterograph`` + ``dgl.batch`` in the tests, and the public path is
used whenever the DGL in use is not the 2.1 series this was written against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dgl
import numpy as np
import torch
from dgl import heterograph_index
from dgl.frame import Frame

from chemnoether import keys
from chemnoether.errors import GraphFormatError

_FORMATS = ["coo", "csr", "csc"]
_FAST_PATH = dgl.__version__.startswith("2.1.")
_EMPTY = np.zeros(0, dtype=np.int64)

Array = np.ndarray | torch.Tensor


@dataclass
class GraphParts:
    """Index arrays and data of one graph (numpy arrays or tensors); ids are local to the graph."""

    num_atoms: int
    bonds: tuple[Array, Array] | None = None  # directed (src, dst)
    near: tuple[Array, Array] | None = None
    ring_incidence: tuple[Array, Array] | None = None  # (atom, ring)
    num_rings: int = 0
    subgraph_incidence: tuple[Array, Array] | None = None  # (atom, subgraph)
    num_subgraphs: int = 0
    atom_data: dict[str, Array] = field(default_factory=dict)
    bond_data: dict[str, Array] = field(default_factory=dict)
    near_data: dict[str, Array] = field(default_factory=dict)
    ring_data: dict[str, Array] = field(default_factory=dict)
    subgraph_data: dict[str, Array] = field(default_factory=dict)
    system_data: dict[str, Array] = field(default_factory=dict)

    def copy(self) -> GraphParts:
        """A deep copy: graphs built from it share no memory with this one."""
        def arrays(d):
            return {k: _copy(v) for k, v in d.items()}

        def pair(p):
            return None if p is None else (_copy(p[0]), _copy(p[1]))

        return GraphParts(
            num_atoms=self.num_atoms,
            bonds=pair(self.bonds),
            near=pair(self.near),
            ring_incidence=pair(self.ring_incidence),
            num_rings=self.num_rings,
            subgraph_incidence=pair(self.subgraph_incidence),
            num_subgraphs=self.num_subgraphs,
            atom_data=arrays(self.atom_data),
            bond_data=arrays(self.bond_data),
            near_data=arrays(self.near_data),
            ring_data=arrays(self.ring_data),
            subgraph_data=arrays(self.subgraph_data),
            system_data=arrays(self.system_data),
        )

    def num_nodes(self) -> dict[str, int]:
        return {keys.ATOM: self.num_atoms, keys.RING: self.num_rings, keys.SUBGRAPH: self.num_subgraphs, keys.SYSTEM: 1}

    def relations(self) -> dict[tuple[str, str, str], tuple[Array, Array]]:
        empty = (_EMPTY, _EMPTY)
        return {
            keys.BOND: self.bonds or empty,
            keys.NEAR: self.near or empty,
            keys.IN_RING: self.ring_incidence or empty,
            keys.IN_SUBGRAPH: self.subgraph_incidence or empty,
        }

    def node_data(self) -> dict[str, dict[str, Array]]:
        return {keys.ATOM: self.atom_data, keys.RING: self.ring_data, keys.SUBGRAPH: self.subgraph_data, keys.SYSTEM: self.system_data}

    def edge_data(self) -> dict[tuple[str, str, str], dict[str, Array]]:
        return {keys.BOND: self.bond_data, keys.NEAR: self.near_data, keys.IN_RING: {}, keys.IN_SUBGRAPH: {}}


def _copy(value: Array) -> Array:
    return value.clone() if isinstance(value, torch.Tensor) else np.array(value, copy=True)


def _tensor(value: Array) -> torch.Tensor:
    return torch.from_numpy(value) if isinstance(value, np.ndarray) else torch.as_tensor(value)


def _index(value: Array) -> torch.Tensor:
    return _tensor(np.asarray(value, dtype=np.int64) if not isinstance(value, torch.Tensor) else value.long())


def build_graph_public(parts: GraphParts) -> dgl.DGLGraph:
    """Reference construction through DGL's public API (slow, always correct)."""
    relations = {etype: (_index(s), _index(d)) for etype, (s, d) in parts.relations().items()}
    graph = dgl.heterograph(relations, num_nodes_dict=parts.num_nodes())
    for ntype, data in parts.node_data().items():
        for name, value in data.items():
            graph.nodes[ntype].data[name] = _tensor(value)
    for etype, data in parts.edge_data().items():
        for name, value in data.items():
            graph.edges[etype].data[name] = _tensor(value)
    return graph


class _Template:
    """The per-schema bookkeeping of a DGLGraph, computed once."""

    def __init__(self):
        graph = build_graph_public(GraphParts(num_atoms=0))
        per_graph = ("_graph", "_node_frames", "_edge_frames", "_batch_num_nodes", "_batch_num_edges")
        self.state = {k: v for k, v in graph.__dict__.items() if k not in per_graph}
        self.ntypes = list(graph.ntypes)
        self.canonical_etypes = list(graph.canonical_etypes)
        self.metagraph = graph._graph.metagraph


_template: _Template | None = None


def _get_template() -> _Template:
    global _template
    if _template is None:
        _template = _Template()
    return _template


def _assemble(
    relations: dict[tuple[str, str, str], tuple[torch.Tensor, torch.Tensor]],
    num_nodes: dict[str, int],
    node_data: dict[str, dict[str, torch.Tensor]],
    edge_data: dict[tuple[str, str, str], dict[str, torch.Tensor]],
) -> dgl.DGLGraph:
    tpl = _get_template()
    rel_indices = []
    for etype in tpl.canonical_etypes:
        src_type, _, dst_type = etype
        src, dst = relations[etype]
        rel_indices.append(
            heterograph_index.create_unitgraph_from_coo(
                1 if src_type == dst_type else 2, num_nodes[src_type], num_nodes[dst_type], src, dst, _FORMATS
            )
        )
    counts = dgl.utils.toindex([num_nodes[t] for t in tpl.ntypes], "int64")
    gidx = heterograph_index.create_heterograph_from_relations(tpl.metagraph, rel_indices, counts)
    graph = dgl.DGLGraph.__new__(dgl.DGLGraph)
    graph.__dict__.update(tpl.state)
    graph._graph = gidx
    graph._node_frames = [Frame(node_data[t] or None, num_rows=num_nodes[t]) for t in tpl.ntypes]
    graph._edge_frames = [
        Frame(edge_data[etype] or None, num_rows=len(relations[etype][0])) for etype in tpl.canonical_etypes
    ]
    graph._batch_num_nodes = None
    graph._batch_num_edges = None
    return graph


def build_graph(parts: GraphParts) -> dgl.DGLGraph:
    """The heterograph of one ``GraphParts``; equal to ``build_graph_public``, several times faster."""
    if not _FAST_PATH:
        return build_graph_public(parts)
    relations = {etype: (_index(s), _index(d)) for etype, (s, d) in parts.relations().items()}
    node_data = {t: {k: _tensor(v) for k, v in d.items()} for t, d in parts.node_data().items()}
    edge_data = {t: {k: _tensor(v) for k, v in d.items()} for t, d in parts.edge_data().items()}
    return _assemble(relations, parts.num_nodes(), node_data, edge_data)


def _concat(values: list[Array]) -> Array:
    if all(isinstance(v, np.ndarray) for v in values):
        return np.concatenate(values)
    return torch.cat([_tensor(v) for v in values])


def _concat_data(dicts: list[dict[str, Array]], where: str) -> dict[str, Array]:
    names = dicts[0].keys()
    for i, d in enumerate(dicts):
        if d.keys() != names:
            raise GraphFormatError(
                f"cannot batch graphs with different {where} keys: graph 0 has {sorted(names)}, "
                f"graph {i} has {sorted(d.keys())}; featurize them with the same options"
            )
    return {name: _concat([d[name] for d in dicts]) for name in names}


def _exclusive_cumsum(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


@dataclass
class BatchParts:
    """The parts of several graphs, concatenated: ids are global within the batch.

    ``node_counts[ntype][g]`` and ``edge_counts[etype][g]`` say how many rows of each array belong
    to graph ``g``. Featurizers produce this directly, so a batch is built without ever making the
    per-molecule arrays; ``graph_parts(g)`` slices one graph back out.
    """

    node_counts: dict[str, np.ndarray]
    edge_counts: dict[tuple[str, str, str], np.ndarray]
    relations: dict[tuple[str, str, str], tuple[Array, Array]]
    node_data: dict[str, dict[str, Array]]
    edge_data: dict[tuple[str, str, str], dict[str, Array]]

    def __len__(self) -> int:
        return len(self.node_counts[keys.SYSTEM])

    @classmethod
    def from_graph_parts(cls, parts_list: Sequence[GraphParts]) -> BatchParts:
        if not parts_list:
            raise GraphFormatError("cannot batch an empty list of graphs")
        node_counts = {t: np.array([p.num_nodes()[t] for p in parts_list], dtype=np.int64) for t in keys.NODE_TYPES}
        offsets = {t: _exclusive_cumsum(c) for t, c in node_counts.items()}
        relations, edge_counts = {}, {}
        for etype in keys.EDGE_TYPES:
            src_type, _, dst_type = etype
            pairs = [p.relations()[etype] for p in parts_list]
            sizes = np.array([len(s) for s, _ in pairs], dtype=np.int64)
            src = np.concatenate([np.asarray(s, dtype=np.int64) for s, _ in pairs])
            dst = np.concatenate([np.asarray(d, dtype=np.int64) for _, d in pairs])
            relations[etype] = (src + np.repeat(offsets[src_type], sizes), dst + np.repeat(offsets[dst_type], sizes))
            edge_counts[etype] = sizes
        node_data = {t: _concat_data([p.node_data()[t] for p in parts_list], f"{t} node") for t in keys.NODE_TYPES}
        edge_data = {e: _concat_data([p.edge_data()[e] for p in parts_list], f"{e[1]} edge") for e in keys.EDGE_TYPES}
        return cls(node_counts, edge_counts, relations, node_data, edge_data)

    @classmethod
    def concat(cls, batches: Sequence[BatchParts]) -> BatchParts:
        """One batch of all graphs of ``batches``, in order."""
        if not batches:
            raise GraphFormatError("cannot concatenate an empty list of batches")
        if len(batches) == 1:
            return batches[0]
        totals = {t: np.array([int(b.node_counts[t].sum()) for b in batches], dtype=np.int64) for t in keys.NODE_TYPES}
        offsets = {t: _exclusive_cumsum(c) for t, c in totals.items()}
        relations = {}
        for etype in keys.EDGE_TYPES:
            src_type, _, dst_type = etype
            src = [np.asarray(b.relations[etype][0]) + offsets[src_type][i] for i, b in enumerate(batches)]
            dst = [np.asarray(b.relations[etype][1]) + offsets[dst_type][i] for i, b in enumerate(batches)]
            relations[etype] = (np.concatenate(src), np.concatenate(dst))
        return cls(
            node_counts={t: np.concatenate([b.node_counts[t] for b in batches]) for t in keys.NODE_TYPES},
            edge_counts={e: np.concatenate([b.edge_counts[e] for b in batches]) for e in keys.EDGE_TYPES},
            relations=relations,
            node_data={t: _concat_data([b.node_data[t] for b in batches], f"{t} node") for t in keys.NODE_TYPES},
            edge_data={e: _concat_data([b.edge_data[e] for b in batches], f"{e[1]} edge") for e in keys.EDGE_TYPES},
        )

    def copy(self) -> BatchParts:
        """A deep copy: graphs built from it share no memory with this one."""
        return BatchParts(
            node_counts={t: c.copy() for t, c in self.node_counts.items()},
            edge_counts={e: c.copy() for e, c in self.edge_counts.items()},
            relations={e: (_copy(s), _copy(d)) for e, (s, d) in self.relations.items()},
            node_data={t: {k: _copy(v) for k, v in d.items()} for t, d in self.node_data.items()},
            edge_data={e: {k: _copy(v) for k, v in d.items()} for e, d in self.edge_data.items()},
        )

    def graph_parts(self, g: int) -> GraphParts:
        """Graph ``g`` alone, with local ids."""
        node_lo = {t: int(c[:g].sum()) for t, c in self.node_counts.items()}
        node_hi = {t: node_lo[t] + int(self.node_counts[t][g]) for t in keys.NODE_TYPES}
        edge_lo = {e: int(c[:g].sum()) for e, c in self.edge_counts.items()}
        edge_hi = {e: edge_lo[e] + int(self.edge_counts[e][g]) for e in keys.EDGE_TYPES}

        def rel(etype):
            src_type, _, dst_type = etype
            src, dst = self.relations[etype]
            lo, hi = edge_lo[etype], edge_hi[etype]
            return (src[lo:hi] - node_lo[src_type], dst[lo:hi] - node_lo[dst_type])

        def nodes(t):
            return {k: v[node_lo[t] : node_hi[t]] for k, v in self.node_data[t].items()}

        def edges(e):
            return {k: v[edge_lo[e] : edge_hi[e]] for k, v in self.edge_data[e].items()}

        return GraphParts(
            num_atoms=node_hi[keys.ATOM] - node_lo[keys.ATOM],
            bonds=rel(keys.BOND),
            near=rel(keys.NEAR),
            ring_incidence=rel(keys.IN_RING),
            num_rings=node_hi[keys.RING] - node_lo[keys.RING],
            subgraph_incidence=rel(keys.IN_SUBGRAPH),
            num_subgraphs=node_hi[keys.SUBGRAPH] - node_lo[keys.SUBGRAPH],
            atom_data=nodes(keys.ATOM),
            bond_data=edges(keys.BOND),
            near_data=edges(keys.NEAR),
            ring_data=nodes(keys.RING),
            subgraph_data=nodes(keys.SUBGRAPH),
            system_data=nodes(keys.SYSTEM),
        )


def build_batched_graph(batch: BatchParts | Sequence[GraphParts]) -> dgl.DGLGraph:
    """One batched heterograph, equal to ``dgl.batch`` of the graphs' own ``build_graph``."""
    if not isinstance(batch, BatchParts):
        batch = BatchParts.from_graph_parts(batch)
    if not _FAST_PATH:
        return dgl.batch([build_graph_public(batch.graph_parts(g)) for g in range(len(batch))])
    relations = {e: (_index(s), _index(d)) for e, (s, d) in batch.relations.items()}
    total = {t: int(c.sum()) for t, c in batch.node_counts.items()}
    node_data = {t: {k: _tensor(v) for k, v in d.items()} for t, d in batch.node_data.items()}
    edge_data = {e: {k: _tensor(v) for k, v in d.items()} for e, d in batch.edge_data.items()}
    graph = _assemble(relations, total, node_data, edge_data)
    graph.set_batch_num_nodes({t: torch.from_numpy(c) for t, c in batch.node_counts.items()})
    graph.set_batch_num_edges({e: torch.from_numpy(c) for e, c in batch.edge_counts.items()})
    return graph
