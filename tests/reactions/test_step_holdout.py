"""The leave-kinds-out measurement: the kind groups cover every step kind once, a withheld kind
never reaches training, and the learned score can be trained on the decoys the oracle passes only."""

from pathlib import Path

import pandas as pd
import pytest

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.errors import ConfigError
from chemnoether.reactions.step_data import KIND_GROUPS, kinds_named, step_examples, step_table, uspto_substrates
from chemnoether.reactions.steps import KINDS, elementary_steps
from chemnoether.reactions.train_scorer import COLUMN, add_steps, partition, passed_decoys

SAMPLE = Path(__file__).parent / "data" / "uspto50k_sample.csv"


def test_groups_hold_every_kind_once():
    grouped = [k for kinds in KIND_GROUPS.values() for k in kinds]
    assert sorted(grouped) == sorted(KINDS)


def test_kinds_named_reads_kinds_and_groups():
    assert kinds_named("") == ()
    assert kinds_named("rearrangement, sn2") == ("hydride_shift", "tautomerisation", "sn2")
    assert kinds_named("hydride_shift,rearrangement") == ("hydride_shift", "tautomerisation")  # no repeats
    with pytest.raises(ConfigError, match="hydride_shfit"):
        kinds_named("hydride_shfit")


@pytest.fixture(scope="module")
def sample():
    reactions, _ = partition(pd.read_csv(SAMPLE)[COLUMN].tolist())
    return reactions


def test_withheld_kinds_stay_out_of_training(sample):
    withheld = kinds_named("proton_transfer")
    empty = pd.DataFrame(columns=["key", "family", "smiles", "product", "oracle_ok", "oracle_score", "oracle_codes"])
    added, _, info = add_steps(sample, empty, 6, withheld, log=lambda _: None)
    trained = set(added["text"])
    substrates = uspto_substrates(sample["text"].tolist())
    every = pd.concat([step_table(substrates, "fit", 6), step_table(substrates, "val", 1)])
    out = set(every.loc[every["kind"].isin(withheld), "reaction"])
    kept = set(every.loc[~every["kind"].isin(withheld), "reaction"])
    assert out - kept and kept and info["withheld_kinds"] == list(withheld)
    assert not (out - kept) & trained  # no step of a withheld kind is trained on...
    assert kept <= trained  # ... and every other step is


def test_passed_decoys_keeps_real_steps_and_what_the_oracle_passes():
    steps = [st for i, s in enumerate(["CCC(=O)CC", "CC(C)(C)Br"]) for st in elementary_steps(s, i)]
    table = pd.DataFrame({"substrate": [st.substrate for st in steps], "kind": [st.kind for st in steps],
                          "reaction": [st.reaction for st in steps], "split": "fit"})  # fmt: skip
    _, examples = step_examples(table)
    kept = passed_decoys(examples)
    assert (kept["family"] == "real").sum() == (examples["family"] == "real").sum() > 0
    assert set(kept["family"]) == {"real", "E_bond"}  # charge and hydrogen decoys fail a hard check
    assert (kept.loc[kept["family"] != "real", "oracle_score"] > 0).all()

