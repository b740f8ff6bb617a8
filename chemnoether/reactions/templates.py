"""Forward reaction-centre templates, extracted from atom-mapped reactions with RDKit only.

``extract_template`` finds the reaction centre of a mapped reaction: the mapped atoms whose bonds
(to mapped atoms: added, removed or of another order; to unmapped leaving atoms: broken), hydrogen
count, charge or aromaticity change. The template holds the centre plus its radius-``radius``
neighbourhood (on both sides) and the leaving atoms bonded to the centre. Centre and leaving atoms
are written with element, aromaticity, H count, degree and charge; neighbours with element and
aromaticity only, so the template generalises beyond the one reaction it came from (the usual
RDChiral-style choice).

``apply_template`` runs it forwards with RDKit's ``RunReactants`` and then repairs what RunReactants
leaves wrong: centre atoms get the hydrogen count and charge they had in the template's product,
and every template atom its aromaticity. Outcomes that do not sanitise are dropped.

``TemplateLibrary`` holds distinct templates and finds those that match given reactants;
``ReactionPool`` holds the training reactions decoys draw on (reactant fingerprints for family D3,
a template library for D4).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import rdChemReactions, rdFingerprintGenerator

from chemnoether.reactions.parse import Reaction, combine_mols

_BOND_SMARTS = {
    Chem.BondType.SINGLE: "-",
    Chem.BondType.DOUBLE: "=",
    Chem.BondType.TRIPLE: "#",
    Chem.BondType.AROMATIC: ":",
}


@dataclass(frozen=True, eq=False)
class Template:
    """A forward template: reaction SMARTS, the RDKit reaction, and for each template map number
    the product-side state ``(is_centre, H count, formal charge, aromatic)`` that
    ``apply_template`` restores after RunReactants."""

    smarts: str
    rxn: rdChemReactions.ChemicalReaction
    atoms: dict  # template map number -> (is_centre, H count, formal charge, aromatic)

    @property
    def n_reactants(self) -> int:
        return self.rxn.GetNumReactantTemplates()


def _atom_smarts(atom: Chem.Atom, mapnum: int, detailed: bool) -> str:
    parts = [f"#{atom.GetAtomicNum()}", "a" if atom.GetIsAromatic() else "A"]
    if detailed:
        parts += [f"H{atom.GetTotalNumHs()}", f"D{atom.GetDegree()}", f"{atom.GetFormalCharge():+d}"]
    return "[" + ";".join(parts) + (f":{mapnum}" if mapnum else "") + "]"


def _fragment(mol: Chem.Mol, atoms: list[int], symbol) -> tuple[str, list[int]]:
    """SMARTS of ``atoms`` of ``mol`` (bonds among them) and the order the atoms were written in."""
    symbols = [symbol(a) for a in mol.GetAtoms()]
    bonds = [_BOND_SMARTS.get(b.GetBondType(), "~") for b in mol.GetBonds()]
    text = Chem.MolFragmentToSmiles(
        mol, atomsToUse=atoms, atomSymbols=symbols, bondSymbols=bonds, isomericSmiles=False, canonical=True
    )
    return text, list(mol.GetProp("_smilesAtomOutputOrder", autoConvert=True))


def _neighbour_maps(atom: Chem.Atom) -> dict[int, Chem.BondType]:
    return {b.GetOtherAtom(atom).GetAtomMapNum(): b.GetBondType() for b in atom.GetBonds()}


def _mapped_sides(reaction: Reaction):
    """(left molecules, product molecules, map -> (left mol index, atom), map -> (product mol
    index, atom)), all sanitised; None if the reaction cannot give a template."""
    if not reaction.mapped:
        return None
    mols = []
    for side in ("reactants", "reagents", "products"):
        sanitized = [m for m, _ in reaction.sanitized(side)]
        if any(m is None for m in sanitized):
            return None
        mols.append(sanitized)
    left_mols, p_mols = mols[0] + mols[1], mols[2]
    left = {a.GetAtomMapNum(): (i, a) for i, m in enumerate(left_mols) for a in m.GetAtoms() if a.GetAtomMapNum()}
    product = {}
    for i, m in enumerate(p_mols):
        for a in m.GetAtoms():
            if not a.GetAtomMapNum():
                return None  # an atom from nowhere: no template can create it
            product[a.GetAtomMapNum()] = (i, a)
    return left_mols, p_mols, left, product


def reaction_centre(reaction: Reaction) -> set[int] | None:
    """Map numbers of the changed atoms, or None when the reaction cannot give a template (not
    mapped, a molecule does not sanitise, a product atom without map, nothing changes)."""
    sides = _mapped_sides(reaction)
    if sides is None:
        return None
    _, _, left, product = sides
    centre = set()
    for m, (_, p_atom) in product.items():
        r_atom = left[m][1]
        r_nb = _neighbour_maps(r_atom)
        if (
            _neighbour_maps(p_atom) != {k: v for k, v in r_nb.items() if k in product}
            or any(k not in product for k in r_nb)  # a bond to a leaving atom was broken
            or p_atom.GetTotalNumHs() != r_atom.GetTotalNumHs()
            or p_atom.GetFormalCharge() != r_atom.GetFormalCharge()
            or p_atom.GetIsAromatic() != r_atom.GetIsAromatic()
        ):
            centre.add(m)
    return centre or None


def extract_template(reaction: Reaction, radius: int = 1) -> Template | None:
    """The forward template of a mapped reaction (see the module docstring), or None."""
    centre = reaction_centre(reaction)
    if centre is None:
        return None
    left_mols, p_mols, left, product = _mapped_sides(reaction)
    chosen = set(centre)
    for _ in range(radius):
        grow = set()
        for m in chosen:
            for atom in (left[m][1], product[m][1]):
                grow |= {n.GetAtomMapNum() for n in atom.GetNeighbors() if n.GetAtomMapNum() in product}
        chosen |= grow
    if len({product[m][0] for m in chosen}) > 1:
        return None  # centre spread over several product molecules: keep templates one-product
    per_mol: dict[int, set[int]] = {}
    for m in chosen:
        i, atom = left[m]
        per_mol.setdefault(i, set()).add(atom.GetIdx())
        if m in centre:  # leaving atoms next to the centre: the template removes them
            per_mol[i] |= {n.GetIdx() for n in atom.GetNeighbors() if n.GetAtomMapNum() not in product}

    def symbol(a, renumber):
        m = a.GetAtomMapNum()
        return _atom_smarts(a, renumber.get(m, 0), m not in chosen or m in centre)

    # canonical numbering, so equal templates from different reactions give equal SMARTS:
    # sort the reactant pieces by their map-free SMARTS, then number atoms in writing order
    per_mol = {i: sorted(idx) for i, idx in per_mol.items()}
    pieces = sorted((_fragment(left_mols[i], idx, lambda a: symbol(a, {})), i, idx) for i, idx in per_mol.items())
    renumber: dict[int, int] = {}
    for (_, order), i, _ in pieces:
        for k in order:
            m = left_mols[i].GetAtomWithIdx(k).GetAtomMapNum()
            if m in chosen:
                renumber[m] = len(renumber) + 1
    reactant_smarts = [f"({_fragment(left_mols[i], idx, lambda a: symbol(a, renumber))[0]})" for _, i, idx in pieces]
    p_mol = p_mols[product[next(iter(chosen))][0]]
    p_atoms = sorted(product[m][1].GetIdx() for m in chosen)
    product_smarts, _ = _fragment(p_mol, p_atoms, lambda a: _atom_smarts(a, renumber.get(a.GetAtomMapNum(), 0), False))
    smarts = ".".join(reactant_smarts) + ">>(" + product_smarts + ")"
    with rdBase.BlockLogs():
        try:
            rxn = rdChemReactions.ReactionFromSmarts(smarts)
            rxn.Initialize()
        except Exception:  # noqa: BLE001 - an unusual centre RDKit cannot express: no template
            return None
    atoms = {}
    for m in chosen:
        p = product[m][1]
        atoms[renumber[m]] = (m in centre, p.GetTotalNumHs(), p.GetFormalCharge(), p.GetIsAromatic())
    return Template(smarts, rxn, atoms)


def _fix_product(template: Template, mol: Chem.Mol) -> Chem.Mol | None:
    mol = Chem.RWMol(mol)
    for atom in mol.GetAtoms():
        if not atom.HasProp("old_mapno"):
            continue
        is_centre, h, charge, aromatic = template.atoms[atom.GetIntProp("old_mapno")]
        atom.SetIsAromatic(aromatic)
        if is_centre:
            atom.SetFormalCharge(charge)
            atom.SetNumExplicitHs(h)
            atom.SetNoImplicit(True)
            atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)  # the template carries no stereo
    for bond in mol.GetBonds():
        bond.SetIsAromatic(bond.GetBondType() == Chem.BondType.AROMATIC)
    out = mol.GetMol()
    try:
        Chem.SanitizeMol(out)
    except Exception:  # noqa: BLE001 - an impossible outcome (e.g. a broken aromatic ring)
        return None
    return out


def apply_template(template: Template, reactants: Sequence[Chem.Mol], max_products: int = 200) -> dict[str, Chem.Mol]:
    """Sanitised outcomes of ``template`` on ``reactants`` (sanitised, unmapped molecules, each used
    at most once), keyed by canonical SMILES without stereo."""
    rxn = template.rxn
    n = rxn.GetNumReactantTemplates()
    queries = [rxn.GetReactantTemplate(j) for j in range(n)]
    usable = [[i for i, r in enumerate(reactants) if r.HasSubstructMatch(q)] for q in queries]
    out: dict[str, Chem.Mol] = {}
    with rdBase.BlockLogs():
        for combo in itertools.product(*usable):
            if len(set(combo)) < n:
                continue  # the same molecule twice would create atoms the reactants do not have
            for products in rxn.RunReactants(tuple(reactants[i] for i in combo), max_products):
                fixed = _fix_product(template, products[0])
                if fixed is not None:
                    out.setdefault(Chem.MolToSmiles(fixed, isomericSmiles=False), fixed)
    return out


class TemplateLibrary:
    """Distinct templates (by SMARTS) with a screen that finds those matching given reactants.

    Reactant-side queries shared by several templates are matched once per call, not once per
    template: the 1,279 templates of USPTO-50k's validation split share 810 queries."""

    def __init__(self, templates: Sequence[Template]):
        unique: dict[str, Template] = {}
        for t in templates:
            unique.setdefault(t.smarts, t)
        self.templates = list(unique.values())
        index: dict[str, int] = {}
        self._per_template = [
            [index.setdefault(Chem.MolToSmarts(t.rxn.GetReactantTemplate(j)), len(index)) for j in range(t.n_reactants)]
            for t in self.templates
        ]
        self._queries = [Chem.MolFromSmarts(s) for s in index]

    @classmethod
    def from_reactions(cls, reactions: Sequence[Reaction], radius: int = 1) -> TemplateLibrary:
        """Templates of the mapped reactions among ``reactions``, in order, duplicates dropped."""
        return cls([t for t in (extract_template(r, radius) for r in reactions) if t is not None])

    def __len__(self) -> int:
        return len(self.templates)

    def __getitem__(self, i: int) -> Template:
        return self.templates[i]

    def matching(self, reactants: Sequence[Chem.Mol]) -> list[int]:
        """Indices of the templates whose every reactant query matches one of ``reactants``."""
        hits = [any(m.HasSubstructMatch(q) for m in reactants) for q in self._queries]
        return [
            t for t, qs in enumerate(self._per_template) if len(qs) <= len(reactants) and all(hits[q] for q in qs)
        ]


class ReactionPool:
    """Reactions to draw decoys from: reactant fingerprints (D3) and templates (D4), built once.

    Build it from training reactions only, so that test products and templates do not leak."""

    def __init__(self, reactions: Sequence[Reaction], radius: int = 2, n_bits: int = 2048):
        self.reactions = list(reactions)
        self._fpgen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        self.products, self.keys, self._fps, self._fp_rows = [], [], [], []
        for i, r in enumerate(self.reactions):
            product = r.unmapped_sanitized("products")
            fp = self.fingerprint(r)
            smiles = ".".join(Chem.MolToSmiles(m) for m in product) if product else None
            self.products.append(smiles)
            self.keys.append(r.product_key() if smiles else None)
            if fp is not None and smiles is not None:
                self._fps.append(fp)
                self._fp_rows.append(i)

    def fingerprint(self, reaction: Reaction):
        """Morgan fingerprint of the combined, sanitised reactants (None if one does not sanitise)."""
        mols = reaction.unmapped_sanitized("reactants")
        if mols is None:
            return None
        return self._fpgen.GetFingerprint(combine_mols(mols))

    def nearest(self, reaction: Reaction, rng) -> list[tuple[int, float]]:
        """(pool index, Tanimoto) of every pool reaction, most similar reactants first; ties in
        random order."""
        fp = self.fingerprint(reaction)
        if fp is None or not self._fps:
            return []
        sims = np.asarray(DataStructs.BulkTanimotoSimilarity(fp, self._fps))
        order = np.lexsort((np.random.default_rng(rng).random(len(sims)), -sims))
        return [(self._fp_rows[j], float(sims[j])) for j in order]

    @cached_property
    def templates(self) -> TemplateLibrary:
        """Distinct templates of the pool's mapped reactions (extracted on first use)."""
        return TemplateLibrary.from_reactions(self.reactions)
