"""mol_to_graph / smiles_to_graph: atoms, bonds, rings, 3D, options and every refused input.

Expectations come from RDKit itself (atom order, bonds, ring info, Chem.AddHs) or from chemistry,
never from the featurizer's own output.
"""

import re

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem
from rdkit.Geometry import Point3D

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.errors import (
    ChemNoetherError,
    ConfigError,
    InvalidMoleculeError,
    MissingConformerError,
    UnsupportedElementError,
)
from chemnoether.featurize import (
    DEFAULT_ATOM_FEATURIZER,
    ELEMENTS,
    mol_to_graph,
    parse_smiles,
    smiles_to_graph,
)
from chemnoether.testing import assert_graphs_equal

F64 = torch.float64

MOLECULES = {
    "ethanol": "CCO",
    "acetone": "CC(C)=O",
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "caffeine": "Cn1c(=O)c2c(ncn2C)n(C)c1=O",
    "naphthalene": "c1ccc2ccccc2c1",
    "spiro[4.5]decane": "C1CCC2(CC1)CCCC2",
    "cubane": "C12C3C4C1C5C2C3C45",
    "18-crown-6": "C1COCCOCCOCCOCCOCCO1",
    "glycine zwitterion": "[NH3+]CC(=O)[O-]",
    "sodium acetate": "CC(=O)[O-].[Na+]",
    "methyl radical": "[CH3]",
    "13C-methane": "[13CH4]",
    "heavy water": "[2H]O[2H]",
    "L-alanine": "C[C@@H](C(=O)O)N",
    "D-alanine": "C[C@H](C(=O)O)N",
    "E-2-butene": "C/C=C/C",
    "Z-2-butene": "C/C=C\\C",
    "dimethylmercury": "C[Hg]C",
    "ferrocene": "[cH-]1cccc1.[cH-]1cccc1.[Fe+2]",
}
SMILES = list(MOLECULES.values())
IDS = list(MOLECULES)


def atom_data(graph):
    return graph.nodes[keys.ATOM].data


def memberships(graph, etype, ntype):
    """Sorted atom tuples of every ring (or subgraph) node, indexed by node id."""
    atoms, groups = (t.tolist() for t in graph.edges(etype=etype))
    out = [[] for _ in range(graph.num_nodes(ntype))]
    for a, g in zip(atoms, groups):
        out[g].append(a)
    return [tuple(sorted(m)) for m in out]


def embedded(smiles, seed=7, hydrogens=True):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    return mol if hydrogens else Chem.RemoveHs(mol)


# --- atoms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("smiles", SMILES, ids=IDS)
def test_atom_nodes_are_rdkit_atoms_in_order(smiles):
    mol = Chem.MolFromSmiles(smiles)
    graph = smiles_to_graph(smiles)
    atoms = list(mol.GetAtoms())
    assert graph.num_nodes(keys.ATOM) == mol.GetNumAtoms()
    assert graph.num_nodes(keys.SYSTEM) == 1
    data = atom_data(graph)
    assert data[keys.ATOMIC_NUMBERS].tolist() == [a.GetAtomicNum() for a in atoms]
    assert data[keys.FORMAL_CHARGE].tolist() == [a.GetFormalCharge() for a in atoms]
    # hydrogens on the atom, whether implicit, explicit counts or H neighbours ([2H]O[2H])
    assert data[keys.NUM_HS].tolist() == [a.GetTotalNumHs(includeNeighbors=True) for a in atoms]
    np.testing.assert_allclose(data[keys.MASSES].numpy(), [a.GetMass() for a in atoms], rtol=1e-6)
    assert data[keys.NODE_ATTRS].shape == (len(atoms), DEFAULT_ATOM_FEATURIZER.width)
    assert data[keys.NODE_ATTRS].dtype == torch.float32
    total = graph.nodes[keys.SYSTEM].data[keys.TOTAL_CHARGE]
    assert total.tolist() == [float(Chem.GetFormalCharge(mol))]


def test_chemistry_of_charges_masses_and_hydrogen_counts():
    zwitterion = atom_data(smiles_to_graph("[NH3+]CC(=O)[O-]"))
    assert zwitterion[keys.FORMAL_CHARGE].tolist() == [1, 0, 0, 0, -1]
    assert zwitterion[keys.NUM_HS].tolist() == [3, 2, 0, 0, 0]
    assert smiles_to_graph("[NH3+]CC(=O)[O-]").nodes[keys.SYSTEM].data[keys.TOTAL_CHARGE].item() == 0.0
    assert smiles_to_graph("CC(=O)[O-]").nodes[keys.SYSTEM].data[keys.TOTAL_CHARGE].item() == -1.0
    assert atom_data(smiles_to_graph("[13CH4]"))[keys.MASSES].item() == pytest.approx(13.00335, abs=1e-4)
    assert atom_data(smiles_to_graph("C"))[keys.MASSES].item() == pytest.approx(12.011, abs=1e-3)
    heavy_water = atom_data(smiles_to_graph("[2H]O[2H]"))
    # isotopic hydrogens stay as nodes: RDKit's RemoveHs keeps them
    assert heavy_water[keys.ATOMIC_NUMBERS].tolist() == [1, 8, 1]
    assert heavy_water[keys.MASSES][0].item() == pytest.approx(2.0141, abs=1e-3)
    assert heavy_water[keys.NUM_HS][1].item() == 2
    assert atom_data(smiles_to_graph("[CH3]"))[keys.NUM_HS].tolist() == [3]


@pytest.mark.parametrize("smiles", SMILES, ids=IDS)
def test_explicit_hydrogens_are_the_atoms_of_add_hs(smiles):
    mol_h = Chem.AddHs(Chem.MolFromSmiles(smiles))
    graph = smiles_to_graph(smiles, explicit_hydrogens=True)
    implicit = smiles_to_graph(smiles)
    data = atom_data(graph)
    assert graph.num_nodes(keys.ATOM) == mol_h.GetNumAtoms()
    assert data[keys.ATOMIC_NUMBERS].tolist() == [a.GetAtomicNum() for a in mol_h.GetAtoms()]
    assert graph.num_edges(keys.BOND) == 2 * mol_h.GetNumBonds()
    # the hydrogens each atom carries do not depend on whether they are nodes
    n = implicit.num_nodes(keys.ATOM)
    assert data[keys.NUM_HS][:n].tolist() == atom_data(implicit)[keys.NUM_HS].tolist()
    # ... and with hydrogens as nodes, num_hs counts hydrogen neighbours along bond edges
    src, dst = graph.edges(etype=keys.BOND)
    is_h = data[keys.ATOMIC_NUMBERS] == 1
    h_neighbours = torch.zeros(graph.num_nodes(keys.ATOM), dtype=torch.int64).index_add_(0, dst, is_h[src].long())
    assert data[keys.NUM_HS].tolist() == h_neighbours.tolist()


def test_explicit_hydrogens_in_the_input_become_implicit_nodes():
    mol_h = Chem.AddHs(Chem.MolFromSmiles("CC(=O)O"))
    graph = mol_to_graph(mol_h)
    assert atom_data(graph)[keys.ATOMIC_NUMBERS].tolist() == [6, 6, 8, 8]
    assert graph.num_edges(keys.BOND) == 6


def test_explicit_hydrogens_in_the_input_give_the_same_graph():
    # regression: hydrogens removed without re-sanitising lost their count (num_hs 0 everywhere)
    mol_h = Chem.AddHs(Chem.MolFromSmiles("CC(=O)O"))
    assert_graphs_equal(mol_to_graph(mol_h), smiles_to_graph("CC(=O)O"))


def test_embedding_changes_nothing_but_positions():
    # regression: the embedded molecule's hydrogens were removed without being recounted
    for explicit in (False, True):
        graph = smiles_to_graph("CC(=O)O", positions="embed", explicit_hydrogens=explicit)
        del graph.nodes[keys.ATOM].data[keys.POS]
        assert_graphs_equal(graph, smiles_to_graph("CC(=O)O", explicit_hydrogens=explicit))


# --- bonds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("smiles", SMILES, ids=IDS)
def test_bond_edges_are_both_directions_of_every_rdkit_bond(smiles):
    mol = Chem.MolFromSmiles(smiles)
    graph = smiles_to_graph(smiles)
    src, dst = (t.tolist() for t in graph.edges(etype=keys.BOND))
    assert len(src) == 2 * mol.GetNumBonds()
    pairs = list(zip(src, dst))
    expected = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
    assert sorted(pairs) == sorted(expected + [(j, i) for i, j in expected])
    orders = graph.edges[keys.BOND].data[keys.BOND_ORDER].tolist()
    for (i, j), order in zip(pairs, orders):
        assert order == mol.GetBondBetweenAtoms(i, j).GetBondTypeAsDouble()


def test_bond_orders_follow_chemistry():
    def orders(smiles):
        graph = smiles_to_graph(smiles)
        src, dst = graph.edges(etype=keys.BOND)
        return {(int(s), int(d)): o for s, d, o in zip(src, dst, graph.edges[keys.BOND].data[keys.BOND_ORDER].tolist())}

    assert set(orders("c1ccccc1").values()) == {1.5}
    acetone = orders("CC(C)=O")
    assert acetone[(1, 3)] == acetone[(3, 1)] == 2.0 and acetone[(0, 1)] == 1.0
    assert orders("CC#N")[(1, 2)] == 3.0


# --- rings ---------------------------------------------------------------------------------


def _rdkit_rings(mol):
    rings = []
    for ring in mol.GetRingInfo().AtomRings():
        # AtomRings lists each ring in walking order: consecutive atoms are bonded
        bonds = [mol.GetBondBetweenAtoms(ring[k], ring[(k + 1) % len(ring)]) for k in range(len(ring))]
        rings.append((tuple(sorted(ring)), all(b.GetIsAromatic() for b in bonds)))
    return rings


@pytest.mark.parametrize("smiles", SMILES, ids=IDS)
def test_rings_are_rdkit_ring_info(smiles):
    mol = Chem.MolFromSmiles(smiles)
    graph = smiles_to_graph(smiles)
    rings = memberships(graph, keys.IN_RING, keys.RING)
    expected = _rdkit_rings(mol)
    assert sorted(rings) == sorted(r for r, _ in expected)
    aromatic_of = dict(expected)
    ring_data = graph.nodes[keys.RING].data
    if rings:
        assert ring_data[keys.RING_SIZE].tolist() == [len(r) for r in rings]
        assert ring_data[keys.RING_AROMATIC].dtype == torch.bool
        assert ring_data[keys.RING_AROMATIC].tolist() == [aromatic_of[r] for r in rings]


def test_fused_spiro_and_cage_atoms_sit_in_several_rings():
    def rings_per_atom(smiles):
        graph = smiles_to_graph(smiles)
        atoms, _ = graph.edges(etype=keys.IN_RING)
        return torch.bincount(atoms, minlength=graph.num_nodes(keys.ATOM)).tolist()

    # naphthalene: the two fusion atoms (the only ones with three ring neighbours)
    naphthalene = Chem.MolFromSmiles("c1ccc2ccccc2c1")
    fusion = [a.GetIdx() for a in naphthalene.GetAtoms() if a.GetDegree() == 3]
    assert [i for i, n in enumerate(rings_per_atom("c1ccc2ccccc2c1")) if n == 2] == fusion
    spiro = rings_per_atom("C1CCC2(CC1)CCCC2")
    assert spiro[3] == 2 and sum(spiro) == 6 + 5
    # cubane: six four-membered faces, every corner on three of them
    cubane = smiles_to_graph("C12C3C4C1C5C2C3C45")
    assert cubane.num_nodes(keys.RING) == 6
    assert cubane.nodes[keys.RING].data[keys.RING_SIZE].tolist() == [4] * 6
    assert rings_per_atom("C12C3C4C1C5C2C3C45") == [3] * 8
    aromatic = smiles_to_graph("c1ccc2ccccc2c1").nodes[keys.RING].data[keys.RING_AROMATIC]
    assert aromatic.tolist() == [True, True]
    assert smiles_to_graph("C1CCCCC1").nodes[keys.RING].data[keys.RING_AROMATIC].tolist() == [False]
    assert smiles_to_graph("CCO").num_nodes(keys.RING) == 0


def test_ring_set_does_not_depend_on_hydrogens_in_the_input():
    # regression: RemoveHs(sanitize=False) left a plain SSSR, 5 rings for cubane
    cubane = Chem.MolFromSmiles("C12C3C4C1C5C2C3C45")
    assert mol_to_graph(Chem.AddHs(cubane)).num_nodes(keys.RING) == 6


def test_unsanitised_molecule_is_featurised_or_refused_with_a_chemnoether_error():
    # regression: RDKit's RuntimeError (getNumImplicitHs() ... calcImplicitValence()) escaped
    raw = Chem.MolFromSmiles("c1ccccc1O", sanitize=False)
    try:
        graph = mol_to_graph(raw)
    except ChemNoetherError:
        return
    assert_graphs_equal(graph, smiles_to_graph("c1ccccc1O"))


def test_rings_and_subgraphs_can_be_switched_off():
    graph = smiles_to_graph("CC(=O)Oc1ccccc1C(=O)O", rings=False, subgraphs=())
    assert graph.num_nodes(keys.RING) == 0 and graph.num_edges(keys.IN_RING) == 0
    assert graph.num_nodes(keys.SUBGRAPH) == 0 and graph.num_edges(keys.IN_SUBGRAPH) == 0
    assert graph.num_nodes(keys.ATOM) == 13 and graph.num_edges(keys.BOND) == 26
    assert smiles_to_graph("c1ccccc1", subgraphs=None).num_nodes(keys.SUBGRAPH) == 0


# --- 3D ------------------------------------------------------------------------------------


def test_conformer_positions_follow_the_atom_order_given():
    # a scrambled atom order: a featurizer that renumbers atoms canonically for the features but
    # not for the coordinates (DGL-LifeSci's 3D builder) puts positions on the wrong atoms
    mol = embedded("CC(=O)Nc1ccc(O)cc1")
    perm = np.random.default_rng(0).permutation(mol.GetNumAtoms()).tolist()
    mol = Chem.RenumberAtoms(mol, perm)
    conf = mol.GetConformer().GetPositions()
    numbers = [a.GetAtomicNum() for a in mol.GetAtoms()]

    graph = mol_to_graph(mol, positions="conformer", explicit_hydrogens=True, dtype=F64)
    np.testing.assert_array_equal(atom_data(graph)[keys.POS].numpy(), conf)
    assert atom_data(graph)[keys.ATOMIC_NUMBERS].tolist() == numbers
    element = DEFAULT_ATOM_FEATURIZER.slices()["element"]
    columns = atom_data(graph)[keys.NODE_ATTRS][:, element].argmax(dim=1).tolist()
    assert columns == [ELEMENTS.index(a.GetSymbol()) for a in mol.GetAtoms()]

    # implicit hydrogens: the heavy atoms, in their relative order, with their own coordinates
    heavy = [i for i, z in enumerate(numbers) if z > 1]
    graph = mol_to_graph(mol, positions="conformer", dtype=F64)
    np.testing.assert_array_equal(atom_data(graph)[keys.POS].numpy(), conf[heavy])
    assert atom_data(graph)[keys.ATOMIC_NUMBERS].tolist() == [numbers[i] for i in heavy]


def test_conformer_id_selects_the_conformer_and_added_hydrogens_get_coordinates():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    assert list(AllChem.EmbedMultipleConfs(mol, 2, randomSeed=3)) == [0, 1]
    mol = Chem.RemoveHs(mol)
    for cid in (0, 1):
        graph = mol_to_graph(mol, positions="conformer", conformer_id=cid, explicit_hydrogens=True, dtype=F64)
        pos = atom_data(graph)[keys.POS].numpy()
        np.testing.assert_allclose(pos[:3], mol.GetConformer(cid).GetPositions())
        src, dst = (t.numpy() for t in graph.edges(etype=keys.BOND))
        h_bonds = src >= 3
        lengths = np.linalg.norm(pos[src[h_bonds]] - pos[dst[h_bonds]], axis=1)
        assert ((lengths > 0.9) & (lengths < 1.2)).all()  # C-H and O-H bonds


def test_missing_conformer_id_is_refused_naming_the_id():
    # regression: RDKit's ValueError('Bad Conformer Id') escaped
    with pytest.raises(MissingConformerError, match="id 5"):
        mol_to_graph(embedded("CCO"), positions="conformer", conformer_id=5)


def test_embedding_is_seeded_and_keeps_heavy_atoms_first():
    smiles = "CC(=O)Oc1ccccc1"
    mol = Chem.MolFromSmiles(smiles)
    first = smiles_to_graph(smiles, positions="embed", seed=1, dtype=F64)
    again = smiles_to_graph(smiles, positions="embed", seed=1, dtype=F64)
    other = smiles_to_graph(smiles, positions="embed", seed=2, dtype=F64)
    pos = atom_data(first)[keys.POS]
    assert torch.equal(pos, atom_data(again)[keys.POS])
    assert not torch.allclose(pos, atom_data(other)[keys.POS], atol=1e-3)
    assert atom_data(first)[keys.ATOMIC_NUMBERS].tolist() == [a.GetAtomicNum() for a in mol.GetAtoms()]
    # bonded heavy atoms at covalent distances: the coordinates belong to the right atoms
    src, dst = first.edges(etype=keys.BOND)
    lengths = (pos[src] - pos[dst]).norm(dim=1)
    assert ((lengths > 1.15) & (lengths < 1.6)).all()

    with_h = smiles_to_graph(smiles, positions="embed", seed=1, dtype=F64, explicit_hydrogens=True)
    n_heavy = mol.GetNumAtoms()
    numbers = atom_data(with_h)[keys.ATOMIC_NUMBERS].tolist()
    assert numbers == [a.GetAtomicNum() for a in mol.GetAtoms()] + [1] * (len(numbers) - n_heavy)
    assert len(numbers) == Chem.AddHs(mol).GetNumAtoms()
    assert torch.equal(atom_data(with_h)[keys.POS][:n_heavy], pos)


def test_near_edges_are_every_pair_within_the_cutoff():
    for explicit in (False, True):
        graph = smiles_to_graph("CC(=O)Oc1ccccc1", positions="embed", cutoff=2.6, dtype=F64, explicit_hydrogens=explicit)
        pos = atom_data(graph)[keys.POS].numpy()
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        i, j = np.nonzero(dist < 2.6)
        expected = sorted((a, b) for a, b in zip(i.tolist(), j.tolist()) if a != b)
        src, dst = (t.tolist() for t in graph.edges(etype=keys.NEAR))
        assert sorted(zip(src, dst)) == expected
        shift = graph.edges[keys.NEAR].data[keys.EDGE_SHIFT]
        assert shift.dtype == F64 and shift.shape == (len(src), 3) and not shift.any()
    # the bond graph is untouched by the cutoff
    assert smiles_to_graph("CCO", positions="embed", cutoff=5.0).num_edges(keys.BOND) == 4


def test_dtype_sets_positions_and_masses_only():
    graph = smiles_to_graph("CCO", positions="embed", dtype=F64)
    assert atom_data(graph)[keys.POS].dtype == F64 and atom_data(graph)[keys.MASSES].dtype == F64
    assert atom_data(graph)[keys.NODE_ATTRS].dtype == torch.float32
    default = smiles_to_graph("CCO", positions="embed")
    assert atom_data(default)[keys.POS].dtype == torch.float32
    assert atom_data(default)[keys.MASSES].dtype == torch.float32
    assert keys.POS not in atom_data(smiles_to_graph("CCO"))


def test_missing_conformer_is_refused():
    for explicit in (False, True):
        with pytest.raises(MissingConformerError, match="positions='embed'"):
            mol_to_graph(Chem.MolFromSmiles("CCO"), positions="conformer", explicit_hydrogens=explicit)


def test_non_finite_coordinates_are_refused_naming_the_atoms():
    mol = embedded("CCO", hydrogens=False)
    mol.GetConformer().SetAtomPosition(1, Point3D(float("nan"), 0.0, 0.0))
    with pytest.raises(InvalidMoleculeError, match=r"atoms \[1\]"):
        mol_to_graph(mol, positions="conformer")


# --- options -------------------------------------------------------------------------------


def test_fragments_largest_keeps_the_largest_species_in_order():
    assert_graphs_equal(smiles_to_graph("[Na+].CC(=O)[O-]", fragments="largest"), smiles_to_graph("CC(=O)[O-]"))
    # ties go to the first species
    assert atom_data(smiles_to_graph("CN.CC", fragments="largest"))[keys.ATOMIC_NUMBERS].tolist() == [6, 7]
    # size counts heavy atoms: with explicit H, CH4 (5 atoms) is smaller than H2O2 (4 atoms)
    mol_h = Chem.AddHs(Chem.MolFromSmiles("C.OO"))
    numbers = atom_data(mol_to_graph(mol_h, explicit_hydrogens=True, fragments="largest"))[keys.ATOMIC_NUMBERS]
    assert numbers.tolist() == [8, 8, 1, 1]


def test_fragments_largest_keeps_coordinates_on_their_atoms():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO.N"))
    assert AllChem.EmbedMolecule(mol, randomSeed=5) == 0
    mol = Chem.RemoveHs(mol)
    mol = Chem.RenumberAtoms(mol, [0, 3, 1, 2])  # C N C O: the ammonia sits inside the ethanol
    conf = mol.GetConformer().GetPositions()
    graph = mol_to_graph(mol, positions="conformer", fragments="largest", dtype=F64)
    assert atom_data(graph)[keys.ATOMIC_NUMBERS].tolist() == [6, 6, 8]
    np.testing.assert_array_equal(atom_data(graph)[keys.POS].numpy(), conf[[0, 2, 3]])
    src, dst = graph.edges(etype=keys.BOND)
    assert sorted(zip(src.tolist(), dst.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]


def test_dropped_fragments_are_not_checked():
    acetate = smiles_to_graph("CC(=O)[O-]")
    assert_graphs_equal(smiles_to_graph("CC(=O)[O-].[Cs+]", fragments="largest"), acetate)
    assert_graphs_equal(smiles_to_graph("CC(=O)[O-].[Na+]", fragments="largest", metals="error"), acetate)


def test_fragments_keep_and_error():
    assert smiles_to_graph("CC(=O)[O-].[Na+]").num_nodes(keys.ATOM) == 5
    with pytest.raises(InvalidMoleculeError, match="fragments="):
        smiles_to_graph("CC(=O)[O-].[Na+]", fragments="error")
    assert smiles_to_graph("CCO", fragments="error").num_nodes(keys.ATOM) == 3


def test_metals_error_names_the_metal():
    with pytest.raises(UnsupportedElementError, match="Hg"):
        smiles_to_graph("C[Hg]C", metals="error")
    with pytest.raises(UnsupportedElementError, match="Na"):
        smiles_to_graph("CC(=O)[O-].[Na+]", metals="error")
    assert smiles_to_graph("C[Hg]C").num_nodes(keys.ATOM) == 3
    assert smiles_to_graph("CCO", metals="error").num_nodes(keys.ATOM) == 3


@pytest.mark.parametrize("smiles, symbol", [("[Th]", "Th"), ("[U]", "U"), ("C[Th](C)C", "Th")])
def test_unknown_elements_are_refused_or_encoded_as_other(smiles, symbol):
    with pytest.raises(UnsupportedElementError, match=rf"'{symbol}'.*unknown_elements"):
        smiles_to_graph(smiles)
    graph = smiles_to_graph(smiles, unknown_elements="other")
    mol = Chem.MolFromSmiles(smiles)
    element = DEFAULT_ATOM_FEATURIZER.slices()["element"]
    one_hot = atom_data(graph)[keys.NODE_ATTRS][:, element]
    for atom in mol.GetAtoms():
        expected = len(ELEMENTS) if atom.GetSymbol() == symbol else ELEMENTS.index(atom.GetSymbol())
        assert one_hot[atom.GetIdx()].argmax().item() == expected
        assert atom_data(graph)[keys.ATOMIC_NUMBERS][atom.GetIdx()].item() == atom.GetAtomicNum()


@pytest.mark.parametrize(
    "options",
    [
        {"positions": "xyz"},
        {"fragments": "all"},
        {"metals": "drop"},
        {"unknown_elements": "skip"},
        {"subgraphs": ("rings",)},
        {"cutoff": 3.0},  # no positions to cut
        {"dtype": torch.float16},
        {"positions": "embed", "cutoff": -1.0},
        {"positions": "embed", "cutoff": 0.0},
    ],
)
def test_invalid_options_raise_config_error(options):
    with pytest.raises(ConfigError):
        smiles_to_graph("CCO", **options)


# --- refused input -------------------------------------------------------------------------


@pytest.mark.parametrize("smiles", ["C1CC", "C(C", "CC)C", "C[Zz]"])
def test_syntax_errors_say_parse(smiles):
    with pytest.raises(InvalidMoleculeError) as info:
        smiles_to_graph(smiles)
    message = str(info.value)
    assert repr(smiles) in message and "parse" in message and "sanitis" not in message


@pytest.mark.parametrize("smiles, reason", [("c1cccc1", "kekul"), ("C(C)(C)(C)(C)C", "valence")])
def test_chemistry_errors_say_sanitise(smiles, reason):
    with pytest.raises(InvalidMoleculeError) as info:
        parse_smiles(smiles)
    message = str(info.value)
    assert repr(smiles) in message and "sanitis" in message and "parse" not in message
    assert reason in message.lower()
    with pytest.raises(InvalidMoleculeError, match=re.escape(repr(smiles))):
        smiles_to_graph(smiles)


@pytest.mark.parametrize("value, shown", [("", "''"), ("   ", "'   '"), (None, "None"), (3, "3"), (b"CCO", "b'CCO'")])
def test_empty_and_non_string_smiles_are_refused_naming_the_input(value, shown):
    with pytest.raises(InvalidMoleculeError, match=re.escape(shown)):
        smiles_to_graph(value)


def test_bad_molecules_are_refused():
    with pytest.raises(InvalidMoleculeError, match="None"):
        mol_to_graph(None)
    with pytest.raises(InvalidMoleculeError, match="str"):
        mol_to_graph("CCO")
    with pytest.raises(InvalidMoleculeError, match="no atoms"):
        mol_to_graph(Chem.Mol())
    for options in ({}, {"unknown_elements": "other"}):
        with pytest.raises(UnsupportedElementError, match=r"'\*C'.*dummy"):
            smiles_to_graph("*C", **options)


def test_errors_name_the_smiles_as_written():
    # the message shows the caller's SMILES even where RDKit's canonical form differs
    with pytest.raises(UnsupportedElementError, match=re.escape("'OC[Th]'")):
        smiles_to_graph("OC[Th]")
    with pytest.raises(InvalidMoleculeError, match=re.escape("'[Na+].OC(C)=O'")):
        smiles_to_graph("[Na+].OC(C)=O", fragments="error")


def test_a_single_subgraph_kind_may_be_given_as_a_string():
    as_string = smiles_to_graph("CC(=O)Oc1ccccc1", subgraphs="brics")
    as_tuple = smiles_to_graph("CC(=O)Oc1ccccc1", subgraphs=("brics",))
    assert as_string.num_nodes("subgraph") == as_tuple.num_nodes("subgraph") > 1


def test_a_misspelt_option_is_a_config_error_listing_the_valid_ones():
    with pytest.raises(ConfigError, match="explicit_hydrogens"):
        smiles_to_graph("CCO", explicit_hydrogen=True)
