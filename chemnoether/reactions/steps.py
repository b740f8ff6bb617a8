"""Elementary mechanistic steps made by arrow-pushing templates on real molecules, and their decoys.

A step is written as mechanisms are: every hydrogen as an atom (``[H]``), charges explicit, one
elementary event (a proton transfer, a nucleophilic addition, an SN2 displacement, an ionisation,
the collapse of a tetrahedral intermediate, an E1 deprotonation, a 1,2-hydride shift, an enolate
formation, an aldol addition). Each template (``KINDS``) finds its sites on a substrate by SMARTS
and applies its arrows to the substrate and a small partner (hydronium, water, hydroxide,
methoxide, cyanide, ammonia, acetaldehyde) as bond-order and formal-charge changes of one graph
whose hydrogens are atoms, so atoms, charge and electrons are conserved by construction. Steps
that start from an intermediate (collapse, E1, hydride shift, aldol) chain on the product of the
step before.

Decoys of a step (``step_decoys``), each a *broken* step for the same reactants:

* ``E_charge``: one product atom's formal charge changed by one, nothing else (charge and
  electron count broken);
* ``E_hydrogen``: two hydrogens added across a double bond of the product (hydrogen from nowhere);
* ``E_valence``: a bond added between two atoms of the product (impossible valence), kept only
  when RDKit refuses the valence;
* ``E_bond``: a bond of the product moved to another atom, hydrogens moved with it (``generate_D2``
  on the step): atoms, charge and valence conserved, the connectivity wrong; only the learned
  score can see it.

``elementary_steps(smiles, seed)`` makes the steps of one substrate; ``datasets/elementary-steps.md``
says how the shipped train and test sets were drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, rdBase

from chemnoether.reactions.decoys import generate_D2
from chemnoether.reactions.parse import parse_reaction

STEP_FAMILIES = ("E_charge", "E_hydrogen", "E_valence", "E_bond")
PARTNERS = {"hydronium": "[OH3+]", "water": "O", "hydroxide": "[OH-]", "methoxide": "C[O-]", "cyanide": "[C-]#N",
            "ammonia": "N", "acetaldehyde": "CC=O"}  # fmt: skip
# partner -> index of its reacting atom (the O of hydroxide, the C of cyanide...)
_PARTNER_ATOM = {"hydronium": 0, "water": 0, "hydroxide": 0, "methoxide": 1, "cyanide": 0, "ammonia": 0, "acetaldehyde": 1}
_SMARTS = {
    "base": "[$([NX3;!$(N-[C,S,P]=[O,S,N]);!$(N-a);!$(N=*);!$(N#*)]),$([OX1]=[CX3]),$([OX2;H1][CX4])]",
    "acid": "[$([OX2;H1][CX3]=O),$([OX2;H1]c),$([NX4+;!H0])]",
    "carbonyl": "[CX3;$([CH1](=O)[#6]),$([CH2]=O),$(C(=O)([#6])[#6])]=[OX1]",
    "acyl": "[CX3](=[OX1])[Cl,Br,$([OX2][CX4])]",
    "alkyl_halide": "[CX4;H2,H3]-[Cl,Br,I]",
    "tertiary_leaving": "[CX4;H0]([#6])([#6])([#6])-[Cl,Br,I,$([OX3;H2+])]",
    "alpha_ch": "[CX4;!H0]-[CX3;!$(C-[O,N])]=[OX1]",
}
_PATTERNS = {k: Chem.MolFromSmarts(v) for k, v in _SMARTS.items()}


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
        self.mol = Chem.RWMol(combined)
        for atom in self.mol.GetAtoms():
            atom.SetNoImplicit(True)  # hydrogens are atoms: an arrow must move them explicitly
            atom.SetNumExplicitHs(0)
        self.start = Chem.Mol(self.mol)

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


# Each template: (substrate, rng) -> list of (graph, kind) with the arrows applied.
def _proton_to_base(sub: Chem.Mol, rng) -> list:
    out = []
    for (site,) in _matches(sub, "base", rng, 1):  # one: most substrates have a basic site
        g = _Graph([sub, _partner("hydronium")])
        if g.move_h(g.offsets[1], site):
            out.append((g, "protonation"))
    return out


def _proton_from_acid(sub: Chem.Mol, rng) -> list:
    out = []
    for (site,) in _matches(sub, "acid", rng, 2):
        g = _Graph([sub, _partner(rng.choice(["hydroxide", "water", "ammonia"]))])
        if g.move_h(site, g.offsets[1]):
            out.append((g, "deprotonation"))
    return out


def _add_nucleophile(sub: Chem.Mol, rng, pattern: str, kind: str) -> list:
    out = []
    for c, o, *_ in _matches(sub, pattern, rng, 2):
        name = rng.choice(["hydroxide", "methoxide", "cyanide"])
        g = _Graph([sub, _partner(name)])
        nu = g.offsets[1] + _PARTNER_ATOM[name]
        g.bond(nu, c, +1)
        g.bond(c, o, -1)
        g.charge(nu, +1)
        g.charge(o, -1)
        out.append((g, kind))
    return out


def _sn2(sub: Chem.Mol, rng) -> list:
    out = []
    for c, x in _matches(sub, "alkyl_halide", rng, 2):
        name = rng.choice(["hydroxide", "methoxide", "cyanide", "ammonia"])
        g = _Graph([sub, _partner(name)])
        nu = g.offsets[1] + _PARTNER_ATOM[name]
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
        g = _Graph([sub, _partner("hydroxide")])
        if g.move_h(ca, g.offsets[1]):
            g.charge(ca, +1)  # the carbanion's pair becomes the C=C bond, the charge goes to O
            g.bond(ca, c, +1)
            g.bond(c, o, -1)
            g.charge(o, -1)
            out.append((g, "enolate_formation"))
    return out


TEMPLATES: dict[str, Callable] = {
    "protonation": _proton_to_base,
    "deprotonation": _proton_from_acid,
    "carbonyl_addition": lambda s, r: _add_nucleophile(s, r, "carbonyl", "carbonyl_addition"),
    "acyl_addition": lambda s, r: _add_nucleophile(s, r, "acyl", "acyl_addition"),
    "sn2": _sn2,
    "ionisation": _ionisation,
    "enolate_formation": _enolate,
}
KINDS = (*TEMPLATES, "collapse", "e1_deprotonation", "hydride_shift", "aldol_addition")


def _matches(mol: Chem.Mol, pattern: str, rng, n: int) -> list[tuple[int, ...]]:
    found = list(mol.GetSubstructMatches(_PATTERNS[pattern], maxMatches=50))
    return [found[i] for i in rng.permutation(len(found))[:n]]


def _follow_up(kind: str, product: Chem.Mol, rng) -> list:
    """Steps that start from the intermediate ``product`` of a ``kind`` step (explicit hydrogens)."""
    mol = Chem.RemoveHs(product)
    out = []
    if kind == "acyl_addition":  # the tetrahedral intermediate collapses: the leaving group goes
        patt = Chem.MolFromSmarts("[OX1-]-[CX4]-[Cl,Br,$([OX2][CX4])]")
        for o, c, x in mol.GetSubstructMatches(patt)[:1]:
            g = _Graph([mol])
            g.bond(c, o, +1)
            g.bond(c, x, -1)
            g.charge(o, +1)
            g.charge(x, -1)
            out.append((g, "collapse"))
    if kind == "ionisation":  # the carbocation loses a beta proton to water, or a hydride shifts
        cation = Chem.MolFromSmarts("[CX3+]-[CX4;!H0]")
        for c, b in mol.GetSubstructMatches(cation)[:1]:
            g = _Graph([mol, _partner("water")])
            if g.move_h(b, g.offsets[1]):
                g.charge(b, +1)  # the C-H pair becomes the C=C bond and cancels the cation
                g.charge(c, -1)
                g.bond(c, b, +1)
                out.append((g, "e1_deprotonation"))
            g = _Graph([mol])
            h = g.hydrogen_on(b)
            if h is not None:
                g.bond(b, h, -1)
                g.bond(c, h, +1)
                g.charge(c, -1)
                g.charge(b, +1)
                out.append((g, "hydride_shift"))
    if kind == "enolate_formation":  # the enolate carbon adds to acetaldehyde
        enolate = Chem.MolFromSmarts("[CX3]=[CX3]-[OX1-]")
        for ca, c, o in mol.GetSubstructMatches(enolate)[:1]:
            g = _Graph([mol, _partner("acetaldehyde")])
            e = g.offsets[1] + _PARTNER_ATOM["acetaldehyde"]
            g.bond(ca, e, +1)
            g.bond(ca, c, -1)
            g.bond(c, o, +1)
            g.charge(o, +1)
            g.bond(e, g.offsets[1] + 2, -1)
            g.charge(g.offsets[1] + 2, -1)
            out.append((g, "aldol_addition"))
    return out


def elementary_steps(smiles: str, seed: int) -> list[Step]:
    """Every step the templates make on the substrate ``smiles`` (at most 2 sites per template),
    and the steps that follow from their intermediates; [] when the SMILES does not read."""
    sub = Chem.MolFromSmiles(smiles)
    if sub is None:
        return []
    rng = np.random.default_rng(seed)
    out = []
    for template in TEMPLATES.values():
        for graph, kind in template(sub, rng):
            done = graph.finish()
            if done is None:
                continue
            out.append(Step(kind, done[0], smiles))
            main = max(done[1], key=lambda m: m.GetNumHeavyAtoms())
            for graph2, kind2 in _follow_up(kind, main, rng):
                done2 = graph2.finish()
                if done2 is not None:
                    out.append(Step(kind2, done2[0], smiles))
    return out


def step_decoys(step: Step, seed: int) -> list[tuple[str, str]]:
    """(family, reaction SMILES) of broken versions of ``step`` (at most one per family)."""
    rng = np.random.default_rng(seed)
    left, right = step.reaction.split(">>")
    products = [Chem.MolFromSmiles(s, sanitize=False) for s in right.split(".")]
    main = int(np.argmax([m.GetNumHeavyAtoms() for m in products]))
    out = []
    for family, edit in (("E_charge", _break_charge), ("E_hydrogen", _add_h2), ("E_valence", _extra_bond)):
        mol = Chem.RWMol(products[main])
        mol.UpdatePropertyCache(strict=False)
        for atom in mol.GetAtoms():
            atom.SetNoImplicit(True)
        edited = edit(mol, rng)  # the SMILES of the edited product, or None
        if edited is None:
            continue
        others = [Chem.MolToSmiles(m) for i, m in enumerate(products) if i != main]
        out.append((family, left + ">>" + ".".join([edited, *others])))
    implicit = parse_reaction(left + ">>" + ".".join(Chem.MolToSmiles(Chem.RemoveHs(m, sanitize=False)) for m in products))
    moved = generate_D2(implicit, rng, n=1)  # its product holds every product molecule, edited
    if moved:
        out.append(("E_bond", left + ">>" + moved[0].smiles))
    return out


def _heavy(mol) -> list[int]:
    return [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]


def _break_charge(mol: Chem.RWMol, rng) -> str | None:
    atom = mol.GetAtomWithIdx(int(rng.choice(_heavy(mol))))
    atom.SetFormalCharge(atom.GetFormalCharge() + int(rng.choice([-1, 1])))
    mol.UpdatePropertyCache(strict=False)  # so that the SMILES writes the atom's H count as it is
    return Chem.MolToSmiles(mol)


def _add_h2(mol: Chem.RWMol, rng) -> str | None:
    doubles = [b for b in mol.GetBonds() if b.GetBondType() == Chem.BondType.DOUBLE]
    if not doubles:
        return None
    b = doubles[int(rng.integers(len(doubles)))]
    i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
    b.SetBondType(Chem.BondType.SINGLE)
    for k in (i, j):
        h = mol.AddAtom(Chem.Atom(1))
        mol.AddBond(k, h, Chem.BondType.SINGLE)
    mol.UpdatePropertyCache(strict=False)
    return Chem.MolToSmiles(mol)


def _extra_bond(mol: Chem.RWMol, rng) -> str | None:
    heavy = _heavy(mol)
    pairs = [(i, j) for i in heavy for j in heavy if i < j and mol.GetBondBetweenAtoms(i, j) is None]
    for k in rng.permutation(len(pairs))[:10]:
        trial = Chem.RWMol(mol)
        trial.AddBond(*pairs[k], Chem.BondType.SINGLE)
        copy = trial.GetMol()
        with rdBase.BlockLogs():
            try:
                Chem.SanitizeMol(copy)
            except Exception:  # noqa: BLE001 - refused valence: what this decoy wants
                return Chem.MolToSmiles(trial)
    return None
