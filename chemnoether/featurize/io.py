"""Save and load featurised graphs with their per-row status table.

``save_graphs(path, result)`` writes two files, each atomically (a temporary file, then a rename):
``path`` holds one batched graph in DGL's binary format (``dgl.save_graphs``) with the per-graph
node and edge counts as labels, and ``path.status.csv`` the status of every input row. The graph
file is written first and the status file last, so a status file always describes a complete
graph file. Plain ``dgl.load_graphs(path)`` reads the graph file too.
"""

from __future__ import annotations

import os
from pathlib import Path

import dgl
import numpy as np
import pandas as pd
import torch

from chemnoether import keys
from chemnoether._atomic import atomic_write
from chemnoether.errors import GraphFormatError
from chemnoether.featurize.assemble import BatchParts
from chemnoether.featurize.batch import FeaturizeResult

_NODE_LABEL = "num_nodes:"
_EDGE_LABEL = "num_edges:"
_EMPTY_LABEL = "no_graphs"
_BOOL_FIELDS = ((keys.RING, keys.RING_AROMATIC), (keys.SYSTEM, keys.PBC))


def status_path(path: str | os.PathLike) -> Path:
    """Where the status table of graph file ``path`` lives."""
    path = Path(path)
    return path.with_name(path.name + ".status.csv")


def save_graphs(path: str | os.PathLike, result: FeaturizeResult) -> Path:
    """Write ``result``'s graphs to ``path`` and its status table beside it; returns ``path``."""
    path = Path(path)
    if result.batch is not None:
        graph = result.batched()
        labels = {_NODE_LABEL + t: graph.batch_num_nodes(t) for t in keys.NODE_TYPES}
        labels.update({_EDGE_LABEL + e[1]: graph.batch_num_edges(e) for e in keys.EDGE_TYPES})
        # the batch counts travel as labels: DGL's file format does not keep them
        atomic_write(path, lambda tmp: dgl.save_graphs(tmp, [graph], labels))
    else:
        # DGL cannot write an empty list: a placeholder graph flagged as "no graphs" stands in
        placeholder = dgl.graph(([], []))
        atomic_write(path, lambda tmp: dgl.save_graphs(tmp, [placeholder], {_EMPTY_LABEL: torch.ones(1)}))
    atomic_write(status_path(path), lambda tmp: result.status.to_csv(tmp, index=False))
    return path


def load_graphs(path: str | os.PathLike) -> FeaturizeResult:
    """Read what ``save_graphs`` wrote; ``result.graphs`` and ``result.batched()`` work as before."""
    path = Path(path)
    for needed in (path, status_path(path)):
        if not needed.exists():
            raise FileNotFoundError(f"{needed} does not exist; write it with chemnoether.featurize.io.save_graphs")
    status = pd.read_csv(status_path(path), dtype={"error_type": "string", "error": "string"}, keep_default_na=False)
    status["error_type"] = status["error_type"].replace("", None)
    status["error"] = status["error"].replace("", None)
    graphs, labels = dgl.load_graphs(str(path))
    n_ok = int(status["ok"].sum())
    if _EMPTY_LABEL in labels:
        if n_ok:
            raise GraphFormatError(f"{path} holds no graphs but its status table lists {n_ok} featurised rows")
        return FeaturizeResult(status=status, batch=None)
    graph = graphs[0]
    graph.set_batch_num_nodes({t: labels[_NODE_LABEL + t] for t in keys.NODE_TYPES})
    graph.set_batch_num_edges({e: labels[_EDGE_LABEL + e[1]] for e in keys.EDGE_TYPES})
    if graph.batch_size != n_ok:
        raise GraphFormatError(
            f"{path} holds {graph.batch_size} graphs but {status_path(path).name} lists {n_ok} featurised rows; "
            "the two files do not belong together"
        )
    batch = batch_parts_of(graph)
    for ntype, name in _BOOL_FIELDS:  # DGL's file format stores bool tensors as uint8
        if name in batch.node_data[ntype]:
            batch.node_data[ntype][name] = batch.node_data[ntype][name].astype(bool)
    return FeaturizeResult(status=status, batch=batch)


def batch_parts_of(graph: dgl.DGLGraph) -> BatchParts:
    """The ``BatchParts`` of a (batched) chemnoether graph, as numpy arrays."""
    missing = set(keys.NODE_TYPES) - set(graph.ntypes)
    if missing:
        raise GraphFormatError(f"graph lacks node types {sorted(missing)}; it was not made by chemnoether.featurize")

    def np_data(frame) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in frame.items() if k not in (dgl.NID, dgl.EID)}

    return BatchParts(
        node_counts={t: graph.batch_num_nodes(t).numpy() for t in keys.NODE_TYPES},
        edge_counts={e: graph.batch_num_edges(e).numpy() for e in keys.EDGE_TYPES},
        relations={e: tuple(x.numpy() for x in graph.edges(etype=e)) for e in keys.EDGE_TYPES},
        node_data={t: np_data(graph.nodes[t].data) for t in keys.NODE_TYPES},
        edge_data={e: np_data(graph.edges[e].data) for e in keys.EDGE_TYPES},
    )


__all__ = ["batch_parts_of", "load_graphs", "save_graphs", "status_path"]
