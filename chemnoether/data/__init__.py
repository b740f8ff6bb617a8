"""Data: trajectories (types, readers, stored MD runs), learning windows and splits, and the device path.

MD generation (force fields, integrators) is ``chemnoether.simulation``; this package reads its
output (``load_generated``) and never imports it.

DGL graphs are the data and interchange format; ``GraphTensors`` carries a batch of them to any
device torch reaches, and ``edge_vectors`` / ``scatter_*`` / ``pool_*`` do message passing on it.
"""

from chemnoether.data.datasets import (
    WindowSplits,
    md17_protocol_windows,
    time_block_windows,
)
from chemnoether.data.md_chunks import load_generated
from chemnoether.data.molecules import KNOWN_MOLECULES, resolve_molecule
from chemnoether.core.ops import (
    edge_vectors,
    pool_atoms,
    pool_incidence,
    scatter_mean,
    scatter_sum,
)
from chemnoether.data.readers import read_trajectory, velocities_from_positions
from chemnoether.data.splits import (
    Split,
    check_no_overlap,
    md17_protocol_split,
    overlap_fractions,
    time_block_split,
    window_overlap,
)
from chemnoether.core.tensors import GraphTensors, collate_graphs
from chemnoether.data.topology import (
    Topology,
    md17_topology,
    radius_topology,
    smiles_topology,
    topology_for,
)
from chemnoether.data.trajectory import Trajectory
from chemnoether.data.windows import PairWindows, RolloutWindows, window_loader

__all__ = [
    "KNOWN_MOLECULES",
    "GraphTensors",
    "PairWindows",
    "RolloutWindows",
    "Split",
    "Topology",
    "Trajectory",
    "WindowSplits",
    "check_no_overlap",
    "collate_graphs",
    "edge_vectors",
    "load_generated",
    "md17_protocol_split",
    "md17_protocol_windows",
    "md17_topology",
    "overlap_fractions",
    "pool_atoms",
    "pool_incidence",
    "radius_topology",
    "read_trajectory",
    "resolve_molecule",
    "scatter_mean",
    "scatter_sum",
    "smiles_topology",
    "time_block_split",
    "time_block_windows",
    "topology_for",
    "velocities_from_positions",
    "window_loader",
    "window_overlap",
]
