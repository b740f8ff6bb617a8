"""radius_edges against a brute-force search over periodic images, in float64."""

import itertools

import numpy as np
import pytest

import chemnoether  # noqa: F401  (before any dgl import, see chemnoether._dgl_compat)
from chemnoether.errors import ConfigError, InvalidStructureError
from chemnoether.featurize.neighbors import radius_edges


def brute_force_edges(pos, cutoff, cell, pbc, images_per_axis):
    """Every (i, j, S) with |pos[j] - pos[i] + S @ cell| < cutoff, trying each image S in turn."""
    ranges = [range(-images_per_axis, images_per_axis + 1) if p else [0] for p in pbc]
    found = []
    for image in itertools.product(*ranges):
        vec = pos[None, :, :] - pos[:, None, :] + np.asarray(image, dtype=np.float64) @ cell
        dist = np.linalg.norm(vec, axis=-1)
        for i, j in zip(*np.nonzero(dist < cutoff)):
            if i == j and not any(image):
                continue
            found.append((int(i), int(j), image, dist[i, j]))
    return found


def as_records(src, dst, shift, pos, cell, pbc):
    """radius_edges output as (i, j, integer image S, distance), S solved from the Cartesian shift."""
    periodic = np.asarray(pbc, dtype=bool)
    images = np.zeros((len(src), 3), dtype=np.int64)
    if periodic.any():
        solved = np.linalg.lstsq(cell[periodic].T, shift.T, rcond=None)[0].T
        assert np.allclose(solved, np.round(solved), atol=1e-9), "shift is not a lattice vector"
        images[:, periodic] = np.round(solved).astype(np.int64)
    assert np.allclose(images.astype(np.float64) @ cell, shift, atol=1e-12)
    dist = np.linalg.norm(pos[dst] - pos[src] + shift, axis=1)
    return [(int(i), int(j), tuple(image.tolist()), d) for i, j, image, d in zip(src, dst, images, dist)]


def assert_same_edges(got, expected):
    def key(record):
        return record[:3]

    got, expected = sorted(got, key=key), sorted(expected, key=key)
    assert [key(r) for r in got] == [key(r) for r in expected]
    np.testing.assert_allclose([r[3] for r in got], [r[3] for r in expected], rtol=0, atol=1e-12)


def random_triclinic(rng, num_atoms=7):
    cell = np.array([[3.2, 0.0, 0.0], [0.9, 2.9, 0.0], [-0.6, 0.8, 3.1]]) + rng.normal(0.0, 0.15, (3, 3))
    # some atoms outside the cell too: ASE wraps them, the shifts must still be exact
    fractional = rng.uniform(-0.3, 1.3, (num_atoms, 3))
    return fractional @ cell, cell


@pytest.mark.parametrize(
    "pbc", [(True, True, True), (True, False, True), (False, True, False), (False, False, False)]
)
@pytest.mark.parametrize("cutoff", [1.7, 2.9, 4.5])  # 4.5 Å exceeds every cell width: many images
def test_matches_brute_force_in_triclinic_cell(pbc, cutoff):
    rng = np.random.default_rng(7)
    pos, cell = random_triclinic(rng)
    src, dst, shift = radius_edges(pos, cutoff, cell, pbc)
    expected = brute_force_edges(pos, cutoff, cell, pbc, images_per_axis=6)
    assert_same_edges(as_records(src, dst, shift, pos, cell, pbc), expected)
    if cutoff == 4.5 and any(pbc):
        pairs = list(zip(src.tolist(), dst.tolist()))
        assert len(pairs) > len(set(pairs)), "a cutoff beyond half the cell must meet repeated images"
        assert np.any(src == dst), "and images of the atom itself"


def test_slab_with_zero_vector_along_the_open_axis():
    rng = np.random.default_rng(3)
    cell = np.array([[2.8, 0.0, 0.0], [1.1, 2.6, 0.0], [0.0, 0.0, 0.0]])
    pos = rng.uniform(0.0, 1.0, (6, 3)) * [2.8, 2.6, 6.0]
    pbc = (True, True, False)
    src, dst, shift = radius_edges(pos, 3.5, cell, pbc)
    expected = brute_force_edges(pos, 3.5, cell, pbc, images_per_axis=5)
    assert_same_edges(as_records(src, dst, shift, pos, cell, pbc), expected)


def test_molecule_without_cell_matches_all_pairs():
    rng = np.random.default_rng(1)
    pos = rng.normal(0.0, 2.0, (40, 3)) + 100.0  # far from the origin: the search box must follow
    src, dst, shift = radius_edges(pos, 2.5)
    dist = np.linalg.norm(pos[None] - pos[:, None], axis=-1)
    expected_i, expected_j = np.nonzero((dist < 2.5) & ~np.eye(len(pos), dtype=bool))
    assert sorted(zip(src.tolist(), dst.tolist())) == sorted(zip(expected_i.tolist(), expected_j.tolist()))
    assert not shift.any()


def test_planar_and_linear_molecules():
    planar = np.array([[0.0, 0.0, 0.0], [1.4, 0.0, 0.0], [0.7, 1.2, 0.0], [5.0, 5.0, 0.0]])
    src, dst, _ = radius_edges(planar, 1.5)
    assert sorted(zip(src.tolist(), dst.tolist())) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    linear = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 2.0]])
    src, dst, _ = radius_edges(linear, 1.5)
    assert sorted(zip(src.tolist(), dst.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_edge_direction_dtype_and_order():
    pos = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.9, 0.0, 0.0]])
    src, dst, shift = radius_edges(pos, 1.2)
    assert src.dtype == dst.dtype == np.int64 and shift.dtype == np.float64 and shift.shape == (len(src), 3)
    assert list(zip(src.tolist(), dst.tolist())) == [(0, 1), (0, 2), (1, 0), (2, 0)]  # sorted by src, dst
    expected_vec = [[0, 0, 1], [0.9, 0, 0], [0, 0, -1], [-0.9, 0, 0]]
    np.testing.assert_array_equal(pos[dst] - pos[src] + shift, expected_vec)


def test_cutoff_is_exclusive():
    pos = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert len(radius_edges(pos, 1.0)[0]) == 0
    assert len(radius_edges(pos, 1.0 + 1e-9)[0]) == 2


def test_lone_atom_meets_its_own_images():
    cell = 2.0 * np.eye(3)
    src, dst, shift = radius_edges([[0.3, 0.2, 0.1]], 2.5, cell, True)
    assert (src == 0).all() and (dst == 0).all()
    expected = sorted(tuple(s * 2.0 * np.eye(3)[axis]) for axis in range(3) for s in (-1, 1))
    assert sorted(map(tuple, shift)) == expected


def test_self_interaction_adds_zero_shift_loops():
    pos = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    src, dst, shift = radius_edges(pos, 1.5, self_interaction=True)
    assert sorted(zip(src.tolist(), dst.tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert not shift.any()


def test_no_positions_give_no_edges():
    src, dst, shift = radius_edges(np.zeros((0, 3)), 3.0)
    assert src.shape == dst.shape == (0,) and shift.shape == (0, 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_position_names_the_atom(bad):
    pos = np.zeros((5, 3))
    pos[:, 0] = np.arange(5)
    pos[3, 1] = bad
    with pytest.raises(InvalidStructureError, match=r"atoms 3 are NaN or infinite"):
        radius_edges(pos, 2.0)


@pytest.mark.parametrize("cutoff", [0.0, -1.0, np.nan, np.inf, "five"])
def test_cutoff_must_be_positive(cutoff):
    with pytest.raises(ConfigError, match="cutoff") as info:
        radius_edges(np.zeros((2, 3)), cutoff)
    assert isinstance(info.value, ValueError)


def test_bad_cell_and_shapes_are_refused():
    pos = np.zeros((2, 3))
    with pytest.raises(InvalidStructureError, match="needs a cell"):
        radius_edges(pos, 2.0, None, True)
    with pytest.raises(InvalidStructureError, match="zero or linearly dependent"):
        radius_edges(pos, 2.0, np.diag([2.0, 2.0, 0.0]), True)
    with pytest.raises(InvalidStructureError, match=r"shape \(N, 3\)"):
        radius_edges(np.zeros((2, 2)), 2.0)
    with pytest.raises(InvalidStructureError, match=r"cell must have shape"):
        radius_edges(pos, 2.0, np.eye(2), False)
    with pytest.raises(InvalidStructureError, match="pbc"):
        radius_edges(pos, 2.0, np.eye(3), (True, False))


@pytest.mark.parametrize("periodic", [True, False])
def test_k_d_tree_path_matches_brute_force_in_an_orthorhombic_box(periodic):
    # orthorhombic, fully periodic, cutoff under half the box: the k-d tree path, atoms outside the box too
    rng = np.random.default_rng(5)
    cell = np.diag([7.0, 8.5, 9.0])
    pos = rng.uniform(-0.4, 1.4, (60, 3)) @ cell
    pbc = (periodic,) * 3
    src, dst, shift = radius_edges(pos, 3.2, cell, pbc)
    expected = brute_force_edges(pos, 3.2, cell, pbc, images_per_axis=2)
    assert len(expected) > 60
    assert_same_edges(as_records(src, dst, shift, pos, cell, pbc), expected)
    assert (np.diff(src) >= 0).all()  # sorted by src as documented


def test_k_d_tree_and_cell_list_paths_agree(monkeypatch):
    import chemnoether.featurize.neighbors as neighbors

    rng = np.random.default_rng(6)
    cell = np.diag([12.0, 11.0, 13.0])
    pos = rng.uniform(0.0, 1.0, (300, 3)) @ cell
    tree = radius_edges(pos, 4.0, cell, True, self_interaction=True)
    monkeypatch.setattr(neighbors, "_tree_applies", lambda *args: False)
    cells = radius_edges(pos, 4.0, cell, True, self_interaction=True)
    for a, b in zip(tree, cells):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
