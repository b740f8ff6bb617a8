"""The elementary-step data set: substrates from USPTO-50k, steps from ``steps.py``, a fixed split.

Substrates are the distinct map-free molecules of the USPTO-50k file (reactants and products,
``MIN_ATOMS``-``MAX_ATOMS`` heavy atoms). Each goes to a bucket ``sha256(STEP_SALT + SMILES) mod
100``: 0-19 **test**, 20-29 **val**, 30-99 **fit**, so no substrate gives steps to two parts
(the templates and the small partners are shared: the test measures new molecules, not new kinds
of step; the external synkit steps in ``benchmarks/reaction_steps.py`` measure the rest).
``step_examples`` turns steps and their decoys into the tables ``train_scorer`` trains on.

``KIND_GROUPS`` sorts the step kinds into four mechanistic groups; ``kinds_named`` reads a list of
kinds or groups and ``without_kinds`` withholds them, for the leave-kinds-out measurement
(``benchmarks/reaction_holdout.py``): a kind never trained on stands for a kind the generator
does not make.
"""

from __future__ import annotations

import hashlib

import pandas as pd
from rdkit import Chem, rdBase

from chemnoether.errors import ChemNoetherError, ConfigError
from chemnoether.reactions.examples import labelled_example
from chemnoether.reactions.parse import parse_reaction
from chemnoether.reactions.reaction_g import reaction_sides
from chemnoether.reactions.steps import KINDS, Step, elementary_steps, step_decoys

STEP_SALT = "chemnoether-steps-split/1:"
MIN_ATOMS, MAX_ATOMS = 3, 30
# every kind of ``steps.KINDS`` in exactly one group (tests/reactions/test_step_holdout.py checks it)
KIND_GROUPS = {
    "proton_transfer": ("protonation", "deprotonation", "alkoxide_protonation", "intramolecular_proton_transfer",
                        "enolate_formation", "enol_formation"),
    "addition": ("carbonyl_addition", "acyl_addition", "amine_acyl_addition", "aldol_addition", "nitration", "sn2"),
    "elimination": ("collapse", "ionisation", "e1_deprotonation", "rearomatisation"),
    "rearrangement": ("hydride_shift", "tautomerisation"),
}  # fmt: skip


def kinds_named(text: str) -> tuple[str, ...]:
    """The step kinds of a comma-separated list of kinds and ``KIND_GROUPS`` names ('' -> none)."""
    out = []
    for name in filter(None, (n.strip() for n in text.split(","))):
        if name in KIND_GROUPS:
            out += KIND_GROUPS[name]
        elif name in KINDS:
            out.append(name)
        else:
            raise ConfigError(f"step kind {name!r} is neither a kind {KINDS} nor a group {tuple(KIND_GROUPS)}")
    return tuple(dict.fromkeys(out))


def without_kinds(steps: pd.DataFrame, kinds: tuple[str, ...]) -> pd.DataFrame:
    """``steps`` (a ``step_table``) without the steps of ``kinds``."""
    return steps[~steps["kind"].isin(kinds)]


def substrate_split(smiles: str) -> str:
    """'test', 'val' or 'fit' for a canonical substrate SMILES (see the module docstring)."""
    bucket = int(hashlib.sha256((STEP_SALT + smiles).encode()).hexdigest()[:15], 16) % 100
    return "test" if bucket < 20 else "val" if bucket < 30 else "fit"


def uspto_substrates(texts: list[str]) -> list[str]:
    """Distinct canonical, map-free molecules of reaction SMILES ``texts``, sorted."""
    out = set()
    with rdBase.BlockLogs():
        for text in texts:
            for smiles in text.replace(">>", ".").replace(">", ".").split("."):
                mol = Chem.MolFromSmiles(smiles) if smiles else None
                if mol is None or not MIN_ATOMS <= mol.GetNumHeavyAtoms() <= MAX_ATOMS:
                    continue
                for atom in mol.GetAtoms():
                    atom.SetAtomMapNum(0)
                out.add(Chem.MolToSmiles(mol))
    return sorted(out)


def step_table(substrates: list[str], split: str, limit: int | None = None) -> pd.DataFrame:
    """Steps of the substrates of ``split`` (the first ``limit`` of them in sorted order):
    columns substrate, kind, reaction, split."""
    chosen = [s for s in substrates if substrate_split(s) == split][:limit]
    rows = []
    for smiles in chosen:
        seed = int(hashlib.sha256(smiles.encode()).hexdigest()[:8], 16)
        rows += [{"substrate": smiles, "kind": st.kind, "reaction": st.reaction, "split": split}
                 for st in elementary_steps(smiles, seed)]  # fmt: skip
    return pd.DataFrame(rows, columns=["substrate", "kind", "reaction", "split"])


def step_examples(steps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reactions, examples) tables of ``steps`` in ``train_scorer``'s format: each step is a
    reaction, its decoys (``STEP_FAMILIES``) its other candidates."""
    reactions, examples, seen = [], [], set()
    for j, (text, split) in enumerate(zip(steps["reaction"], steps["split"], strict=True)):
        try:
            reactants, products = reaction_sides(parse_reaction(text))
        except ChemNoetherError:
            continue
        key = f"step:{'.'.join(sorted(reactants))}>>{'.'.join(products)}"
        if key in seen:
            continue  # the same step from two equivalent sites, or two substrates
        seen.add(key)
        reactions.append({"row": -1 - j, "text": text, "key": key, "reactants": ".".join(sorted(reactants)),
                          "product": ".".join(products), "split": split})  # fmt: skip
        examples.append(labelled_example(key, "real", text, parse_reaction(text)))
        for family, decoy in step_decoys(Step("", text, ""), j):
            try:
                examples.append(labelled_example(key, family, decoy, parse_reaction(decoy)))
            except ChemNoetherError:
                continue
    return pd.DataFrame(reactions), pd.DataFrame(examples)
