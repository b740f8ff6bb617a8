"""oracle_checks: each conserved quantity on hand-made reactions, and the facts of USPTO-50k.

The fixture ``data/uspto50k_sample.csv`` holds the first 200 rows of the USPTO-50k validation
split shipped in /work/shared/data/reactions (Schneider, Stiefl & Landrum 2016; CC0).
"""

from pathlib import Path

import pandas as pd
import pytest

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions import (
    CHARGE_PENALTY,
    element_subset,
    formal_charge,
    mapped_elements,
    oracle_checks,
    oracle_table,
    parse_reaction,
    sanitization,
)

SAMPLE = Path(__file__).parent / "data" / "uspto50k_sample.csv"
AMIDE = "[CH3:1][C:2](=[O:3])Cl.[NH2:4][CH3:5]>>[CH3:1][C:2](=[O:3])[NH:4][CH3:5]"


def sample_reactions() -> list[str]:
    return pd.read_csv(SAMPLE)["reactants>reagents>production"].tolist()


def test_real_mapped_reaction_passes_everything():
    verdict = oracle_checks(parse_reaction(AMIDE))
    assert verdict.ok and verdict.score == 1.0 and verdict.reasons == ()
    assert {c.check: c.passed for c in verdict.checks} == {
        "element_subset": True, "mapped_elements": True, "formal_charge": True, "electrons": True,
        "sanitization": True, "no_change": True, "main_product": True,
    }  # fmt: skip


def test_unmapped_reaction_skips_mapped_elements():
    verdict = oracle_checks("CC(=O)Cl.CN>>CNC(C)=O")  # a string is parsed first
    result = mapped_elements(parse_reaction("CC(=O)Cl.CN>>CNC(C)=O"))
    assert result.skipped and result.passed is None and result.reasons == ()
    assert verdict.ok and verdict.score == 1.0


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("CCO>>CCCl", ["element_not_conserved:Cl+1"]),
        ("ClCC>>ClCCCl", ["element_not_conserved:Cl+1"]),
        ("CC>>CCC(Br)Br", ["element_not_conserved:Br+2", "element_not_conserved:C+1"]),
        ("[CH3:1][OH:2]>>[CH3:1][O:2][Na]", ["element_not_conserved:Na+1"]),
    ],
)
def test_element_not_conserved(text, codes):
    verdict = oracle_checks(text)
    assert not verdict.ok and verdict.score == 0.0
    assert sorted(verdict.codes) == sorted(codes)
    assert all(r.check == "element_subset" and r.severity == "error" for r in verdict.reasons)
    assert "the products have" in verdict.reasons[0].message


def test_lost_atoms_are_fine_products_are_a_sub_multiset():
    # by-products omitted, as in USPTO: the leaving Cl and the water are missing from the products
    assert oracle_checks("CC(=O)Cl.OCC>>CC(=O)OCC").ok


def test_reagents_count_as_reactant_atoms_by_default():
    r = parse_reaction("CCO>ClS(Cl)=O>CCCl")
    assert element_subset(r).passed
    assert oracle_checks(r).ok
    strict = oracle_checks(r, include_reagents=False)
    assert not strict.ok and strict.codes == ("element_not_conserved:Cl+1",)


def test_hydrogen_counted_when_the_writer_tracks_it():
    # both sides write every H as an atom: hydrogen is balanced too
    explicit = oracle_checks("[H]C([H])([H])[H]>>[H]C([H])([H])C([H])([H])[H]")
    assert sorted(explicit.codes) == ["element_not_conserved:C+1", "element_not_conserved:H+2"]
    # implicit hydrogens only (as in USPTO, which omits reductants): only heavy atoms are compared
    assert oracle_checks("C>>CC").codes == ("element_not_conserved:C+1",)
    assert oracle_checks("C=C>>CC").ok
    # one H written as an atom is enough: every hydrogen (implicit ones too) is then counted
    assert oracle_checks("[H][H].C=C>>CC").ok
    assert oracle_checks("C=C>>[H]C([H])([H])C([H])([H])[H]").codes == ("element_not_conserved:H+2",)
    assert oracle_checks("[H]Cl.C=C>>CCCl").ok


def test_mapped_atom_changing_element():
    r = parse_reaction("[CH3:1][OH:2].[SH2:3]>>[CH3:1][SH:2]")  # S is present, but map 2 was O
    assert element_subset(r).passed
    result = mapped_elements(r)
    assert not result.passed
    assert [x.code for x in result.reasons] == ["mapped_element_changed:2:O->S"]
    assert "atom map 2 is O" in result.reasons[0].message
    assert not oracle_checks(r).ok


def test_charge_change_is_soft():
    r = parse_reaction("CC(=O)O>>CC(=O)[O-]")
    result = formal_charge(r)
    assert result.reasons[0].code == "formal_charge_changed:-1"
    assert result.reasons[0].severity == "warning"
    verdict = oracle_checks(r)
    assert verdict.ok and verdict.score == pytest.approx(CHARGE_PENALTY)
    two = oracle_checks("C[NH3+].C[NH3+]>>CNC")
    assert two.ok and two.codes == ("formal_charge_changed:-2",) and two.score == pytest.approx(CHARGE_PENALTY**2)


def test_charge_separated_product_keeps_charge():
    assert oracle_checks("CN(C)C.OO>>C[N+](C)(C)[O-]").score == 1.0
    assert oracle_checks("CN(C)C.OO>>C[N+](C)(C)[O-].O").score == 1.0


def test_pentavalent_carbon_fails_sanitization():
    r = parse_reaction("CCCCCC>>C(C)(C)(C)(C)C")
    result = sanitization(r)
    assert [x.code for x in result.reasons] == ["sanitization_failed:product1:valence"]
    assert "'CC(C)(C)(C)C'" in result.reasons[0].message
    verdict = oracle_checks(r)
    assert not verdict.ok and verdict.score == 0.0
    assert element_subset(r).passed


def test_kekulize_failure_and_bad_reactant_are_flagged():
    assert oracle_checks("CCCCC>>c1cccc1").codes == ("sanitization_failed:product1:kekulize",)
    assert oracle_checks("CC.FC(F)(F)(F)F>>CCF").codes == ("sanitization_failed:reactant2:valence",)
    assert oracle_checks("CC>FC(F)(F)(F)F>CCF").codes == ("sanitization_failed:reagent1:valence",)


def test_several_violations_are_all_reported():
    verdict = oracle_checks("[CH3:1][OH:2]>>[CH3:1][S:2](C)(C)(C)(C)(C)(C)[O-]")
    codes = set(verdict.codes)
    assert "mapped_element_changed:2:O->S" in codes
    assert "element_not_conserved:S+1" in codes and "element_not_conserved:C+6" in codes
    assert "formal_charge_changed:-1" in codes
    assert "sanitization_failed:product1:valence" in codes


def test_oracle_table_rows_and_parse_errors():
    table = oracle_table([AMIDE, "CCO>>CCCl", "CCO", parse_reaction("C>>CO")])
    assert table["ok"].tolist() == [True, False, False, False]
    assert table.loc[1, "codes"] == "element_not_conserved:Cl+1"
    assert not table.loc[1, "element_subset"] and table.loc[1, "sanitization"]
    assert "'CCO'" in table.loc[2, "error"] and "'>'" in table.loc[2, "error"]
    assert table.loc[0, "mapped_elements"] and table.loc[3, "mapped_elements"] is None
    assert table.loc[3, "codes"] == "element_not_conserved:O+1"
    assert table["error"].isna().tolist() == [True, True, False, True]


def test_uspto_sample_facts():
    """README facts: products are a sub-multiset, mapped elements match, charge mostly kept."""
    rows = sample_reactions()
    assert len(rows) == 200
    table = oracle_table(rows)
    assert table["error"].isna().all()
    assert table["element_subset"].all()
    assert table["mapped_elements"].all()  # every row is mapped, so never skipped
    assert table["sanitization"].all()
    assert table["ok"].all()
    assert table["formal_charge"].mean() >= 0.90
    assert ((table["score"] == 1.0) == table["formal_charge"]).all()
