"""Checks that DGL graphs follow the chemnoether schema before they are batched or converted.

DGL's own errors for a foreign graph (``'ring' is not a node type``) or for graphs with different
fields (a dump of two schemas) do not say which input is at fault or how to fix it; these do.
"""

from __future__ import annotations

from collections.abc import Sequence

import dgl

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
