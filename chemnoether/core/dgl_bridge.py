"""Where DGL graphs meet the torch-only core: schema checks and the conversion to ``GraphTensors``.

The only core module that imports DGL; ``GraphTensors.from_graph`` loads it on first use.

DGL's own errors for a foreign graph (``'ring' is not a node type``) or for graphs with different
fields (a dump of two schemas) do not say which input is at fault or how to fix it; these do.
"""

from __future__ import annotations

from collections.abc import Sequence

import dgl
import torch
from dgl import DGLError

from chemnoether import keys
from chemnoether.errors import GraphFormatError

HOW_TO_BUILD = (
    "build graphs with chemnoether.featurize.smiles_to_graph / mol_to_graph or "
    "chemnoether.featurize.ase_graph.atoms_to_graph (the schema is documented in chemnoether.keys)"
)
# DGL's bookkeeping after subgraph extraction: ids into a parent graph, not chemistry.
DGL_INTERNAL_KEYS = frozenset({dgl.NID, dgl.EID})
# Where per-graph fields live; the incidence relations carry no data in the schema.
DATA_LOCATIONS: tuple[str | tuple[str, str, str], ...] = (*keys.NODE_TYPES, keys.BOND, keys.NEAR)


def check_schema(graph, name: str = "graph") -> None:
    """Raise ``GraphFormatError`` unless ``graph`` is a chemnoether heterograph (batched or not)."""
    if not isinstance(graph, dgl.DGLGraph):
        raise GraphFormatError(f"{name} is a {type(graph).__name__}, not a dgl.DGLGraph; {HOW_TO_BUILD}")
    missing_nodes = [t for t in keys.NODE_TYPES if t not in graph.ntypes]
    missing_edges = [e for e in keys.EDGE_TYPES if e not in graph.canonical_etypes]
    if missing_nodes or missing_edges:
        raise GraphFormatError(
            f"{name} lacks the chemnoether schema: missing node types {missing_nodes} and edge types "
            f"{missing_edges} (it has node types {graph.ntypes}); {HOW_TO_BUILD}"
        )
    systems = graph.batch_num_nodes(keys.SYSTEM)
    if not bool((systems == 1).all()):
        raise GraphFormatError(
            f"{name} must have exactly one '{keys.SYSTEM}' node per graph, got {systems.tolist()}; "
            f"system fields (energy, cell, ...) are stored one row per graph. {HOW_TO_BUILD}"
        )


def data_keys(graph: dgl.DGLGraph, where: str | tuple[str, str, str]) -> set[str]:
    """Names of the fields stored on node type or canonical edge type ``where``, DGL's own left out."""
    view = graph.edges[where] if isinstance(where, tuple) else graph.nodes[where]
    return set(view.data.keys()) - DGL_INTERNAL_KEYS


def check_same_fields(graphs: Sequence[dgl.DGLGraph]) -> None:
    """Raise ``GraphFormatError`` naming the first graph whose fields differ from graph 0's."""
    for where in DATA_LOCATIONS:
        reference = data_keys(graphs[0], where)
        for i, graph in enumerate(graphs[1:], start=1):
            found = data_keys(graph, where)
            if found != reference:
                label = where[1] if isinstance(where, tuple) else where
                raise GraphFormatError(
                    f"cannot batch graph {i} with graph 0: its {label} fields lack "
                    f"{sorted(reference - found)} and add {sorted(found - reference)}; featurize all "
                    "graphs with the same options (positions, cutoff, velocities, forces, energy)"
                )


def graph_tensor_fields(graph: dgl.DGLGraph | Sequence[dgl.DGLGraph]) -> dict:
    """The ``GraphTensors`` fields of one chemnoether graph (batched or not) or of a list of them.

    Returns keyword arguments rather than the object so that this module and ``core.tensors`` do
    not import each other.
    """
    return _tensor_fields(_as_batched_graph(graph))


def _as_batched_graph(graph) -> dgl.DGLGraph:
    if isinstance(graph, dgl.DGLGraph):
        check_schema(graph)
        return graph
    if isinstance(graph, (str, bytes)) or not isinstance(graph, Sequence):
        raise GraphFormatError(
            f"expected a dgl.DGLGraph or a list of them, got {type(graph).__name__}"
        )
    if len(graph) == 0:
        raise GraphFormatError("cannot batch an empty list of graphs; pass at least one graph")
    for i, one in enumerate(graph):
        check_schema(one, f"graph {i}")
    check_same_fields(graph)
    try:
        return dgl.batch(list(graph))
    except DGLError as err:  # same names, different dtypes or shapes
        raise GraphFormatError(
            f"cannot batch these graphs ({err}); featurize all of them with the same options and dtype"
        ) from err


def _tensor_fields(graph: dgl.DGLGraph) -> dict:
    num_graphs = graph.batch_size
    graph_ids = torch.arange(num_graphs)
    counts = {ntype: graph.batch_num_nodes(ntype).long() for ntype in keys.NODE_TYPES}
    return dict(
        num_graphs=num_graphs,
        num_atoms=counts[keys.ATOM],
        atom_graph=torch.repeat_interleave(graph_ids, counts[keys.ATOM]),
        bond_index=_edge_index(graph, keys.BOND),
        near_index=_edge_index(graph, keys.NEAR),
        ring_incidence=_edge_index(graph, keys.IN_RING),
        num_rings=counts[keys.RING],
        ring_graph=torch.repeat_interleave(graph_ids, counts[keys.RING]),
        subgraph_incidence=_edge_index(graph, keys.IN_SUBGRAPH),
        num_subgraphs=counts[keys.SUBGRAPH],
        subgraph_graph=torch.repeat_interleave(graph_ids, counts[keys.SUBGRAPH]),
        atom=_fields(graph.nodes[keys.ATOM].data),
        bond=_fields(graph.edges[keys.BOND].data),
        near=_fields(graph.edges[keys.NEAR].data),
        ring=_fields(graph.nodes[keys.RING].data),
        subgraph=_fields(graph.nodes[keys.SUBGRAPH].data),
        system=_fields(graph.nodes[keys.SYSTEM].data),
    )


def _edge_index(graph: dgl.DGLGraph, etype: tuple[str, str, str]) -> torch.Tensor:
    # int64 whatever the graph's idtype: torch's index ops and the helpers expect it
    src, dst = graph.edges(etype=etype)
    return torch.stack([src, dst]).long()


def _fields(data) -> dict[str, torch.Tensor]:
    return {name: value for name, value in data.items() if name not in DGL_INTERNAL_KEYS}
