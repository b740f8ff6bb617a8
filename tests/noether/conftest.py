"""Short real MMFF94 trajectories and float64 batches of windows for the Noether tests."""

import pytest
import torch

import chemnoether  # noqa: F401 - before dgl
from chemnoether.data import GraphTensors, PairWindows
from chemnoether.simulation import generate_md
from chemnoether.models.equivariant import EquivariantDynamics
from chemnoether.nn.testing import float64_default

QUICK = {"progress": False, "equilibration_steps": 300}
HCO = [1, 6, 8]


@pytest.fixture(scope="session")
def ethanol():
    return generate_md("ethanol", 60, seed=0, **QUICK)


@pytest.fixture(scope="session")
def toluene():
    """A ring, for the ring pooling."""
    return generate_md("toluene", 20, seed=1, **QUICK)


def windows(traj, starts, delta=10):
    # "smiles" graph with a radius: bonds, rings and subgraphs, plus near edges
    return PairWindows(traj, delta, list(starts), graph="smiles", cutoff=5.0, dtype=torch.float64)


def graphs_of(traj, starts, delta=10):
    ws = windows(traj, starts, delta)
    return [ws[i] for i in range(len(ws))]


def batch_of(graphs) -> GraphTensors:
    return GraphTensors.from_graph(list(graphs))


def tiny_model(seed=0, **options) -> EquivariantDynamics:
    """A small untrained float64 model (built under float64, see nn.testing)."""
    torch.manual_seed(seed)
    settings = {"channels": 2, "layers": 1, "radial_neurons": 4, "num_basis": 4, **options}
    with float64_default():
        return EquivariantDynamics(HCO, **settings).double()
