"""Radius graph of a set of positions, with periodic images, in O(N).

``radius_edges`` returns every ordered pair ``(i, j)`` closer than the cutoff, as the ``near``
edges of the graph schema: ``src = i``, ``dst = j`` and

    edge_vec = pos[dst] - pos[src] + shift,    |edge_vec| < cutoff,

where ``shift`` is the Cartesian offset (Å) of the periodic image of ``j``: ``S @ cell`` for an
integer image vector ``S`` that is zero along non-periodic axes. With a cutoff larger than half
the cell an atom meets several images of the same neighbour (and images of itself), each one an
edge of its own.

Two searches, the same edges. Where every pair has at most one image inside the cutoff (no
periodicity, or an orthorhombic cell periodic along all three axes and at least twice the
cutoff wide), scipy's k-d tree (``cKDTree``, periodic through ``boxsize``) finds the pairs: its C
code keeps the time per atom flat up to 10^5 atoms (``benchmarks/scaling.py``). Everything else
(triclinic cells, mixed periodicity, cutoffs beyond half the cell, so several images) goes to
ASE's cell-list ``primitive_neighbor_list``: atoms are sorted into bins of at least the cutoff and
only neighbouring bins are compared, so the cost grows with the number of atoms, not its square.
ASE bins along a non-periodic axis only inside the cell given, so for a fully non-periodic system
the search runs in the atoms' bounding box (else every atom would share one bin and the search
would be all-pairs).
"""

from __future__ import annotations

import numpy as np
from ase.neighborlist import primitive_neighbor_list
from scipy.spatial import cKDTree

from chemnoether.errors import ConfigError, InvalidStructureError

# Bounding-box margin, Å: keeps the box non-degenerate for planar or linear molecules.
_BOX_MARGIN = 1.0
_MAX_LISTED = 10


def radius_edges(
    positions,
    cutoff: float,
    cell=None,
    pbc=None,
    self_interaction: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordered pairs closer than ``cutoff``: ``(src, dst, shift)``.

    Args:
        positions: (N, 3) Cartesian positions, Å.
        cutoff: radius, Å; pairs at exactly the cutoff are excluded.
        cell: (3, 3) cell vectors as rows, Å; needed along every periodic axis.
        pbc: periodicity, a bool or three bools; ``None`` means not periodic.
        self_interaction: also return ``(i, i)`` with a zero shift (images of ``i`` in other
            cells are always returned when they are inside the cutoff).

    Returns:
        ``src`` (E,) int64, ``dst`` (E,) int64 and ``shift`` (E, 3) float64 in Å, sorted by
        ``src`` then ``dst``.

    Raises:
        InvalidStructureError: non-finite positions (naming the atoms), or a cell unusable for
            the periodic axes asked.
        ConfigError: a cutoff that is not a positive finite number.
    """
    pos = _checked_positions(positions)
    cutoff = checked_cutoff(cutoff)
    periodic = _checked_pbc(pbc)
    box = _checked_cell(cell, periodic)
    if len(pos) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros((0, 3), dtype=np.float64)

    if _tree_applies(box, periodic, cutoff):
        return _tree_edges(pos, cutoff, box if periodic.all() else None, self_interaction)
    if periodic.any():
        search_pos = pos
    else:
        # Shifting every atom by the same vector leaves pos[j] - pos[i] unchanged.
        low = pos.min(axis=0)
        search_pos = pos - low
        box = np.diag(pos.max(axis=0) - low + _BOX_MARGIN)

    src, dst, images = primitive_neighbor_list(
        "ijS", periodic, box, search_pos, cutoff, self_interaction=self_interaction
    )
    order = np.lexsort((dst, src))
    shift = images[order].astype(np.float64) @ box
    return src[order].astype(np.int64), dst[order].astype(np.int64), shift


def _tree_applies(box, periodic: np.ndarray, cutoff: float) -> bool:
    """True when no pair can have two images inside the cutoff, and the k-d tree can do the periodicity."""
    if not periodic.any():
        return True
    if not periodic.all() or np.count_nonzero(box - np.diag(np.diagonal(box))):
        return False
    return bool((np.diagonal(box) > 2 * cutoff).all())


def _tree_edges(pos: np.ndarray, cutoff: float, box, self_interaction: bool):
    """Both directions of every pair closer than ``cutoff`` (minimum image in an orthorhombic ``box``)."""
    lengths = None if box is None else np.diagonal(box).copy()
    tree = cKDTree(pos % lengths if lengths is not None else pos, boxsize=lengths)
    pairs = tree.query_pairs(cutoff, output_type="ndarray").astype(np.int64)
    first, second = pairs[:, 0], pairs[:, 1]
    delta = pos[second] - pos[first]
    shift = np.zeros_like(delta) if lengths is None else -np.round(delta / lengths) * lengths
    inside = ((delta + shift) ** 2).sum(axis=1) < cutoff**2  # the tree keeps pairs at exactly the cutoff
    first, second, shift = first[inside], second[inside], shift[inside]
    src = np.concatenate([first, second])
    dst = np.concatenate([second, first])
    shift = np.concatenate([shift, -shift])
    if self_interaction:
        own = np.arange(len(pos), dtype=np.int64)
        src, dst = np.concatenate([src, own]), np.concatenate([dst, own])
        shift = np.concatenate([shift, np.zeros((len(pos), 3))])
    order = np.lexsort((dst, src))
    return src[order], dst[order], shift[order] + 0.0  # + 0.0: no negative zeros in the shifts


def checked_cutoff(cutoff) -> float:
    """``cutoff`` as a float, or a ConfigError saying what a valid cutoff is."""
    try:
        value = float(cutoff)
    except (TypeError, ValueError):
        raise ConfigError(f"cutoff must be a positive number of Å, got {cutoff!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ConfigError(
            f"cutoff must be a positive finite number of Å, got {cutoff!r}; pass e.g. cutoff=5.0"
        )
    return value


def non_finite_rows(values: np.ndarray) -> np.ndarray:
    """Indices of the rows of a 2D array that hold NaN or inf."""
    return np.flatnonzero(~np.isfinite(values).all(axis=1))


def index_listing(items) -> str:
    """Atom indices (or labels) for an error message: the first few, then how many more."""
    items = [str(int(i)) if isinstance(i, (int, np.integer)) else str(i) for i in items]
    listed = ", ".join(items[:_MAX_LISTED])
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return listed + more


def _checked_positions(positions) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise InvalidStructureError(f"positions must have shape (N, 3), got {pos.shape}")
    bad = non_finite_rows(pos)
    if bad.size:
        raise InvalidStructureError(
            f"positions of atoms {index_listing(bad)} are NaN or infinite; "
            "fix or drop those atoms before featurising"
        )
    return pos


def _checked_pbc(pbc) -> np.ndarray:
    if pbc is None:
        return np.zeros(3, dtype=bool)
    flags = np.asarray(pbc, dtype=bool)
    if flags.ndim == 0:
        return np.full(3, bool(flags))
    if flags.shape != (3,):
        raise InvalidStructureError(f"pbc must be a bool or three bools, got {pbc!r}")
    return flags


def _checked_cell(cell, periodic: np.ndarray) -> np.ndarray:
    if cell is None:
        if periodic.any():
            raise InvalidStructureError(
                f"pbc={periodic.tolist()} needs a cell; pass cell=(3, 3) vectors in Å"
            )
        return np.zeros((3, 3), dtype=np.float64)
    box = np.asarray(cell, dtype=np.float64)
    if box.shape != (3, 3):
        raise InvalidStructureError(f"cell must have shape (3, 3) (vectors as rows), got {box.shape}")
    if not np.isfinite(box).all():
        raise InvalidStructureError(f"cell has NaN or infinite entries: {box.tolist()}")
    vectors = box[periodic]
    # Periodic images along a zero or dependent vector would sit on top of each other.
    if len(vectors) and np.linalg.matrix_rank(vectors, tol=1e-8) < len(vectors):
        raise InvalidStructureError(
            f"the cell vectors along the periodic axes {np.flatnonzero(periodic).tolist()} are zero or "
            f"linearly dependent (cell {box.tolist()}); set a proper cell or turn pbc off along those axes"
        )
    return box
