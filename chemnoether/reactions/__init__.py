"""Reaction plausibility: parsing reaction SMILES, the conservation-law oracle, decoy families.

See docs/design.md section 7. ``parse_reaction`` turns a reaction SMILES into a ``Reaction`` (parse
errors raise ``ReactionParseError``); ``balance_reaction`` reads it as a balanced equation
(spectators, main product, written and inferred by-products, what stays unbalanced);
``oracle_checks`` gives the verdict of the conserved quantities across that balanced reaction
(chemistry violations, null reactions included, are verdicts, not errors);
``elementary_steps`` and ``step_decoys`` make mechanistic steps and broken ones; ``generate_D0`` ... ``generate_D4``
(or ``generate_decoys``) build wrong products of five named families for the same reactants,
D3 and D4 drawing on a ``ReactionPool`` of training reactions. ``score_reactions`` scores
reaction SMILES with the oracle and the learned conservation score (``ReactionScorer``, a shipped
checkpoint by default); those names load torch and DGL on first use, not on import.
"""

import importlib

from chemnoether.reactions.balance import BYPRODUCTS, Balance, balance_reaction
from chemnoether.reactions.decoys import (
    FAMILIES,
    GENERATORS,
    Decoy,
    generate_D0,
    generate_D1,
    generate_D2,
    generate_D3,
    generate_D4,
    generate_decoys,
    plain_product,
    skeleton_key,
)
from chemnoether.reactions.oracle import (
    CHARGE_PENALTY,
    CHECKS,
    CheckResult,
    OracleVerdict,
    Reason,
    element_counts,
    element_subset,
    formal_charge,
    mapped_elements,
    oracle_checks,
    oracle_table,
    sanitization,
)
from chemnoether.reactions.parse import (
    Reaction,
    ReactionElementError,
    ReactionParseError,
    ReactionSizeError,
    canonical_key,
    parse_reaction,
)
from chemnoether.reactions.steps import STEP_FAMILIES, Step, elementary_steps, step_decoys
from chemnoether.reactions.templates import (
    ReactionPool,
    Template,
    TemplateLibrary,
    apply_template,
    extract_template,
    reaction_centre,
)

# the learned scorer needs torch and DGL: imported when first asked for (PEP 562)
_LAZY = {
    "score_reactions": "chemnoether.reactions.api",
    "ReactionScorer": "chemnoether.reactions.scorer",
    "load_scorer": "chemnoether.reactions.scorer",
    "save_scorer": "chemnoether.reactions.scorer",
    "ReactionEmbedding": "chemnoether.reactions.reaction_g",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BYPRODUCTS",
    "CHARGE_PENALTY",
    "STEP_FAMILIES",
    "Balance",
    "Step",
    "balance_reaction",
    "elementary_steps",
    "step_decoys",
    "CHECKS",
    "FAMILIES",
    "GENERATORS",
    "CheckResult",
    "Decoy",
    "OracleVerdict",
    "Reaction",
    "ReactionElementError",
    "ReactionEmbedding",
    "ReactionParseError",
    "ReactionPool",
    "ReactionScorer",
    "ReactionSizeError",
    "Reason",
    "Template",
    "TemplateLibrary",
    "apply_template",
    "canonical_key",
    "element_counts",
    "element_subset",
    "extract_template",
    "formal_charge",
    "generate_D0",
    "generate_D1",
    "generate_D2",
    "generate_D3",
    "generate_D4",
    "generate_decoys",
    "load_scorer",
    "mapped_elements",
    "oracle_checks",
    "oracle_table",
    "parse_reaction",
    "plain_product",
    "reaction_centre",
    "sanitization",
    "save_scorer",
    "score_reactions",
    "skeleton_key",
]
