"""Elementary steps from the arrow-pushing templates: they conserve what a step conserves, and
each decoy family breaks what it says it breaks."""

import pytest

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.reactions import oracle_checks
from chemnoether.reactions.step_data import step_examples, step_table, substrate_split
from chemnoether.reactions.steps import KINDS, elementary_steps, step_decoys

SUBSTRATES = ["CC(=O)Cl", "CC(C)(C)Br", "CCC(=O)CC", "NCCO", "CC(=O)O", "CCCBr", "CC(=O)OCC", "Nc1ccc(O)cc1", "CC(C)=O"]


@pytest.fixture(scope="module")
def steps():
    return [st for i, s in enumerate(SUBSTRATES) for st in elementary_steps(s, i)]


def test_steps_conserve_atoms_charge_and_electrons(steps):
    kinds = {st.kind for st in steps}
    assert kinds == set(KINDS)  # every template and follow-up fires on these substrates
    for st in steps:
        assert "[H]" in st.reaction  # written as mechanisms are: hydrogens as atoms
        verdict = oracle_checks(st.reaction)
        assert verdict.ok and verdict.score == 1.0, (st.reaction, verdict.codes)
        assert verdict.balance.explicit_h and not verdict.balance.missing


def test_each_decoy_family_breaks_its_quantity(steps):
    seen = set()
    for i, st in enumerate(steps):
        for family, text in step_decoys(st, i):
            seen.add(family)
            verdict = oracle_checks(text)
            checks = {r.check for r in verdict.reasons if r.severity == "error"}
            if family == "E_charge":
                assert not verdict.ok and checks & {"formal_charge", "sanitization"}
            elif family == "E_hydrogen":
                assert not verdict.ok and any(c.startswith("element_not_conserved:H+2") for c in verdict.codes)
            elif family == "E_valence":
                assert not verdict.ok and "sanitization" in checks
            else:  # E_bond keeps atoms, charge and valence: only the learned score can see it
                assert family == "E_bond" and verdict.ok and text != st.reaction
    assert seen == {"E_charge", "E_hydrogen", "E_valence", "E_bond"}


def test_same_seed_same_steps():
    assert elementary_steps("CCC(=O)CC", 3) == elementary_steps("CCC(=O)CC", 3)


def test_split_by_substrate_and_training_tables():
    assert {substrate_split(s) for s in SUBSTRATES} <= {"fit", "val", "test"}
    table = step_table(SUBSTRATES, substrate_split("CCC(=O)CC"))
    assert set(table["substrate"]) <= {s for s in SUBSTRATES if substrate_split(s) == substrate_split("CCC(=O)CC")}
    reactions, examples = step_examples(table)
    assert reactions["key"].is_unique and set(examples["key"]) == set(reactions["key"])
    assert (examples.groupby("key")["family"].apply(lambda f: (f == "real").sum()) == 1).all()


def test_partners_vary_and_an_arenium_ion_rearomatises():
    steps = [st for seed in range(6) for st in elementary_steps("Nc1ccc(O)cc1", seed)]
    partners = {m for st in steps if st.kind in ("protonation", "deprotonation") for m in st.reaction.split(">>")[0].split(".")[1:]}
    assert len(partners) >= 2  # which acid or base is written changes with the seed
    for st in steps:
        if st.kind == "rearomatisation":  # the nitro-arene is aromatic again, the cation gone
            product = max(st.reaction.split(">>")[1].split("."), key=len)
            assert "+]" in st.reaction.split(">>")[0] and "c" in product and "[C+]" not in product and "[CH+]" not in product
