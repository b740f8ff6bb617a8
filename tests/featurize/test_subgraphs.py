"""Subgraph nodes: functional-group matches are RDKit's SMARTS matches; BRICS fragments partition the atoms."""

from collections import Counter

import pytest
from rdkit import Chem
from rdkit.Chem import BRICS

import chemnoether  # noqa: F401  (before dgl, see chemnoether._dgl_compat)
from chemnoether import keys
from chemnoether.featurize import FUNCTIONAL_GROUPS, SUBGRAPH_TYPES, smiles_to_graph

BRICS_TYPE = SUBGRAPH_TYPES.index("brics_fragment")

# at least one molecule for every group of the catalogue (checked below), plus decoys
GROUP_MOLECULES = [
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "CC(=O)Nc1ccc(O)cc1",  # paracetamol
    "CC(N)=O",  # acetamide
    "O=[N+]([O-])c1ccccc1",  # nitrobenzene, charge-separated
    "CN(=O)=O",  # nitromethane, pentavalent N
    "CC(=O)[O-]", "CCOC(C)=O", "COC(N)=O", "NC(N)=O", "CC(Cl)=O", "CC(=O)OC(C)=O",
    "O=Cc1ccccc1", "CC(C)=O", "CCO", "Oc1ccccc1", "CCOCC", "C1CO1", "CCOOCC",
    "CN", "CNC", "CN(C)C", "C[N+](C)(C)C", "CC=NC", "CC#N", "c1ccc(cc1)N=Nc1ccccc1", "CNNC",
    "CN=C=O", "CCS", "CSC", "CSSC", "CS(C)=O", "CS(C)(=O)=O", "Nc1ccc(cc1)S(N)(=O)=O",
    "CS(=O)(=O)O", "COP(=O)(OC)OC", "CP(=O)(O)O", "CCCl", "Clc1ccccc1", "C=CC", "CC#CC",
    "c1ccncc1", "OC=CC", "OB(O)c1ccccc1", "C1CCC2(CC1)CCCC2", "c1ccc2ccccc2c1",
    "[NH3+]CC(=O)[O-]", "CC(=O)[O-].[Na+]", "C[Hg]C", "FC(F)(F)C(=O)O", "O=C1CCCN1",
]  # fmt: skip


def subgraphs(graph):
    """Multiset of (type name, atom set) of every subgraph node."""
    atoms, nodes = (t.tolist() for t in graph.edges(etype=keys.IN_SUBGRAPH))
    members = [set() for _ in range(graph.num_nodes(keys.SUBGRAPH))]
    for a, s in zip(atoms, nodes):
        members[s].add(a)
    types = graph.nodes[keys.SUBGRAPH].data[keys.SUBGRAPH_TYPE].tolist() if members else []
    return Counter((SUBGRAPH_TYPES[t], frozenset(m)) for t, m in zip(types, members))


def rdkit_group_matches(mol):
    return Counter(
        (group.name, frozenset(match))
        for group in FUNCTIONAL_GROUPS
        for match in mol.GetSubstructMatches(Chem.MolFromSmarts(group.smarts))
    )


def test_catalogue_is_well_formed():
    names = [g.name for g in FUNCTIONAL_GROUPS]
    assert len(set(names)) == len(names)
    assert SUBGRAPH_TYPES == (*names, "brics_fragment")
    for group in FUNCTIONAL_GROUPS:
        assert Chem.MolFromSmarts(group.smarts) is not None, group.name


@pytest.mark.parametrize("explicit", [False, True])
def test_functional_groups_are_exactly_the_smarts_matches(explicit):
    seen = set()
    for smiles in GROUP_MOLECULES:
        mol = Chem.MolFromSmiles(smiles)
        if explicit:
            mol = Chem.AddHs(mol)
        graph = smiles_to_graph(smiles, subgraphs=("functional_groups",), explicit_hydrogens=explicit)
        got = subgraphs(graph)
        assert got == rdkit_group_matches(mol), smiles
        seen |= {name for name, _ in got}
    if not explicit:
        assert seen == {g.name for g in FUNCTIONAL_GROUPS}  # the set exercises every group


@pytest.mark.parametrize("smiles", ["p1ppppp1", "b1nbnbn1", "c1ccc2c(c1)[se]c1ccccc12", "[SiH2]=[SiH2]", "C=O"])
def test_pre_filter_never_hides_a_match(smiles):
    # regression: aromatic_ring's pre-filter wanted C, N, O or S and hid hexaphosphabenzene's ring
    mol = Chem.MolFromSmiles(smiles)
    assert subgraphs(smiles_to_graph(smiles, subgraphs=("functional_groups",))) == rdkit_group_matches(mol)


def test_groups_of_known_molecules():
    def names(smiles):
        return Counter(name for name, _ in subgraphs(smiles_to_graph(smiles, subgraphs=("functional_groups",))))

    aspirin = names("CC(=O)Oc1ccccc1C(=O)O")
    assert aspirin["ester"] == 1 and aspirin["carboxylic_acid"] == 1 and aspirin["aromatic_ring"] == 1
    assert names("CC(N)=O")["amide"] == 1
    assert names("CC(=O)O")["amide"] == 0 and names("CC(=O)O")["ester"] == 0
    nitro = subgraphs(smiles_to_graph("O=[N+]([O-])c1ccccc1", subgraphs=("functional_groups",)))
    nitro_atoms = [atoms for name, atoms in nitro if name == "nitro"]
    assert nitro_atoms == [frozenset({0, 1, 2})]  # the N and both O
    assert names("CCN")["primary_amine"] == 1 and names("CC(N)=O")["primary_amine"] == 0
    assert names("c1ccncc1")["heteroaromatic_n"] == 1
    assert names("C=C")["alkene"] == 1 and names("c1ccccc1")["alkene"] == 0


def _brics_bonds(mol):
    return {frozenset(pair) for pair, _ in BRICS.FindBRICSBonds(mol)}


@pytest.mark.parametrize(
    "smiles",
    ["CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", "CCO", "c1ccccc1", "CC(=O)[O-].[Na+]",
     "CCCCOc1ccc(CN2CCOCC2)cc1", "C1CCC2(CC1)CCCC2", "[CH3]"],
)  # fmt: skip
def test_brics_fragments_partition_the_atoms(smiles):
    mol = Chem.MolFromSmiles(smiles)
    graph = smiles_to_graph(smiles, subgraphs=("brics",))
    fragments = subgraphs(graph)
    assert all(name == "brics_fragment" for name, _ in fragments)
    assert set(graph.nodes[keys.SUBGRAPH].data[keys.SUBGRAPH_TYPE].tolist()) == {BRICS_TYPE}
    atoms, _ = graph.edges(etype=keys.IN_SUBGRAPH)
    assert sorted(atoms.tolist()) == list(range(mol.GetNumAtoms()))  # every atom exactly once
    # BRICS cuts only acyclic bonds, so each cut adds one piece
    n_components = len(Chem.GetMolFrags(mol))
    assert graph.num_nodes(keys.SUBGRAPH) == len(_brics_bonds(mol)) + n_components
    # no BRICS bond inside a fragment, every other bond inside one
    cut = _brics_bonds(mol)
    fragment_of = {a: atoms for _, atoms in fragments for a in atoms}
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        assert (fragment_of[i] == fragment_of[j]) == (frozenset((i, j)) not in cut)


def test_default_subgraphs_are_groups_then_fragments():
    smiles = "CC(=O)Nc1ccc(O)cc1"
    mol = Chem.MolFromSmiles(smiles)
    graph = smiles_to_graph(smiles)
    types = graph.nodes[keys.SUBGRAPH].data[keys.SUBGRAPH_TYPE]
    assert ((types >= 0) & (types < len(SUBGRAPH_TYPES))).all()
    both = subgraphs(graph)
    groups = subgraphs(smiles_to_graph(smiles, subgraphs=("functional_groups",)))
    fragments = subgraphs(smiles_to_graph(smiles, subgraphs=("brics",)))
    assert both == groups + fragments
    assert groups == rdkit_group_matches(mol)
    assert smiles_to_graph(smiles, subgraphs=("brics", "functional_groups")).num_nodes(keys.SUBGRAPH) == sum(
        both.values()
    )
