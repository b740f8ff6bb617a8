"""The symmetry transformations of a batch: rotations with parity, translations, atom permutations.

They act on the inputs a model reads and on the targets alike:

* an orthogonal matrix R (a rotation, times -1 for parity): positions, velocities, targets, edge
  shifts and cell vectors become ``v @ R.T``;
* a translation t: positions and target positions become ``pos + t``;
* an atom permutation: atom ``k`` of the new batch is atom ``perm[k]`` of the old one; every index
  (edges, ring and subgraph incidences, ``atom_graph``) is remapped, edge order is kept.

Invariance checks of conserved quantities (``chemnoether.noether.checks``) and the model test
helpers (``chemnoether.nn.testing``) both use them. ``random_orthogonal`` uses e3nn's uniform
rotations, so this module loads e3nn (already a dependency of every model).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import replace

import torch
from e3nn import o3

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors

ATOM_VECTORS = (keys.POS, keys.VEL, keys.NEXT_POS, keys.NEXT_VEL)
ATOM_POINTS = (keys.POS, keys.NEXT_POS)


@contextlib.contextmanager
def float64_default() -> Iterator[None]:
    """Build modules with float64 as torch's default dtype (restored afterwards)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def random_orthogonal(dtype: torch.dtype = torch.float64, parity: bool = True) -> torch.Tensor:
    """(3, 3) random rotation (torch's global generator), times -1 when ``parity`` (rotation and inversion)."""
    rotation = o3.rand_matrix(dtype=dtype)
    return -rotation if parity else rotation


def rotate_batch(batch: GraphTensors, matrix: torch.Tensor) -> GraphTensors:
    """The batch with every Cartesian vector transformed by the orthogonal ``matrix``."""
    m = matrix.to(batch.atom[keys.POS].dtype)
    atom = {k: (v @ m.T if k in ATOM_VECTORS else v) for k, v in batch.atom.items()}
    for key in (keys.ROLLOUT_POS, keys.ROLLOUT_VEL):
        if key in atom:
            atom[key] = atom[key] @ m.T
    near = {k: (v @ m.T.to(v.dtype) if k == keys.EDGE_SHIFT else v) for k, v in batch.near.items()}
    system = {k: (v @ m.T.to(v.dtype) if k == keys.CELL else v) for k, v in batch.system.items()}
    return replace(batch, atom=atom, near=near, system=system)


def translate_batch(batch: GraphTensors, shift: torch.Tensor) -> GraphTensors:
    """The batch with positions (and target positions) moved by ``shift`` (3,), Å."""
    t = shift.to(batch.atom[keys.POS].dtype)
    atom = {k: (v + t if k in ATOM_POINTS or k == keys.ROLLOUT_POS else v) for k, v in batch.atom.items()}
    return replace(batch, atom=atom)


def permute_batch(batch: GraphTensors, permutation: torch.Tensor) -> GraphTensors:
    """Atom ``k`` of the result is atom ``permutation[k]`` of ``batch``; indices remapped accordingly."""
    n = batch.atom_graph.shape[0]
    if sorted(permutation.tolist()) != list(range(n)):
        raise ValueError(f"permutation must hold each of 0..{n - 1} once")
    new_id = torch.empty_like(permutation)
    new_id[permutation] = torch.arange(n, device=permutation.device)

    def remap_atoms(index: torch.Tensor, rows: Sequence[int]) -> torch.Tensor:
        index = index.clone()
        for row in rows:
            index[row] = new_id[index[row]]
        return index

    return replace(
        batch,
        atom_graph=batch.atom_graph[permutation],
        atom={k: v[permutation] for k, v in batch.atom.items()},
        bond_index=remap_atoms(batch.bond_index, (0, 1)),
        near_index=remap_atoms(batch.near_index, (0, 1)),
        ring_incidence=remap_atoms(batch.ring_incidence, (0,)),
        subgraph_incidence=remap_atoms(batch.subgraph_incidence, (0,)),
    )
