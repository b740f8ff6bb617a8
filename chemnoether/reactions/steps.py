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
from rdkit import Chem, rdBase

from chemnoether.reactions.step_decoys import STEP_FAMILIES, step_decoys

PARTNERS = {
    "hydronium": "[OH3+]", "hydrogen_chloride": "Cl", "acetic_acid": "CC(=O)O", "ammonium": "[NH4+]",
    "water": "O", "hydroxide": "[OH-]", "ammonia": "N", "methylamine": "CN", "acetate": "CC(=O)[O-]",
    "triethylamine": "CCN(CC)CC", "methoxide": "C[O-]", "cyanide": "[C-]#N", "acetaldehyde": "CC=O",
    "acetic_anhydride": "CC(=O)OC(C)=O", "acetyl_chloride": "CC(=O)Cl", "nitronium": "O=[N+]=O",
}  # fmt: skip
# partner -> index of its reacting atom: the atom holding the acidic H, the basic or nucleophilic
# atom, the electrophilic carbon (its carbonyl O is the next atom) or nitrogen
_PARTNER_ATOM = {"hydronium": 0, "hydrogen_chloride": 0, "acetic_acid": 3, "ammonium": 0, "water": 0, "hydroxide": 0,
                 "ammonia": 0, "methylamine": 1, "acetate": 3, "triethylamine": 2, "methoxide": 1, "cyanide": 0,
                 "acetaldehyde": 1, "acetic_anhydride": 1, "acetyl_chloride": 1, "nitronium": 1}  # fmt: skip
STRONG_ACIDS = ("hydronium", "hydrogen_chloride")
WEAK_ACIDS = ("acetic_acid", "ammonium")  # protonate amines only
BASES = ("hydroxide", "water", "ammonia", "methylamine", "acetate", "triethylamine")
MAX_DEPTH = 3  # steps chained from one substrate: e.g. amine addition, proton transfer, collapse
_SMARTS = {
    "base": "[$([NX3;!$(N-[C,S,P]=[O,S,N]);!$(N-a);!$(N=*);!$(N#*)]),$([OX1]=[CX3]),$([OX2;H1][CX4])]",
    "acid": "[$([OX2;H1][CX3]=O),$([OX2;H1]c),$([NX4+;!H0])]",
    "carbonyl": "[CX3;$([CH1](=O)[#6]),$([CH2]=O),$(C(=O)([#6])[#6])]=[OX1]",
    "acyl": "[CX3](=[OX1])[Cl,Br,$([OX2][CX4]),$([OX2][CX3]=O)]",
    "amine": "[NX3;H1,H2;!$(N-[C,S,P]=[O,S,N]);!$(N=*);!$(N#*);!$(N-[N,O])]",
    "alkyl_halide": "[CX4;H2,H3]-[Cl,Br,I]",
    "tertiary_leaving": "[CX4;H0]([#6])([#6])([#6])-[Cl,Br,I,$([OX3;H2+])]",
    "alpha_ch": "[CX4;!H0]-[CX3;!$(C-[O,N])]=[OX1]",
    "arene_ch": "[cH;$(c1ccccc1)]",
    # intermediates (follow-ups)
    "tetrahedral": "[OX1-]-[CX4]-[Cl,Br,$([OX2][CX4]),$([OX2][CX3]=O)]",
    "zwitterion": "[NX4+;!H0]-[CX4]-[OX1-]",
    "alkoxide": "[OX1-]-[CX4]",
    "acylammonium": "[NX4+;!H0]-[CX3]=[OX1]",
    "carbocation": "[CX3+;!$(C-,:[#6]=,:[#6])]-[CX4;!H0]",  # not allylic (an arenium ion rearomatises)
    "protonated_carbonyl": "[CX4;!H0]-[CX3]=[OX2H1+]",
    "enolate": "[CX3]=[CX3]-[OX1-]",
    "carbanion": "[CX3-;!$(C=*)]-[CX3]=[OX1]",
    "enol": "[CX3]=[CX3]-[OX2H1]",
    "arenium": "[CX4;R;H1](-[N+](=O)[O-])-[#6+]",
}
_PATTERNS = {k: Chem.MolFromSmarts(v) for k, v in _SMARTS.items()}
_CARBOCATION = Chem.MolFromSmarts("[#6+]")


@dataclass(frozen=True)
class Step:
    """One elementary step: ``kind``, its reaction SMILES (hydrogens as atoms), its substrate."""

    kind: str
    reaction: str
    substrate: str


class _Graph:
    """Reactants of a step as one RWMol with hydrogens as atoms; arrows edit it in place."""

    def __init__(self, mols: list[Chem.Mol]):
        combined = Chem.Mol()
        self.offsets = []
        for m in mols:
            self.offsets.append(combined.GetNumAtoms())
            combined = Chem.CombineMols(combined, Chem.AddHs(m))
        Chem.Kekulize(combined, clearAromaticFlags=True)  # arrows change whole bond orders; 1.5 is none
        self.mol = Chem.RWMol(combined)
        for atom in self.mol.GetAtoms():
            atom.SetNoImplicit(True)  # hydrogens are atoms: an arrow must move them explicitly
            atom.SetNumExplicitHs(0)
        self.start = Chem.Mol(self.mol)

    def partner_atom(self, k: int, name: str) -> int:
        """Index of the reacting atom of partner ``name``, the ``k``-th molecule of the graph."""
        return self.offsets[k] + _PARTNER_ATOM[name]

    def hydrogen_on(self, i: int) -> int | None:
        return next((n.GetIdx() for n in self.mol.GetAtomWithIdx(i).GetNeighbors() if n.GetAtomicNum() == 1), None)

    def bond(self, i: int, j: int, delta: int) -> None:
        """Change the order of bond i-j by ``delta`` (making or breaking it as needed)."""
        b = self.mol.GetBondBetweenAtoms(i, j)
        order = (0 if b is None else int(b.GetBondTypeAsDouble())) + delta
        if b is not None:
            self.mol.RemoveBond(i, j)
        if order > 0:
            self.mol.AddBond(i, j, {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}[order])

    def charge(self, i: int, delta: int) -> None:
        atom = self.mol.GetAtomWithIdx(i)
        atom.SetFormalCharge(atom.GetFormalCharge() + delta)

    def move_h(self, donor: int, acceptor: int) -> bool:
        """A proton moves from ``donor`` to ``acceptor`` (charges: donor -1, acceptor +1)."""
        h = self.hydrogen_on(donor)
        if h is None:
            return False
        self.bond(donor, h, -1)
        self.bond(acceptor, h, +1)
        self.charge(donor, -1)
        self.charge(acceptor, +1)
        return True

    def finish(self) -> tuple[str, list[Chem.Mol]] | None:
        """(reaction SMILES, product molecules) or None when a side does not sanitise."""
        sides = []
        for mol in (self.start, self.mol.GetMol()):
            mol = Chem.Mol(mol)
            with rdBase.BlockLogs():
                try:
                    Chem.SanitizeMol(mol)
                except Exception:  # noqa: BLE001 - an arrow that breaks a valence: no step
                    return None
            sides.append(list(Chem.GetMolFrags(mol, asMols=True)))
        if any(a.GetNumRadicalElectrons() for m in sides[1] for a in m.GetAtoms()):
            return None
        text = ">>".join(".".join(Chem.MolToSmiles(m) for m in side) for side in sides)
        return text, sides[1]


def _partner(name: str) -> Chem.Mol:
    return Chem.MolFromSmiles(PARTNERS[name])


def _pick(rng, names) -> str:
    return str(names[int(rng.integers(len(names)))])


def _matches(mol: Chem.Mol, pattern: str, rng, n: int) -> list[tuple[int, ...]]:
    found = list(mol.GetSubstructMatches(_PATTERNS[pattern], maxMatches=50))
    return [found[i] for i in rng.permutation(len(found))[:n]]


def _with(mol: Chem.Mol, name: str) -> tuple[_Graph, int]:
    """The graph of ``mol`` and partner ``name``, and the partner's reacting atom."""
    g = _Graph([mol, _partner(name)])
    return g, g.partner_atom(1, name)


def _add(g: _Graph, nu: int, c: int, o: int) -> None:
    """A nucleophile's pair forms nu-c, the c=o pi pair goes to o (charges: nu +1, o -1)."""
    g.bond(nu, c, +1)
    g.bond(c, o, -1)
    g.charge(nu, +1)
    g.charge(o, -1)


def _leave(g: _Graph, o: int, c: int, x: int) -> None:
    """o's pair reforms c=o, the c-x pair leaves with x (the reverse of ``_add``)."""
    g.bond(c, o, +1)
    g.bond(c, x, -1)
    g.charge(o, +1)
    g.charge(x, -1)


def _proton_shift(g: _Graph, donor: int, acceptor: int, pi_from: int, pi_to: int) -> bool:
    """A proton leaves ``donor`` for ``acceptor`` while the donor's pair becomes a pi bond
    donor=pi_from and the pi_from=pi_to pair goes to pi_to (E1, enolisation, rearomatisation)."""
    if not g.move_h(donor, acceptor):
        return False
    g.charge(donor, +1)
    g.bond(donor, pi_from, +1)
    if pi_to != pi_from:
        g.bond(pi_from, pi_to, -1)
    g.charge(pi_to, -1)
    return True


# Templates: (substrate, rng) -> list of (graph, kind) with the arrows applied.
def _protonation(sub: Chem.Mol, rng) -> list:
    out = []
    for (site,) in _matches(sub, "base", rng, 1):  # one: most substrates have a basic site
        amine = sub.GetAtomWithIdx(site).GetAtomicNum() == 7
        g, acid = _with(sub, _pick(rng, STRONG_ACIDS + WEAK_ACIDS if amine else STRONG_ACIDS))
        if g.move_h(acid, site):
            out.append((g, "protonation"))
    return out


def _deprotonation(sub: Chem.Mol, rng) -> list:
    out = []
    for (site,) in _matches(sub, "acid", rng, 2):
        g, base = _with(sub, _pick(rng, BASES))
        if g.move_h(site, base):
            out.append((g, "deprotonation"))
    return out


def _addition(sub: Chem.Mol, rng, pattern: str, kind: str) -> list:
    out = []
    for c, o, *_ in _matches(sub, pattern, rng, 2):
        g, nu = _with(sub, _pick(rng, ("hydroxide", "methoxide", "cyanide")))
        _add(g, nu, c, o)
        out.append((g, kind))
    return out


def _amine_acylation(sub: Chem.Mol, rng) -> list:
    out = []
    for (n,) in _matches(sub, "amine", rng, 1):  # the substrate's amine on an acylating partner
        g, c = _with(sub, _pick(rng, ("acetic_anhydride", "acetyl_chloride")))
        _add(g, n, c, c + 1)
        out.append((g, "amine_acyl_addition"))
    for c, o, _ in _matches(sub, "acyl", rng, 1):  # an amine partner on the substrate's acyl group
        g, n = _with(sub, _pick(rng, ("ammonia", "methylamine")))
        _add(g, n, c, o)
        out.append((g, "amine_acyl_addition"))
    return out


def _sn2(sub: Chem.Mol, rng) -> list:
    out = []
    for c, x in _matches(sub, "alkyl_halide", rng, 2):
        g, nu = _with(sub, _pick(rng, ("hydroxide", "methoxide", "cyanide", "ammonia")))
        g.bond(nu, c, +1)
        g.bond(c, x, -1)
        g.charge(nu, +1)
        g.charge(x, -1)
        out.append((g, "sn2"))
    return out


def _ionisation(sub: Chem.Mol, rng) -> list:
    out = []
    for c, _, _, _, x in _matches(sub, "tertiary_leaving", rng, 1):
        g = _Graph([sub])
        g.bond(c, x, -1)
        g.charge(c, +1)
        g.charge(x, -1)
        out.append((g, "ionisation"))
    return out


def _enolate(sub: Chem.Mol, rng) -> list:
    out = []
    for ca, c, o in _matches(sub, "alpha_ch", rng, 1):
        g, base = _with(sub, _pick(rng, ("hydroxide", "methoxide")))
        if rng.random() < 0.5:  # the enolate as its O- resonance form
            if _proton_shift(g, ca, base, c, o):
                out.append((g, "enolate_formation"))
        elif g.move_h(ca, base):  # ... or as the carbanion
            out.append((g, "enolate_formation"))
    return out


def _tautomerisation(sub: Chem.Mol, rng) -> list:
    """Keto to enol in one concerted, neutral step: the alpha H moves to the carbonyl O."""
    out = []
    for ca, c, o in _matches(sub, "alpha_ch", rng, 1):
        g = _Graph([sub])
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
    for (c1,) in _matches(sub, "arene_ch", rng, 1):
        g, n = _with(sub, "nitronium")
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
    for o, c, x in _matches(mol, "tetrahedral", rng, 1):
        g = _Graph([mol])
        _leave(g, o, c, x)
        out.append((g, "collapse"))
    return out


def _zwitterion_transfer(mol, rng) -> list:
    out = []
    for n, _, o in _matches(mol, "zwitterion", rng, 1):
        g = _Graph([mol])
        if g.move_h(n, o):
            out.append((g, "intramolecular_proton_transfer"))
    return out


def _alkoxide_protonation(mol, rng) -> list:
    out = []
    for o, _ in _matches(mol, "alkoxide", rng, 1):
        g, water = _with(mol, "water")
        if g.move_h(water, o):
            out.append((g, "alkoxide_protonation"))
    return out


def _acylammonium_deprotonation(mol, rng) -> list:
    out = []
    for n, _, _ in _matches(mol, "acylammonium", rng, 1):
        g, base = _with(mol, _pick(rng, ("acetate", "water")))
        if g.move_h(n, base):
            out.append((g, "deprotonation"))
    return out


def _carbocation(mol, rng) -> list:
    """E1: water or acetate takes a beta proton; or a 1,2-hydride shift."""
    out = []
    for c, b in _matches(mol, "carbocation", rng, 1):
        g, base = _with(mol, _pick(rng, ("water", "acetate")))
        if _proton_shift(g, b, base, c, c):
            out.append((g, "e1_deprotonation"))
        g = _Graph([mol])
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
    for ca, c, o in _matches(mol, "protonated_carbonyl", rng, 1):
        g, water = _with(mol, "water")
        if _proton_shift(g, ca, water, c, o):
            out.append((g, "enol_formation"))
    return out


def _aldol(mol, rng) -> list:
    """The enolate (either form) or, concertedly and neutral, the enol adds to acetaldehyde."""
    out = []
    if mol.HasSubstructMatch(_CARBOCATION):
        return out  # a carbocation (an arenium ion...) is quenched first
    for ca, c, o in _matches(mol, "enolate", rng, 1):
        g, e = _with(mol, "acetaldehyde")
        _add(g, ca, e, e + 1)
        g.charge(ca, -1)  # the C=C pair made the bond; the O- pair reforms C=O
        g.bond(ca, c, -1)
        g.bond(c, o, +1)
        g.charge(o, +1)
        out.append((g, "aldol_addition"))
    for ca, _, _ in _matches(mol, "carbanion", rng, 1):
        g, e = _with(mol, "acetaldehyde")
        _add(g, ca, e, e + 1)  # the carbanion's pair makes the bond: its charge goes
        out.append((g, "aldol_addition"))
    for ca, c, o in _matches(mol, "enol", rng, 1):
        g, e = _with(mol, "acetaldehyde")
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
    for c1, _, _, _, c2 in _matches(mol, "arenium", rng, 1):
        g, base = _with(mol, _pick(rng, ("water", "acetate")))
        if _proton_shift(g, c1, base, c2, c2):
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
