"""atoms_to_graph: units, order, periodic data, bond perception and every refused input."""

import warnings

import dgl
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.data import atomic_masses

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.errors import (
    ConfigError,
    InvalidStructureError,
    UnsupportedElementError,
)
from chemnoether.featurize.ase_graph import atoms_to_graph, element_one_hot
from chemnoether.featurize.features import DEFAULT_ATOM_FEATURIZER, ELEMENTS
from chemnoether.featurize.neighbors import radius_edges

F64 = torch.float64


def atom_data(graph):
    return graph.nodes[keys.ATOM].data


def system_data(graph):
    return graph.nodes[keys.SYSTEM].data


def shuffled_ethanol():
    """Ethanol with its atoms in a scrambled order, so order mistakes cannot hide."""
    atoms = molecule("CH3CH2OH")
    return atoms[[5, 0, 8, 2, 7, 1, 4, 3, 6]]


def test_atom_order_positions_and_dtype_follow_ase():
    atoms = shuffled_ethanol()
    graph = atoms_to_graph(atoms, dtype=F64)
    assert atom_data(graph)[keys.ATOMIC_NUMBERS].tolist() == atoms.numbers.tolist()
    assert atom_data(graph)[keys.POS].dtype == F64
    np.testing.assert_array_equal(atom_data(graph)[keys.POS].numpy(), atoms.positions)
    assert atoms_to_graph(atoms).nodes[keys.ATOM].data[keys.POS].dtype == torch.float32


def test_graph_does_not_share_memory_with_the_atoms():
    atoms = molecule("H2O")
    atoms.calc = SinglePointCalculator(atoms, forces=np.zeros((3, 3)))
    graph = atoms_to_graph(atoms, dtype=F64)
    expected = atoms.positions.copy()
    atoms.positions[:] += 1.0
    atoms.numbers[0] = 1
    atoms.calc.results["forces"][:] = 1.0
    np.testing.assert_array_equal(atom_data(graph)[keys.POS].numpy(), expected)
    assert atom_data(graph)[keys.ATOMIC_NUMBERS].tolist() == [8, 1, 1]
    assert not atom_data(graph)[keys.FORCES].any()


def test_near_edges_are_the_radius_graph():
    atoms = shuffled_ethanol()
    graph = atoms_to_graph(atoms, cutoff=2.0, dtype=F64)
    src, dst = (t.numpy() for t in graph.edges(etype=keys.NEAR))
    expected_src, expected_dst, expected_shift = radius_edges(atoms.positions, 2.0)
    np.testing.assert_array_equal(src, expected_src)
    np.testing.assert_array_equal(dst, expected_dst)
    np.testing.assert_array_equal(graph.edges[keys.NEAR].data[keys.EDGE_SHIFT].numpy(), expected_shift)
    assert graph.num_edges(keys.BOND) == 0 and graph.num_nodes(keys.RING) == 0


def test_periodic_edges_carry_image_shifts_and_cell():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    graph = atoms_to_graph(atoms, cutoff=3.0, dtype=F64)
    src, dst = graph.edges(etype=keys.NEAR)
    pos = atom_data(graph)[keys.POS]
    vec = pos[dst] - pos[src] + graph.edges[keys.NEAR].data[keys.EDGE_SHIFT]
    # fcc: 12 nearest neighbours at a / sqrt(2), most of them through the cell boundary
    assert graph.num_edges(keys.NEAR) == 4 * 12
    np.testing.assert_allclose(vec.norm(dim=1).numpy(), 3.6 / np.sqrt(2), atol=1e-12)
    np.testing.assert_array_equal(system_data(graph)[keys.CELL].numpy(), atoms.cell.array[None])
    assert system_data(graph)[keys.PBC].tolist() == [[True, True, True]]


def test_mixed_pbc_and_molecule_system_data():
    slab = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], cell=[3.0, 3.0, 0.0], pbc=[True, True, False])
    graph = atoms_to_graph(slab, cutoff=3.5)
    assert system_data(graph)[keys.PBC].tolist() == [[True, True, False]]
    assert system_data(graph)[keys.CELL].shape == (1, 3, 3)
    mol = atoms_to_graph(molecule("H2O"))
    assert not system_data(mol)[keys.CELL].any() and not system_data(mol)[keys.PBC].any()
    assert system_data(mol)[keys.TOTAL_CHARGE].tolist() == [0.0]


def test_velocities_become_angstrom_per_fs():
    atoms = molecule("H2O")
    atoms.set_velocities([[1.0, 0.0, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, 0.5]])  # Å per ASE time unit
    # ASE time unit = 1 Å * sqrt(amu / eV), from SI constants, in fs
    ase_time_fs = 1e-10 * np.sqrt(1.66053906660e-27 / 1.602176634e-19) * 1e15
    vel = atom_data(atoms_to_graph(atoms, dtype=F64))[keys.VEL].numpy()
    np.testing.assert_allclose(vel, atoms.get_velocities() / ase_time_fs, rtol=1e-6)
    assert keys.VEL not in atom_data(atoms_to_graph(molecule("H2O")))


def test_masses_default_and_custom():
    atoms = molecule("H2O")
    graph = atoms_to_graph(atoms, dtype=F64)
    np.testing.assert_array_equal(atom_data(graph)[keys.MASSES].numpy(), atomic_masses[atoms.numbers])
    atoms.set_masses([15.999, 2.014, 2.014])  # heavy water keeps its deuterium masses
    heavy = atom_data(atoms_to_graph(atoms, dtype=F64))[keys.MASSES].numpy()
    np.testing.assert_array_equal(heavy, [15.999, 2.014, 2.014])


def test_forces_and_energy_from_stored_results_only():
    atoms = molecule("H2O")
    forces = np.arange(9.0).reshape(3, 3)
    atoms.calc = SinglePointCalculator(atoms, energy=-14.5, forces=forces)
    atoms.set_constraint(FixAtoms([0]))  # the stored forces stay unconstrained
    graph = atoms_to_graph(atoms, dtype=F64)
    np.testing.assert_array_equal(atom_data(graph)[keys.FORCES].numpy(), forces)
    assert system_data(graph)[keys.ENERGY].tolist() == [-14.5]

    atoms.positions[0, 0] += 0.1  # results now describe another geometry
    stale = atoms_to_graph(atoms)
    assert keys.FORCES not in atom_data(stale) and keys.ENERGY not in system_data(stale)


def test_forces_array_and_info_energy_without_calculator():
    atoms = molecule("H2O")
    atoms.new_array("forces", np.ones((3, 3)))
    atoms.info["energy"] = 2.0
    graph = atoms_to_graph(atoms)
    assert atom_data(graph)[keys.FORCES].tolist() == [[1.0] * 3] * 3
    assert system_data(graph)[keys.ENERGY].tolist() == [2.0]


def test_attached_calculator_is_never_run():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.calc = EMT()
    graph = atoms_to_graph(atoms, cutoff=3.0)
    assert keys.FORCES not in atom_data(graph) and keys.ENERGY not in system_data(graph)
    assert atoms.calc.results == {}


def test_node_attrs_are_element_one_hot_without_bonds():
    atoms = Atoms("ArCH", positions=[[0, 0, 0], [1.5, 0, 0], [2.6, 0, 0]])  # Ar is not in ELEMENTS
    attrs = atom_data(atoms_to_graph(atoms))[keys.NODE_ATTRS]
    assert attrs.dtype == torch.float32 and attrs.shape == (3, len(ELEMENTS) + 1)
    assert attrs.argmax(dim=1).tolist() == [len(ELEMENTS), ELEMENTS.index("C"), ELEMENTS.index("H")]
    assert attrs.sum(dim=1).tolist() == [1.0, 1.0, 1.0]


def test_batching_with_dgl():
    graphs = [atoms_to_graph(molecule(name)) for name in ("H2O", "CH3CH2OH", "C6H6")]
    batch = dgl.batch(graphs)
    assert batch.num_nodes(keys.ATOM) == 3 + 9 + 12 and batch.num_nodes(keys.SYSTEM) == 3
    assert batch.num_edges(keys.NEAR) == sum(g.num_edges(keys.NEAR) for g in graphs)
    src, _ = batch.edges(etype=keys.NEAR)
    first = graphs[0].num_edges(keys.NEAR)
    assert src[:first].max() < 3 and 3 <= src[first:].min()  # ids offset per graph
    crystals = dgl.batch([atoms_to_graph(bulk(name), cutoff=3.0) for name in ("Cu", "Si")])
    assert batch.nodes[keys.SYSTEM].data[keys.CELL].shape == (3, 3, 3)
    assert crystals.nodes[keys.SYSTEM].data[keys.PBC].all()


def test_perceived_bonds_of_ethanol_keep_ase_order():
    atoms = shuffled_ethanol()
    graph = atoms_to_graph(atoms, perceive_bonds=True)
    assert graph.num_edges(keys.BOND) == 2 * 8
    assert atom_data(graph)[keys.ATOMIC_NUMBERS].tolist() == atoms.numbers.tolist()
    src, dst = graph.edges(etype=keys.BOND)
    lengths = np.linalg.norm(atoms.positions[dst.numpy()] - atoms.positions[src.numpy()], axis=1)
    assert lengths.max() < 1.6  # bonds join atoms that are close in the ASE order's coordinates
    assert graph.num_nodes(keys.RING) == 0
    attrs = atom_data(graph)[keys.NODE_ATTRS]
    assert attrs.shape == (9, DEFAULT_ATOM_FEATURIZER.width)
    element = DEFAULT_ATOM_FEATURIZER.slices()["element"]
    assert torch.equal(attrs[:, element], torch.from_numpy(element_one_hot(atoms.numbers)))


def test_perceived_benzene_has_one_aromatic_ring():
    graph = atoms_to_graph(molecule("C6H6"), perceive_bonds=True)
    assert graph.num_edges(keys.BOND) == 2 * 12
    assert graph.num_nodes(keys.RING) == 1
    assert graph.nodes[keys.RING].data[keys.RING_SIZE].tolist() == [6]
    assert graph.nodes[keys.RING].data[keys.RING_AROMATIC].tolist() == [True]
    plain = atoms_to_graph(molecule("C6H6"), perceive_bonds=True, rings=False, subgraphs=())
    assert plain.num_nodes(keys.RING) == 0 and plain.num_nodes(keys.SUBGRAPH) == 0


def test_perceived_cation_uses_the_charge():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        graph = atoms_to_graph(molecule("CH3"), perceive_bonds=True, charge=1)
    assert atom_data(graph)[keys.FORMAL_CHARGE].sum().item() == 1
    assert system_data(graph)[keys.TOTAL_CHARGE].tolist() == [1.0]


def test_bond_orders_that_cannot_be_assigned_fall_back_to_connectivity():
    with pytest.warns(UserWarning, match="could not assign bond orders.*charge="):
        graph = atoms_to_graph(molecule("CH3"), perceive_bonds=True)  # methyl radical, charge 0
    assert graph.num_edges(keys.BOND) == 2 * 3
    assert set(graph.edges[keys.BOND].data[keys.BOND_ORDER].tolist()) == {1.0}


def test_perceive_bonds_refuses_periodic_structures():
    with pytest.raises(InvalidStructureError, match="non-periodic"):
        atoms_to_graph(bulk("Si"), cutoff=3.0, perceive_bonds=True)


def test_isolated_atoms_are_named_and_can_be_allowed():
    atoms = Atoms("H3", positions=[[0, 0, 0], [0.74, 0, 0], [20.0, 0, 0]])
    with pytest.raises(InvalidStructureError, match=r"atoms 2 have no neighbour within cutoff=5.0"):
        atoms_to_graph(atoms)
    graph = atoms_to_graph(atoms, allow_isolated=True)
    assert graph.in_degrees(etype=keys.NEAR).tolist() == [1, 1, 0]
    with pytest.raises(InvalidStructureError, match="atoms 0 have no neighbour"):
        atoms_to_graph(Atoms("Ar"))


def test_empty_and_non_atoms_inputs():
    with pytest.raises(InvalidStructureError, match="no atoms"):
        atoms_to_graph(Atoms())
    with pytest.raises(InvalidStructureError, match="expected an ase.Atoms"):
        atoms_to_graph(np.zeros((3, 3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_coordinates_name_the_atom(bad):
    atoms = molecule("CH3CH2OH")
    atoms.positions[4, 2] = bad
    with pytest.raises(InvalidStructureError, match=r"positions of atoms 4 are NaN or infinite"):
        atoms_to_graph(atoms)


@pytest.mark.parametrize("z", [0, 119])
def test_unsupported_elements_are_named(z):
    atoms = Atoms(numbers=[6, z], positions=[[0, 0, 0], [1.2, 0, 0]])
    with pytest.raises(UnsupportedElementError, match=rf"atoms 1 \(Z={z}\).*outside 1-118"):
        atoms_to_graph(atoms)


@pytest.mark.parametrize("cutoff", [0.0, -2.0, np.nan])
def test_cutoff_must_be_positive(cutoff):
    with pytest.raises(ConfigError, match="cutoff"):
        atoms_to_graph(molecule("H2O"), cutoff=cutoff)


def test_bad_options_and_physical_arrays():
    water = molecule("H2O")
    with pytest.raises(ConfigError, match="subgraph kinds"):
        atoms_to_graph(water, subgraphs=("rings",))
    with pytest.raises(ConfigError, match="sequence of kinds"):
        atoms_to_graph(water, subgraphs="brics")
    with pytest.raises(ConfigError, match="floating torch dtype"):
        atoms_to_graph(water, dtype=torch.int64)
    with pytest.raises(ConfigError, match="whole number"):
        atoms_to_graph(water, charge=0.5)
    moving = water.copy()
    moving.set_velocities([[0, 0, 0], [np.nan, 0, 0], [0, 0, 0]])
    with pytest.raises(InvalidStructureError, match="velocities of atoms 1"):
        atoms_to_graph(moving)
    pushed = water.copy()
    pushed.info["energy"] = 0.0
    pushed.new_array("forces", np.zeros((3, 3)))
    pushed.arrays["forces"][2, 0] = np.inf
    with pytest.raises(InvalidStructureError, match="forces of atoms 2"):
        atoms_to_graph(pushed)
