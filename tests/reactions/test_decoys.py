"""Decoy families D0-D4: each decoy really is of its family, generators are seeded, empty when
a family cannot apply. Real reactions come from the 200-row USPTO-50k fixture (see test_oracle)."""

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions import (
    FAMILIES,
    GENERATORS,
    ReactionPool,
    apply_template,
    canonical_key,
    element_counts,
    extract_template,
    generate_D0,
    generate_D1,
    generate_D2,
    generate_D3,
    generate_D4,
    generate_decoys,
    oracle_checks,
    parse_reaction,
    plain_product,
    skeleton_key,
)

SAMPLE = Path(__file__).parent / "data" / "uspto50k_sample.csv"
# acylation of the primary amine; the other amine is the "wrong site" for the same template
DIAMINE = (
    "[NH2:1][CH2:2][CH2:3][CH2:4][CH:5]([CH3:6])[NH2:7].Cl[C:8]([CH3:9])=[O:10]"
    ">>[CH3:9][C:8](=[O:10])[NH:1][CH2:2][CH2:3][CH2:4][CH:5]([CH3:6])[NH2:7]"
)


@pytest.fixture(scope="module")
def sample():
    return [parse_reaction(s) for s in pd.read_csv(SAMPLE)["reactants>reagents>production"]]


@pytest.fixture(scope="module")
def pool(sample):
    return ReactionPool(sample)


@pytest.fixture(scope="module")
def some(sample):
    return sample[:12] + [parse_reaction(DIAMINE)]


def _heavy(smiles_or_mol) -> Counter:
    mol = Chem.MolFromSmiles(smiles_or_mol) if isinstance(smiles_or_mol, str) else smiles_or_mol
    return element_counts([mol])


def _bonds(mol) -> dict:
    return {frozenset((b.GetBeginAtomIdx(), b.GetEndAtomIdx())): b.GetBondTypeAsDouble() for b in mol.GetBonds()}


def test_d0_breaks_element_balance_and_nothing_else(some):
    for r in some:
        decoys = generate_D0(r, 0)
        assert decoys, r.text
        for d in decoys:
            assert d.family == "D0"
            verdict = oracle_checks(d.reaction)
            assert not verdict.ok
            assert verdict.codes and all(c.startswith("element_not_conserved:") for c in verdict.codes)
            assert Chem.MolFromSmiles(d.smiles) is not None  # sanitises: only the elements give it away
            assert canonical_key(Chem.MolFromSmiles(d.smiles)) != r.product_key()


def test_d1_changes_exactly_one_bond_order(some):
    for r in some:
        base = plain_product(r)
        decoys = generate_D1(r, 1)
        assert decoys, r.text
        for d in decoys:
            assert d.family == "D1"
            assert [a.GetAtomicNum() for a in d.mol.GetAtoms()] == [a.GetAtomicNum() for a in base.GetAtoms()]
            old, new = _bonds(base), _bonds(d.mol)
            assert old.keys() == new.keys()  # same connectivity
            changed = [k for k in old if old[k] != new[k]]
            assert len(changed) == 1 and abs(old[changed[0]] - new[changed[0]]) == 1
            parsed = Chem.MolFromSmiles(d.smiles, sanitize=False)
            assert parsed is not None and skeleton_key(parsed) == skeleton_key(base)
            assert canonical_key(parsed) != r.product_key()


def test_d1_includes_unsanitisable_decoys_the_oracle_flags(sample):
    decoys = [d for r in sample[:20] for d in generate_D1(r, 0)]
    flagged = [d for d in decoys if not oracle_checks(d.reaction).ok]
    assert flagged and len(flagged) < len(decoys)  # some are over-valent, some are valid molecules
    for d in flagged:
        assert {x.check for x in oracle_checks(d.reaction).reasons} == {"sanitization"}


def test_d2_moves_a_bond_keeping_atoms_and_sanitisability(some):
    for r in some:
        base = plain_product(r)
        decoys = generate_D2(r, 2)
        assert decoys, r.text
        for d in decoys:
            assert d.family == "D2"
            mol = Chem.MolFromSmiles(d.smiles)
            assert mol is not None
            assert _heavy(mol) == _heavy(base)
            assert skeleton_key(mol) != skeleton_key(base)  # connectivity differs
            old, new = set(_bonds(base)), set(_bonds(d.mol))
            assert len(old - new) == 1 and len(new - old) == 1
            assert len((old - new).pop() & (new - old).pop()) == 1  # one end kept: a bond moved
            assert oracle_checks(d.reaction).ok


def test_d3_is_another_reactions_product(sample, pool):
    products = set(pool.products)
    for r in sample[:12]:
        decoys = generate_D3(r, 3, pool)
        assert len(decoys) == 5
        keys = [canonical_key(Chem.MolFromSmiles(d.smiles)) for d in decoys]
        assert r.product_key() not in keys and len(set(keys)) == 5
        for d in decoys:
            assert d.family == "D3" and d.smiles in products
        sims = [float(d.note.split("Tanimoto ")[1].rstrip(")")) for d in decoys]
        assert sims == sorted(sims, reverse=True)


def test_d4_own_template_reproduces_the_true_product(sample):
    for r in sample[:40]:
        template = extract_template(r)
        assert template is not None, r.text
        outcomes = apply_template(template, r.unmapped_sanitized())
        assert r.product_key() in {canonical_key(m) for m in outcomes.values()}, (r.text, template.smarts)


def test_d4_wrong_site_of_own_template():
    r = parse_reaction(DIAMINE)
    decoys = generate_D4(r, 0)
    assert [d.smiles for d in decoys] == ["CC(=O)NC(C)CCCN"]
    assert decoys[0].note == "own template at another site"


def test_d4_decoys_pass_the_oracle_and_differ(some, pool):
    made = 0
    for r in some:
        decoys = generate_D4(r, 4, pool)
        made += bool(decoys)
        for d in decoys:
            assert d.family == "D4"
            mol = Chem.MolFromSmiles(d.smiles)
            assert mol is not None
            assert oracle_checks(d.reaction).ok
            have = element_counts(r.reactant_mols + r.reagent_mols)
            assert all(n <= have[el] for el, n in _heavy(mol).items())
            assert canonical_key(mol) != r.product_key()
    assert made >= len(some) // 2  # a 200-reaction pool has few templates; most reactions get one


@pytest.mark.parametrize("family", FAMILIES)
def test_generators_are_deterministic(sample, pool, family):
    def run(rng):
        out = []
        for r in sample[:6]:
            args = (pool,) if family in ("D3", "D4") else ()
            out.append([d.smiles for d in GENERATORS[family](r, rng(), *args)])
        return out

    assert run(lambda: 7) == run(lambda: 7)
    assert run(lambda: np.random.default_rng(7)) == run(lambda: 7)  # a seed or a Generator


def test_no_decoy_when_a_family_cannot_make_one(pool):
    bad = parse_reaction("CCCCCC>>C(C)(C)(C)(C)C")  # the product does not sanitise
    for generate in (generate_D0, generate_D1, generate_D2, generate_D4):
        assert generate(bad, 0) == []
    methane = parse_reaction("C>>C")
    assert generate_D1(methane, 0) == [] and generate_D2(methane, 0) == []
    assert generate_D0(methane, 0)  # an element swap still works
    assert generate_D4(parse_reaction("CC(=O)Cl.CN>>CNC(C)=O"), 0) == []  # unmapped, no pool
    alone = parse_reaction(DIAMINE)
    assert generate_D3(alone, 0, ReactionPool([alone])) == []  # only its own, identical product


def test_generate_decoys_tags_families(sample, pool):
    decoys = generate_decoys(sample[1], seed=0, pool=pool, n=2)
    assert {d.family for d in decoys} == set(FAMILIES)
    assert Counter(d.family for d in decoys).most_common(1)[0][1] <= 2
    assert [d.smiles for d in generate_decoys(sample[1], 0, pool, families=("D1",), n=2)] == [
        d.smiles for d in decoys if d.family == "D1"
    ]
    assert all(d.reaction.text.split(">")[0] == sample[1].without_maps().text.split(">")[0] for d in decoys)
    with pytest.raises(ValueError, match="D9"):
        generate_decoys(sample[1], 0, families=("D9",))
