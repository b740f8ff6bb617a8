"""Fill in the model options a recipe leaves out from the training data: elements and scales.

A recipe says what model to build (``kind``, channels, layers...); what the data decides, the
data fills in: the elements the model must know, and for the equivariant model the average
neighbour count and the output scales (``dataset_statistics``). Options the recipe gives win.
"""

from __future__ import annotations

import inspect
from itertools import islice

import numpy as np

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.core.registry import BUILDERS
from chemnoether.models.statistics import dataset_statistics

_STATISTIC_BATCHES = 8  # of 32 windows: enough for scales good to a few percent


def complete_model_options(kind: str, options: dict, train_windows) -> dict:
    """``options`` plus ``elements`` and measured statistics the builder of ``kind`` accepts."""
    accepted = set(inspect.signature(BUILDERS[kind]).parameters) if kind in BUILDERS else set()
    filled = dict(options)
    if "elements" in accepted and "elements" not in filled:
        numbers = train_windows[0].nodes[keys.ATOM].data[keys.ATOMIC_NUMBERS].numpy()
        filled["elements"] = sorted(int(z) for z in np.unique(numbers))
    wanted = {"avg_num_neighbors", "velocity_scale", "dpos_scale", "dvel_scale"} & accepted
    if wanted - set(filled):
        batches = _batches(train_windows)
        edges = filled.get("edges", "near")
        measured = dataset_statistics(batches, edges=edges, cutoff=filled.get("cutoff", 5.0) if "cutoff" in accepted else None)
        for name in wanted - set(filled):
            filled[name] = measured[name]
    return filled


def _batches(windows, size: int = 32):
    count = len(windows)
    starts = range(0, min(count, size * _STATISTIC_BATCHES), size)
    for start in islice(starts, _STATISTIC_BATCHES):
        indices = list(range(start, min(start + size, count)))
        yield GraphTensors.from_graph(windows.batch(indices))
