"""The graph an arrow-pushing template edits, the partners it brings, and the SMARTS of its sites.

``StepGraph`` holds the reactants of a step as one kekulised RWMol whose hydrogens are atoms; the
arrows (``bond``, ``charge``, ``move_h`` and the composites ``add_pair``, ``leave``,
``proton_shift``) change bond orders and formal charges, so atoms, charge and electrons are
conserved by construction, and ``finish`` writes the step. Used by ``steps``.
"""

from __future__ import annotations

from rdkit import Chem, rdBase


PARTNERS = {
    "hydronium": "[OH3+]", "hydrogen_chloride": "Cl", "acetic_acid": "CC(=O)O", "ammonium": "[NH4+]",
    "water": "O", "hydroxide": "[OH-]", "ammonia": "N", "methylamine": "CN", "acetate": "CC(=O)[O-]",
    "triethylamine": "CCN(CC)CC", "methoxide": "C[O-]", "cyanide": "[C-]#N", "acetaldehyde": "CC=O",
    "acetic_anhydride": "CC(=O)OC(C)=O", "acetyl_chloride": "CC(=O)Cl", "nitronium": "O=[N+]=O",
}  # fmt: skip
# partner -> index of its reacting atom: the atom holding the acidic H, the basic or nucleophilic
# atom, the electrophilic carbon (its carbonyl O is the next atom) or nitrogen
PARTNER_ATOM = {"hydronium": 0, "hydrogen_chloride": 0, "acetic_acid": 3, "ammonium": 0, "water": 0, "hydroxide": 0,
                 "ammonia": 0, "methylamine": 1, "acetate": 3, "triethylamine": 2, "methoxide": 1, "cyanide": 0,
                 "acetaldehyde": 1, "acetic_anhydride": 1, "acetyl_chloride": 1, "nitronium": 1}  # fmt: skip
STRONG_ACIDS = ("hydronium", "hydrogen_chloride")
WEAK_ACIDS = ("acetic_acid", "ammonium")  # protonate amines only
BASES = ("hydroxide", "water", "ammonia", "methylamine", "acetate", "triethylamine")
SMARTS = {
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
PATTERNS = {k: Chem.MolFromSmarts(v) for k, v in SMARTS.items()}
CARBOCATION = Chem.MolFromSmarts("[#6+]")

class StepGraph:
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
        return self.offsets[k] + PARTNER_ATOM[name]

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


def partner(name: str) -> Chem.Mol:
    return Chem.MolFromSmiles(PARTNERS[name])


def pick(rng, names) -> str:
    return str(names[int(rng.integers(len(names)))])


def matches(mol: Chem.Mol, pattern: str, rng, n: int) -> list[tuple[int, ...]]:
    found = list(mol.GetSubstructMatches(PATTERNS[pattern], maxMatches=50))
    return [found[i] for i in rng.permutation(len(found))[:n]]


def with_partner(mol: Chem.Mol, name: str) -> tuple[StepGraph, int]:
    """The graph of ``mol`` and partner ``name``, and the partner's reacting atom."""
    g = StepGraph([mol, partner(name)])
    return g, g.partner_atom(1, name)


def add_pair(g: StepGraph, nu: int, c: int, o: int) -> None:
    """A nucleophile's pair forms nu-c, the c=o pi pair goes to o (charges: nu +1, o -1)."""
    g.bond(nu, c, +1)
    g.bond(c, o, -1)
    g.charge(nu, +1)
    g.charge(o, -1)


def leave(g: StepGraph, o: int, c: int, x: int) -> None:
    """o's pair reforms c=o, the c-x pair leaves with x (the reverse of ``_add``)."""
    g.bond(c, o, +1)
    g.bond(c, x, -1)
    g.charge(o, +1)
    g.charge(x, -1)


def proton_shift(g: StepGraph, donor: int, acceptor: int, pi_from: int, pi_to: int) -> bool:
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


