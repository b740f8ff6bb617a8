"""Real MMFF94 trajectories (about a second each) and windows cut from them, in float64."""

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.data import GraphTensors, PairWindows
from chemnoether.simulation import generate_md

QUICK = {"progress": False, "equilibration_steps": 300}
HCO = [1, 6, 8]


@pytest.fixture(scope="session")
def ethanol():
    return generate_md("ethanol", 300, seed=0, **QUICK)


@pytest.fixture(scope="session")
def other_molecules():
    """Two more H/C/O molecules of other sizes, for batching a molecule among different ones."""
    return [generate_md(name, 40, seed=1, **QUICK) for name in ("methanol", "acetone")]


@pytest.fixture(scope="session")
def glycine():
    return generate_md("glycine", 40, seed=2, **QUICK)


def windows(traj, graph="radius", starts=(0, 40, 80, 120), delta=10, **options):
    return PairWindows(traj, delta, list(starts), graph=graph, dtype=torch.float64, **options)


def batch_of(traj, graph="radius", starts=(0, 40, 80, 120), delta=10, **options) -> GraphTensors:
    ws = windows(traj, graph, starts, delta, **options)
    return GraphTensors.from_graph(ws.batch(range(len(ws))))
