"""Reactions as chemists write them (issue 16): by-products, spectators, null reactions, hydrogens."""

import math

import pytest

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions import oracle_checks, parse_reaction
from chemnoether.reactions.api import score_reactions
from chemnoether.reactions.balance import balance_reaction, formula_text

ESTER = "CCO.CC(=O)O>>CCOC(C)=O"
AMIDE = "OC(=O)c1ccccc1.NCc1ccccc1>>O=C(NCc1ccccc1)c1ccccc1"


@pytest.mark.parametrize(
    ("text", "inferred", "unbalanced"),
    [
        (ESTER, ("O",), ""),  # Fischer esterification: water
        ("CC(=O)Cl.NC>>CC(=O)NC", ("Cl",), ""),  # acylation: HCl
        ("CC(C)(C)OC(=O)NC>>CN", ("O=C=O", "C=C(C)C"), ""),  # Boc removal: CO2 + isobutene
        ("CC(=O)[O-].[Na+].CBr>>CC(=O)OC", ("[Na+]", "[Br-]"), ""),  # a salt
        ("CC(=O)C>>CC(O)C", (), "products need H2"),  # a reduction whose reductant is omitted
        ("CCOC(C)=O.CN>>CNC(C)=O", (), "reactants keep C2H6O"),  # ethanol: written nowhere, closed
    ],
)
def test_inferred_byproducts_close_the_balance(text, inferred, unbalanced):
    balance = balance_reaction(parse_reaction(text))
    if text.startswith("CCOC"):  # ethanol is a by-product the list knows: it is inferred, not left
        assert balance.inferred == ("CCO",) and balance.closed
        return
    assert balance.inferred == inferred
    assert balance.unbalanced_text() == unbalanced
    assert balance.closed == (unbalanced == "")


def test_formula_text_hill_order_and_charge():
    assert formula_text(balance_reaction(parse_reaction("CCCO.O>>CCC=O")).spare) == "H4O"
    from collections import Counter

    assert formula_text(Counter({"C": 2, "H": 6, "O": 1})) == "C2H6O"
    assert formula_text(Counter({"O": 2, "C": 1})) == "CO2"  # carbon without hydrogen
    assert formula_text(Counter({"Cl": 1, "charge": -1})) == "Cl-"
    assert formula_text(Counter({"N": 1, "H": 4, "charge": 1})) == "H4N+"


def test_written_byproducts_and_spectators_do_not_change_the_score():
    rows = [ESTER, ESTER + ".O", "O." + ESTER + ".O",  # main product; balanced; water on both sides too
            AMIDE, AMIDE + ".O", "CC(=O)O." + AMIDE + ".CC(=O)O"]  # fmt: skip
    out = score_reactions(rows)
    assert out["ok"].all() and out["oracle_ok"].all()
    for block in (out.iloc[:3], out.iloc[3:]):
        for column in ("score", "learned_score"):  # equal up to the round-off of batching
            assert block[column].to_numpy() == pytest.approx([block[column].iloc[0]] * 3, rel=1e-6)
        assert (block["byproducts"] == "O").all()
    assert out["spectators"].tolist() == ["", "", "O", "", "", "CC(=O)O"]


@pytest.mark.parametrize("text", ["CCO>>CCO", "CCO.CC(=O)O>>CCO", "CCO.CC(=O)O>>CC(=O)O.CCO", "[H]OC([H])([H])[H]>>CO"])
def test_null_reactions_score_zero_with_a_named_reason(text):
    verdict = oracle_checks(text)
    assert not verdict.ok and "no_bond_change" in verdict.codes
    row = score_reactions(text).iloc[0]
    assert row["ok"] and row["score"] == 0 and math.isnan(row["learned_score"])
    assert "no_bond_change" in row["oracle_reasons"]


def test_stereo_change_is_not_a_null_reaction():
    assert oracle_checks("C[C@H](O)CC>>C[C@@H](O)CC").ok


def test_wrong_byproducts_break_the_balance():
    assert oracle_checks(ESTER + ".Cl").codes == ("element_not_conserved:Cl+1",)  # HCl from nowhere
    assert oracle_checks(ESTER + ".O.O").codes == ("element_not_conserved:O+1",)  # one water too many
    only = oracle_checks("CCO.CC(=O)O>>O")  # the main product left out
    assert not only.ok and only.codes == ("no_main_product",)
    assert "water" in only.reasons[0].message
    assert oracle_checks("C.O=O.O=O>>O=C=O.O.O").ok  # methane burns: no organic reactant lost


def test_hydrogen_and_charge_are_exact_when_hydrogens_are_written():
    good = "[H]Cl.[H]O[H]>>[Cl-].[H][O+]([H])[H]"
    assert oracle_checks(good).ok and oracle_checks(good).score == 1.0
    # the same step with its charge broken: a complete equation cannot create electrons
    broken = oracle_checks("[H]Cl.[H]O[H]>>[Cl-].[H][O+]([H])[H].[Na+]")
    assert not broken.ok
    charge = next(r for r in broken.reasons if r.check == "formal_charge")
    assert charge.severity == "error"
    # without written hydrogens (a record) a charge change only lowers the score
    assert oracle_checks("CC(=O)O>>CC(=O)[O-]").ok


def test_radicals_appearing_lower_the_score():
    verdict = oracle_checks("ClCl>>[Cl].[Cl]")
    assert verdict.ok and verdict.codes == ("unpaired_electrons_changed:+2",)
    assert verdict.score == pytest.approx(0.25)


def test_balance_columns_in_the_output():
    out = score_reactions(["CC(=O)Cl.NC>>CC(=O)NC", "CC(=O)C>>CC(O)C"])
    assert out["byproducts"].tolist() == ["Cl", ""]
    assert out["unbalanced"].tolist() == ["", "products need H2"]
