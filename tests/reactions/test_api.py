"""``score_reactions`` and ``chemnoether score-reactions``: one row per input, bad rows errored, the
shipped checkpoint ranks real reactions above their decoys."""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import chemnoether  # noqa: F401 - before anything that imports dgl
from chemnoether.errors import ChemNoetherError, ConfigError
from chemnoether.reactions import generate_D0, parse_reaction
from chemnoether.reactions.api import COLUMNS, default_model_path, score_reactions
from chemnoether.reactions.cli import add_score_reactions_parser

SAMPLE = Path(__file__).parent / "data" / "uspto50k_sample.csv"
COLUMN = "reactants>reagents>production"
# (input, error type): one of each kind of bad input
BAD = [
    ("CCO", "ReactionParseError"),  # no '>>'
    ("CC(=O)O>>", "ReactionParseError"),  # empty product side
    (">>CCO", "ReactionParseError"),  # empty reactant side
    ("C1CC(>>CC", "ReactionParseError"),  # unparsable SMILES
    ("[CH3:1][OH:2]>>[CH3:1][Cl:9]", "ReactionParseError"),  # a map pointing nowhere
    ("[CH3:1][OH:1]>>[CH3:1]O", "ReactionParseError"),  # a map used twice
    ("*CC>>CC", "ReactionElementError"),  # a dummy atom
    ("C[Cm].CI>>CC[Cm]", "UnsupportedElementError"),  # an element outside the featurizer's vocabulary
    ("", "ReactionParseError"),
    (None, "ReactionParseError"),
]


@pytest.fixture(scope="module")
def sample() -> list[str]:
    return pd.read_csv(SAMPLE)[COLUMN].tolist()


def test_one_row_per_input_bad_rows_errored_with_reasons(sample):
    inputs = sample[:4] + [b for b, _ in BAD] + ["CCO>>CCCl", "CC>>C(C)(C)(C)(C)C"] + sample[4:6]
    out = score_reactions(inputs, batch_size=5)
    assert list(out.columns) == list(COLUMNS) and len(out) == len(inputs)
    assert out["input"].tolist()[:4] == inputs[:4] and out["input"].tolist()[-2:] == inputs[-2:]
    good = out.iloc[list(range(4)) + [-2, -1]]
    assert good["ok"].all() and good["error"].isna().all()
    assert good["score"].between(0, 1).all() and good["learned_score"].between(0, 1).all()
    bad = out.iloc[4 : 4 + len(BAD)]
    assert not bad["ok"].any() and bad["score"].isna().all()
    assert bad["error_type"].tolist() == [kind for _, kind in BAD]
    assert bad["error"].str.len().gt(10).all()
    assert "Cm" in bad["error"].iloc[7] and bad["oracle_ok"].iloc[7]  # the oracle still ran on it
    # chemistry violations are verdicts, not errors: scored 0 with the oracle's reasons
    violations = out.iloc[4 + len(BAD) : 6 + len(BAD)]
    assert violations["ok"].all() and (violations["score"] == 0).all()
    assert violations["oracle_reasons"].tolist() == [
        "element_not_conserved:Cl+1",
        "element_not_conserved:C+4;sanitization_failed:product1:valence",
    ]
    assert np.isnan(violations["learned_score"].iloc[1])  # RDKit cannot read it: no learned score


def test_input_forms_and_options(sample):
    one = score_reactions(sample[0])
    assert len(one) == 1 and one["ok"].iloc[0]
    series = score_reactions(pd.Series(sample[:3], index=[10, 20, 30]))
    assert series.index.tolist() == [0, 1, 2]
    assert score_reactions([]).columns.tolist() == list(COLUMNS)
    assert np.allclose(score_reactions(sample[:3], model=default_model_path())["score"], series["score"])
    with pytest.raises(ConfigError):
        score_reactions(sample[:1], batch_size=0)


def test_shipped_checkpoint_ranks_real_above_its_D0_decoy(sample):
    real, decoys = [], []
    for i, text in enumerate(sample[:8]):
        reaction = parse_reaction(text)
        decoy = generate_D0(reaction, i, n=1)[0]
        real.append(reaction.without_maps().text)
        decoys.append(decoy.reaction.text)
    out = score_reactions(real + decoys)
    s_real, s_decoy = out["score"].to_numpy()[:8], out["score"].to_numpy()[8:]
    assert (s_real > s_decoy).all() and (s_decoy == 0).all()
    l_real, l_decoy = out["learned_score"].to_numpy()[:8], out["learned_score"].to_numpy()[8:]
    assert (l_real > l_decoy).mean() >= 0.75  # the learned score alone, without the oracle
    assert s_real.mean() > 0.5


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_score_reactions_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_round_trip_with_bad_rows(tmp_path, sample, capsys):
    table = pd.DataFrame({"id": range(8), "rxn": sample[:3] + ["CCO", "", "C[Cm]>>C", "CCO>>CCCl", sample[3]],
                          "note": ["a", "b", "", "d", "e", "f", "g", "h"]})  # fmt: skip
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    table.to_csv(src, index=False)
    assert _run(["score-reactions", str(src), "--column", "rxn", "-o", str(dst), "-q"]) == 0
    out = pd.read_csv(dst, keep_default_na=False)
    assert out["id"].tolist() == list(range(8)) and out["rxn"].tolist() == table["rxn"].tolist()
    assert out["note"].tolist() == table["note"].tolist()
    assert list(out.columns) == ["id", "rxn", "note", *[c for c in COLUMNS if c != "input"]]
    assert out["ok"].tolist() == [True, True, True, False, False, False, True, True]
    assert out["error_type"].tolist()[3:6] == ["ReactionParseError", "ReactionParseError", "UnsupportedElementError"]
    assert "3 rows could not be scored" in capsys.readouterr().out
    assert _run(["score-reactions", str(src), "--column", "rxn", "-o", str(dst), "-q", "--strict"]) == 1


def test_cli_clear_errors(tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"smiles": ["CC>>CC"]}).to_csv(src, index=False)
    with pytest.raises(ChemNoetherError, match=r"no column 'rxn'.*\['smiles'\].*--column"):
        _run(["score-reactions", str(src), "--column", "rxn", "-o", str(tmp_path / "o.csv")])
    with pytest.raises(ChemNoetherError, match="does not exist"):
        _run(["score-reactions", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv")])
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ChemNoetherError, match="cannot read"):
        _run(["score-reactions", str(tmp_path / "empty.csv"), "-o", str(tmp_path / "o.csv")])
    with pytest.raises(ChemNoetherError, match="checkpoint"):
        _run(["score-reactions", str(src), "--column", "smiles", "--model", str(src), "-o", str(tmp_path / "o.csv")])
    assert not (tmp_path / "o.csv").exists()
