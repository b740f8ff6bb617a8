"""Elementary mechanistic steps made by arrow-pushing templates on real molecules.

A step is written as mechanisms are: every hydrogen as an atom (``[H]``), charges explicit, one
elementary event. Each template (``TEMPLATES``) finds its sites on a substrate by SMARTS and applies
its arrows to the substrate and a partner molecule as bond-order and formal-charge changes of one
graph whose hydrogens are atoms, so atoms, charge and electrons are conserved by construction.
Steps that start from an intermediate (``FOLLOW_UPS``, found by SMARTS on the product of the step
before) chain up to ``MAX_DEPTH`` steps from the substrate. The kinds (``KINDS``):

* proton transfers: a basic site protonated by an acid (hydronium, HCl; acetic acid or ammonium
  for amines), an acid deprotonated by a base (hydroxide, water, ammonia, methylamine, acetate,
  triethylamine), an alkoxide intermediate protonated by water, the intramolecular proton transfer
  of a zwitterion (N+-H to O-), an acylammonium deprotonated, the alpha proton of a protonated
  carbonyl taken by water (acid-catalysed enol formation), the concerted keto-enol tautomerisation
  (neutral), enolate formation (written as the O- or as the C- resonance form);
* additions: hydroxide, methoxide or cyanide to an aldehyde, ketone, acyl chloride, ester or
  anhydride; an amine to an acyl group (the substrate's amine to acetic anhydride or acetyl
  chloride, or ammonia / methylamine to the substrate's acyl group: a zwitterion); an enolate or,
  concertedly, an enol to acetaldehyde (aldol); nitronium to a benzene ring (the arenium ion);
* eliminations and rearrangements: the tetrahedral intermediate collapses (the leaving group goes),
  a tertiary halide ionises, the carbocation loses a beta proton (E1) or undergoes a 1,2-hydride
  shift, the arenium ion loses its proton (rearomatisation);
* SN2 on a primary or methyl halide (hydroxide, methoxide, cyanide, ammonia).

Partners are drawn per site from several (seeded): which partner a writer chose is style, not
plausibility (the scorer compares every product of such a step, ``reaction_g.rated_molecules``, so
unchanged parts of a partner cancel). Decoys: ``step_decoys`` (module ``step_decoys``).
``elementary_steps(smiles, seed)`` makes the steps of one substrate; ``datasets/elementary-steps.md``
says how the shipped train and test sets were drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rdkit import Chem

from chemnoether.reactions.step_decoys import STEP_FAMILIES, step_decoys
from chemnoether.reactions.step_graph import (
    BASES,
    CARBOCATION,
    PARTNERS,
    STRONG_ACIDS,
    WEAK_ACIDS,
    StepGraph,
    add_pair,
    leave,
    matches,
    pick,
    proton_shift,
    with_partner,
)

MAX_DEPTH = 3  # steps chained from one substrate: e.g. amine addition, proton transfer, collapse


@dataclass(frozen=True)
class Step:
    """One elementary step: ``kind``, its reaction SMILES (hydrogens as atoms), its substrate."""

    kind: str
    reaction: str
    substrate: str


# Templates: (substrate, rng) -> list of (graph, kind) with the arrows applied.
def _protonation(sub: Chem.Mol, rng) -> list:
    out = []
    for (site,) in matches(sub, "base", rng, 1):  # one: most substrates have a basic site
        amine = sub.GetAtomWithIdx(site).GetAtomicNum() == 7
        g, acid = with_partner(sub, pick(rng, STRONG_ACIDS + WEAK_ACIDS if amine else STRONG_ACIDS))
        if g.move_h(acid, site):
            out.append((g, "protonation"))
    return out


def _deprotonation(sub: Chem.Mol, rng) -> list:
    out = []
    for (site,) in matches(sub, "acid", rng, 2):
        g, base = with_partner(sub, pick(rng, BASES))
        if g.move_h(site, base):
            out.append((g, "deprotonation"))
    return out


def _addition(sub: Chem.Mol, rng, pattern: str, kind: str) -> list:
    out = []
    for c, o, *_ in matches(sub, pattern, rng, 2):
        g, nu = with_partner(sub, pick(rng, ("hydroxide", "methoxide", "cyanide")))
        add_pair(g, nu, c, o)
        out.append((g, kind))
    return out


def _amine_acylation(sub: Chem.Mol, rng) -> list:
    out = []
    for (n,) in matches(sub, "amine", rng, 1):  # the substrate's amine on an acylating partner
        g, c = with_partner(sub, pick(rng, ("acetic_anhydride", "acetyl_chloride")))
        add_pair(g, n, c, c + 1)
        out.append((g, "amine_acyl_addition"))
    for c, o, _ in matches(sub, "acyl", rng, 1):  # an amine partner on the substrate's acyl group
        g, n = with_partner(sub, pick(rng, ("ammonia", "methylamine")))
        add_pair(g, n, c, o)
        out.append((g, "amine_acyl_addition"))
    return out


def _sn2(sub: Chem.Mol, rng) -> list:
    out = []
    for c, x in matches(sub, "alkyl_halide", rng, 2):
        g, nu = with_partner(sub, pick(rng, ("hydroxide", "methoxide", "cyanide", "ammonia")))
        g.bond(nu, c, +1)
        g.bond(c, x, -1)
        g.charge(nu, +1)
        g.charge(x, -1)
        out.append((g, "sn2"))
    return out


def _ionisation(sub: Chem.Mol, rng) -> list:
    out = []
    for c, _, _, _, x in matches(sub, "tertiary_leaving", rng, 1):
        g = StepGraph([sub])
        g.bond(c, x, -1)
        g.charge(c, +1)
        g.charge(x, -1)
        out.append((g, "ionisation"))
    return out


def _enolate(sub: Chem.Mol, rng) -> list:
    out = []
    for ca, c, o in matches(sub, "alpha_ch", rng, 1):
        g, base = with_partner(sub, pick(rng, ("hydroxide", "methoxide")))
        if rng.random() < 0.5:  # the enolate as its O- resonance form
            if proton_shift(g, ca, base, c, o):
                out.append((g, "enolate_formation"))
        elif g.move_h(ca, base):  # ... or as the carbanion
            out.append((g, "enolate_formation"))
    return out


def _tautomerisation(sub: Chem.Mol, rng) -> list:
    """Keto to enol in one concerted, neutral step: the alpha H moves to the carbonyl O."""
    out = []
    for ca, c, o in matches(sub, "alpha_ch", rng, 1):
        g = StepGraph([sub])
        h = g.hydrogen_on(ca)
        g.bond(ca, h, -1)
        g.bond(o, h, +1)
        g.bond(ca, c, +1)
        g.bond(c, o, -1)
        out.append((g, "tautomerisation"))
    return out


def _nitration(sub: Chem.Mol, rng) -> list:
    """Nitronium adds to a benzene carbon: the arenium ion (the ring's pi pair makes the C-N bond)."""
    out = []
    for (c1,) in matches(sub, "arene_ch", rng, 1):
        g, n = with_partner(sub, "nitronium")
        doubles = [b.GetOtherAtomIdx(c1) for b in g.mol.GetAtomWithIdx(c1).GetBonds() if b.GetBondType() == Chem.BondType.DOUBLE]
        if not doubles:
            continue
        c2 = doubles[0]
        g.bond(c1, c2, -1)
        g.charge(c2, +1)
        g.bond(c1, n, +1)
        g.bond(n, n + 1, -1)  # an N=O pi pair goes to that O
        g.charge(n + 1, -1)
        out.append((g, "nitration"))
    return out


TEMPLATES: dict[str, Callable] = {
    "protonation": _protonation,
    "deprotonation": _deprotonation,
    "carbonyl_addition": lambda s, r: _addition(s, r, "carbonyl", "carbonyl_addition"),
    "acyl_addition": lambda s, r: _addition(s, r, "acyl", "acyl_addition"),
    "amine_acyl_addition": _amine_acylation,
    "sn2": _sn2,
    "ionisation": _ionisation,
    "enolate_formation": _enolate,
    "tautomerisation": _tautomerisation,
    "nitration": _nitration,
}


# Follow-ups: (intermediate, rng) -> list of (graph, kind), at most one site each.
def _collapse(mol, rng) -> list:
    out = []
    for o, c, x in matches(mol, "tetrahedral", rng, 1):
        g = StepGraph([mol])
        leave(g, o, c, x)
        out.append((g, "collapse"))
    return out


def _zwitterion_transfer(mol, rng) -> list:
    out = []
    for n, _, o in matches(mol, "zwitterion", rng, 1):
        g = StepGraph([mol])
        if g.move_h(n, o):
            out.append((g, "intramolecular_proton_transfer"))
    return out


def _alkoxide_protonation(mol, rng) -> list:
    out = []
    for o, _ in matches(mol, "alkoxide", rng, 1):
        g, water = with_partner(mol, "water")
        if g.move_h(water, o):
            out.append((g, "alkoxide_protonation"))
    return out


def _acylammonium_deprotonation(mol, rng) -> list:
    out = []
    for n, _, _ in matches(mol, "acylammonium", rng, 1):
        g, base = with_partner(mol, pick(rng, ("acetate", "water")))
        if g.move_h(n, base):
            out.append((g, "deprotonation"))
    return out


def _carbocation(mol, rng) -> list:
    """E1: water or acetate takes a beta proton; or a 1,2-hydride shift."""
    out = []
    for c, b in matches(mol, "carbocation", rng, 1):
        g, base = with_partner(mol, pick(rng, ("water", "acetate")))
        if proton_shift(g, b, base, c, c):
            out.append((g, "e1_deprotonation"))
        g = StepGraph([mol])
        h = g.hydrogen_on(b)
        if h is not None:
            g.bond(b, h, -1)
            g.bond(c, h, +1)
            g.charge(c, -1)
            g.charge(b, +1)
            out.append((g, "hydride_shift"))
    return out


def _enol_formation(mol, rng) -> list:
    """Acid-catalysed enolisation: water takes the alpha proton of a protonated carbonyl."""
    out = []
    for ca, c, o in matches(mol, "protonated_carbonyl", rng, 1):
        g, water = with_partner(mol, "water")
        if proton_shift(g, ca, water, c, o):
            out.append((g, "enol_formation"))
    return out


def _aldol(mol, rng) -> list:
    """The enolate (either form) or, concertedly and neutral, the enol adds to acetaldehyde."""
    out = []
    if mol.HasSubstructMatch(CARBOCATION):
        return out  # a carbocation (an arenium ion...) is quenched first
    for ca, c, o in matches(mol, "enolate", rng, 1):
        g, e = with_partner(mol, "acetaldehyde")
        add_pair(g, ca, e, e + 1)
        g.charge(ca, -1)  # the C=C pair made the bond; the O- pair reforms C=O
        g.bond(ca, c, -1)
        g.bond(c, o, +1)
        g.charge(o, +1)
        out.append((g, "aldol_addition"))
    for ca, _, _ in matches(mol, "carbanion", rng, 1):
        g, e = with_partner(mol, "acetaldehyde")
        add_pair(g, ca, e, e + 1)  # the carbanion's pair makes the bond: its charge goes
        out.append((g, "aldol_addition"))
    for ca, c, o in matches(mol, "enol", rng, 1):
        g, e = with_partner(mol, "acetaldehyde")
        h = g.hydrogen_on(o)
        if h is not None:
            g.bond(ca, e, +1)
            g.bond(ca, c, -1)
            g.bond(c, o, +1)
            g.bond(o, h, -1)
            g.bond(e, e + 1, -1)
            g.bond(e + 1, h, +1)
            out.append((g, "aldol_addition"))
    return out


def _rearomatisation(mol, rng) -> list:
    out = []
    for c1, _, _, _, c2 in matches(mol, "arenium", rng, 1):
        g, base = with_partner(mol, pick(rng, ("water", "acetate")))
        if proton_shift(g, c1, base, c2, c2):
            out.append((g, "rearomatisation"))
    return out


FOLLOW_UPS: tuple[Callable, ...] = (_collapse, _zwitterion_transfer, _alkoxide_protonation, _acylammonium_deprotonation,
                                    _carbocation, _enol_formation, _aldol, _rearomatisation)  # fmt: skip
KINDS = (*TEMPLATES, "collapse", "intramolecular_proton_transfer", "alkoxide_protonation", "e1_deprotonation",
         "hydride_shift", "enol_formation", "aldol_addition", "rearomatisation")  # fmt: skip


def elementary_steps(smiles: str, seed: int) -> list[Step]:
    """Every step the templates make on the substrate ``smiles`` (at most 2 sites per template),
    and the steps that follow from their intermediates (``MAX_DEPTH`` in all); [] when the SMILES
    does not read."""
    sub = Chem.MolFromSmiles(smiles)
    if sub is None:
        return []
    rng = np.random.default_rng(seed)
    out: list[Step] = []
    frontier = [(graph, kind) for template in TEMPLATES.values() for graph, kind in template(sub, rng)]
    for depth in range(MAX_DEPTH):
        following = []
        for graph, kind in frontier:
            done = graph.finish()
            if done is None:
                continue
            out.append(Step(kind, done[0], smiles))
            if depth + 1 < MAX_DEPTH:
                main = Chem.RemoveHs(max(done[1], key=lambda m: m.GetNumHeavyAtoms()))
                following += [pair for follow in FOLLOW_UPS for pair in follow(main, rng)]
        frontier = following
    return out


__all__ = ["KINDS", "PARTNERS", "STEP_FAMILIES", "Step", "elementary_steps", "step_decoys"]
