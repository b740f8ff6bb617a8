"""Every graph key, with its shape, dtype and unit.

A chemnoether graph is a DGL heterograph with one schema for molecules and atomic systems alike,
so that any two graphs batch together with ``dgl.batch``:

node types
    ``atom``      one node per atom, in the order of the input (RDKit atom index, ASE index).
    ``ring``      one node per ring (RDKit's symmetrized SSSR); an atom can sit in several rings.
    ``subgraph``  one node per functional-group match or fragment; ``subgraph_type`` says which.
    ``system``    exactly one node per graph, holding graph-level values (energy, cell, pbc, dt).

edge types (canonical, ``src -> dst``; messages aggregate at ``dst``)
    ``(atom, bond, atom)``            two directed edges per chemical bond, ``i -> j`` and ``j -> i``.
    ``(atom, near, atom)``            radius graph: both directions of every pair closer than the
                                      cutoff, periodic images included (then ``edge_shift`` != 0);
                                      also fixed distance-derived pairs (the MD17-benchmark graph).
    ``(atom, in_ring, ring)``         ring incidence: one edge per (atom, ring) membership.
    ``(atom, in_subgraph, subgraph)`` subgraph incidence: one edge per (atom, subgraph) membership.

Pooling atom values over rings (or subgraphs) is therefore one scatter over the incidence edges,
and after ``dgl.batch`` the ring and subgraph ids are offset per graph like the atom ids.
"""

from __future__ import annotations

from typing import Final

# --- node and edge types -------------------------------------------------------------------
ATOM: Final[str] = "atom"
RING: Final[str] = "ring"
SUBGRAPH: Final[str] = "subgraph"
SYSTEM: Final[str] = "system"
NODE_TYPES: Final[tuple[str, ...]] = (ATOM, RING, SUBGRAPH, SYSTEM)

BOND: Final[tuple[str, str, str]] = (ATOM, "bond", ATOM)
NEAR: Final[tuple[str, str, str]] = (ATOM, "near", ATOM)
IN_RING: Final[tuple[str, str, str]] = (ATOM, "in_ring", RING)
IN_SUBGRAPH: Final[tuple[str, str, str]] = (ATOM, "in_subgraph", SUBGRAPH)
EDGE_TYPES: Final[tuple[tuple[str, str, str], ...]] = (BOND, NEAR, IN_RING, IN_SUBGRAPH)

# --- atom node data ------------------------------------------------------------------------
# (N,) int64 | atomic number Z (0 for RDKit dummy atoms is refused)
ATOMIC_NUMBERS: Final[str] = "atomic_numbers"
# (N,) int64 | index of the element in the model's type vocabulary (kept apart from Z)
ATOM_TYPE: Final[str] = "atom_type"
# (N, F_atom) float32 | concatenated atom features; widths in featurize.atom_feature_widths()
NODE_ATTRS: Final[str] = "node_attrs"
# (N, 3) float | Cartesian positions, Å
POS: Final[str] = "pos"
# (N, 3) float | velocities, Å/fs
VEL: Final[str] = "vel"
# (N,) float | atomic masses, amu
MASSES: Final[str] = "masses"
# (N, 3) float | forces, eV/Å
FORCES: Final[str] = "forces"
# (N,) int64 | formal charge, e
FORMAL_CHARGE: Final[str] = "formal_charge"
# (N,) int64 | number of hydrogens on the atom (implicit + explicit neighbours removed from graph)
NUM_HS: Final[str] = "num_hs"
# --- targets (atom) ------------------------------------------------------------------------
# (N, 3) float | positions at t + dt, Å
NEXT_POS: Final[str] = "next_pos"
# (N, 3) float | velocities at t + dt, Å/fs
NEXT_VEL: Final[str] = "next_vel"
# (N, H, 3) float | positions at t + k*dt for k = 1..H (rollout targets; node axis first), Å
ROLLOUT_POS: Final[str] = "rollout_pos"
# (N, H, 3) float | velocities at t + k*dt for k = 1..H (rollout targets), Å/fs
ROLLOUT_VEL: Final[str] = "rollout_vel"

# --- bond edge data ------------------------------------------------------------------------
# (E, F_bond) float32 | concatenated bond features; widths in featurize.bond_feature_widths()
EDGE_ATTRS: Final[str] = "edge_attrs"
# (E,) float32 | bond order as RDKit GetBondTypeAsDouble: 1, 1.5 (aromatic), 2, 3 (dative 1, exotic types 0)
BOND_ORDER: Final[str] = "bond_order"

# --- near edge data (also computed on demand for bond edges) -------------------------------
# (E, 3) float | Cartesian shift added to pos[dst] - pos[src] for periodic images, Å
EDGE_SHIFT: Final[str] = "edge_shift"
# (E, 3) float | pos[dst] - pos[src] + edge_shift, Å (computed by chemnoether.data.edge_vectors)
EDGE_VEC: Final[str] = "edge_vec"
# (E,) float | |edge_vec|, Å
EDGE_LEN: Final[str] = "edge_len"
# (E,) int64 | near edges of the MD17-benchmark graph: 1 = closer than 1.6 Å in the first frame,
# 2 = sharing such a neighbour (GMN / EGNO protocol)
EDGE_HOPS: Final[str] = "edge_hops"

# --- ring node data ------------------------------------------------------------------------
# (R,) int64 | number of atoms in the ring
RING_SIZE: Final[str] = "ring_size"
# (R,) bool | every bond of the ring is aromatic
RING_AROMATIC: Final[str] = "ring_aromatic"

# --- subgraph node data --------------------------------------------------------------------
# (S,) int64 | index into featurize.SUBGRAPH_TYPES (functional-group name, or "brics_fragment")
SUBGRAPH_TYPE: Final[str] = "subgraph_type"

# --- system node data (one row per graph) --------------------------------------------------
# (1,) float | potential energy, eV
ENERGY: Final[str] = "energy"
# (1, 3, 3) float | cell vectors as rows, Å (zeros without a cell)
CELL: Final[str] = "cell"
# (1, 3) bool | periodic along each cell vector
PBC: Final[str] = "pbc"
# (1,) float | time step between the state and its target, fs
DT: Final[str] = "dt"
# (1,) float | total charge of the system, e
TOTAL_CHARGE: Final[str] = "total_charge"
