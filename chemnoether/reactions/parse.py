"""Reaction SMILES -> ``Reaction``: three sides of RDKit molecules, parsed but not yet sanitised.

Two kinds of trouble are kept apart on purpose (docs/design.md section 7):

* **parse errors** (``ReactionParseError``) make the row unusable: not a string, wrong number of
  ``>``, an empty reactant or product side, a SMILES RDKit cannot read, dummy atoms ``*``, a
  product atom map that points to no reactant atom, a map number used twice on one side, a
  molecule above ``MAX_MOLECULE_ATOMS`` atoms (``ReactionSizeError``: RDKit's SMILES writer
  recurses along chains and crashes the whole process, rc 139, on a 20,000-carbon chain, so such
  a row is refused before any RDKit call but the reader);
* **chemistry violations** (a pentavalent carbon, an element appearing from nowhere) are answers,
  not errors: the molecules are parsed *without* sanitisation so that ``oracle_checks`` can report
  them as a verdict on an otherwise well-formed row.

Reagents (the middle field) are kept apart from the reactants. Whether they count as reactant-side
atoms is the oracle's decision (by default they do: in USPTO the reactant/reagent split comes from
the patent text and reagents often contribute atoms). Accordingly a product atom map may point to
a reagent atom, and map numbers must be unique over reactants and reagents together.

Molecules are split on ``.``; a ring bond written across a dot (``C1.C1``) is not supported.
A CXSMILES extension (`` |...|``) after the reaction is ignored.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property

from rdkit import Chem, rdBase

from chemnoether.errors import InvalidMoleculeError, UnsupportedElementError

SIDES = ("reactants", "reagents", "products")
# atoms per molecule (hydrogens written as atoms included). Far above any reaction of USPTO (at
# most about 150) and far below where RDKit's recursive SMILES writer overflows the stack.
MAX_MOLECULE_ATOMS = 1000
_SHOWN = 120  # characters of a reaction quoted in a message


class ReactionParseError(InvalidMoleculeError):
    """A reaction SMILES is malformed; the message names the input and the problem."""


class ReactionElementError(ReactionParseError, UnsupportedElementError):
    """A reaction contains an atom that is no element (a dummy ``*``, atomic number 0)."""


class ReactionSizeError(ReactionParseError):
    """A molecule of the reaction has more than ``MAX_MOLECULE_ATOMS`` atoms."""


def shown(text: str) -> str:
    """``repr(text)``, cut in the middle when long, for error messages about huge inputs."""
    if not isinstance(text, str) or len(text) <= _SHOWN:
        return repr(text)
    return repr(text[: _SHOWN // 2]) + f" ...({len(text) - _SHOWN} characters)... " + repr(text[-_SHOWN // 2 :])


@dataclass(frozen=True, eq=False)
class Reaction:
    """A parsed reaction. Molecules are *unsanitised* (property cache updated, so hydrogen counts
    are available); use ``sanitized(side)`` for sanitised copies.

    ``reactants``/``reagents``/``products`` are the molecules of each side combined into one
    RDKit Mol (``reagents`` has no atoms when the field is empty); ``*_mols`` are the molecules one
    by one, in input order. ``mapped`` is true when any product atom carries an atom-map number.
    """

    text: str
    reactant_mols: tuple[Chem.Mol, ...]
    reagent_mols: tuple[Chem.Mol, ...]
    product_mols: tuple[Chem.Mol, ...]
    mapped: bool
    reactants: Chem.Mol = field(init=False, repr=False)
    reagents: Chem.Mol = field(init=False, repr=False)
    products: Chem.Mol = field(init=False, repr=False)

    def __post_init__(self):
        for side in SIDES:
            object.__setattr__(self, side, combine_mols(getattr(self, side[:-1] + "_mols")))

    def mols(self, side: str) -> tuple[Chem.Mol, ...]:
        """The molecules of ``side`` ('reactants', 'reagents' or 'products'), unsanitised."""
        if side not in SIDES:
            raise ValueError(f"side={side!r} is not one of {SIDES}")
        return getattr(self, side[:-1] + "_mols")

    @cached_property
    def _sanitized(self) -> dict:
        return {side: tuple(sanitize_copy(m) for m in self.mols(side)) for side in SIDES}

    def sanitized(self, side: str) -> tuple[tuple[Chem.Mol | None, str | None], ...]:
        """Per molecule of ``side``: (sanitised copy, None) or (None, RDKit's error message)."""
        self.mols(side)  # validates the name
        return self._sanitized[side]

    def unmapped_sanitized(self, *sides: str) -> list[Chem.Mol] | None:
        """Sanitised, map-free copies of the molecules of ``sides`` (default: reactants and
        reagents), or None when one of them does not sanitise."""
        mols = [m for side in sides or ("reactants", "reagents") for m, _ in self.sanitized(side)]
        return None if any(m is None for m in mols) else [_strip_maps(m) for m in mols]

    def product_key(self) -> str | None:
        """``canonical_key`` of the sanitised products (None if one does not sanitise)."""
        mols = self.unmapped_sanitized("products")
        return None if mols is None else canonical_key(combine_mols(mols))

    def without_maps(self) -> Reaction:
        """The same reaction with every atom-map number removed (what a scorer may see)."""
        sides = {side: tuple(_strip_maps(m) for m in self.mols(side)) for side in SIDES}
        text = ">".join(".".join(smiles_of(m) for m in sides[s]) for s in SIDES)
        return Reaction(text, sides["reactants"], sides["reagents"], sides["products"], False)

    def with_products(self, products: str | Chem.Mol) -> Reaction:
        """The same reactants and reagents with ``products`` (a SMILES or a Mol) as product side.

        Maps are not re-validated: pass unmapped products (decoys are unmapped)."""
        if isinstance(products, str):
            mols = tuple(_parse_molecule(s, "product", i, products) for i, s in enumerate(products.split(".")))
        else:
            mols = tuple(Chem.Mol(f) for f in Chem.GetMolFrags(products, asMols=True, sanitizeFrags=False))
        text = self.text.split()[0].rsplit(">", 1)[0] + ">" + ".".join(smiles_of(m) for m in mols)
        mapped = any(a.GetAtomMapNum() for m in mols for a in m.GetAtoms())
        return replace(self, text=text, product_mols=mols, mapped=mapped)


def parse_reaction(text: str) -> Reaction:
    """Parse ``reactants>reagents>products`` or ``reactants>>products`` without sanitising.

    Raises ``ReactionParseError`` (``ReactionElementError`` for dummy atoms) naming the input."""
    if not isinstance(text, str):
        raise ReactionParseError(f"reaction SMILES must be a string, got {type(text).__name__}: {text!r}")
    if not text.strip():
        raise ReactionParseError("reaction SMILES is empty; pass 'reactants>>products'")
    body, *extra = text.split(maxsplit=1)
    if extra and not extra[0].startswith("|"):
        raise ReactionParseError(f"reaction {shown(text)}: unexpected text after the reaction: {extra[0]!r}")
    fields_ = body.split(">")
    if len(fields_) != 3:
        raise ReactionParseError(
            f"reaction {shown(text)} has {len(fields_) - 1} '>' where 2 are needed: "
            "write 'reactants>>products' or 'reactants>reagents>products'"
        )
    for name, part in (("reactant", fields_[0]), ("product", fields_[2])):
        if not part:
            raise ReactionParseError(f"reaction {shown(text)} has an empty {name} side")
    sides = []
    for role, part in zip(("reactant", "reagent", "product"), fields_, strict=True):
        pieces = part.split(".") if part else []
        sides.append(tuple(_parse_molecule(s, role, i, text) for i, s in enumerate(pieces)))
    reactants, reagents, products = sides
    mapped = _check_maps(text, reactants + reagents, products)
    return Reaction(text, reactants, reagents, products, mapped)


def sanitize_copy(mol: Chem.Mol) -> tuple[Chem.Mol | None, str | None]:
    """A sanitised copy of ``mol`` and None, or None and why RDKit refused (e.g. a valence)."""
    copy = Chem.Mol(mol)
    with rdBase.BlockLogs():
        try:
            Chem.SanitizeMol(copy)
        except Exception as err:  # noqa: BLE001 - RDKit raises several unrelated types here
            return None, f"{type(err).__name__}: {err}"
    return copy, None


def _parse_molecule(smiles: str, role: str, index: int, text: str) -> Chem.Mol:
    where = f"reaction {shown(text)}, {role} {index + 1}"
    if not smiles:
        raise ReactionParseError(f"{where}: empty molecule (two dots in a row, or a leading/trailing dot)")
    with rdBase.BlockLogs():  # the exception below says what RDKit's log lines would
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
    if mol is None:
        raise ReactionParseError(f"{where}: RDKit cannot parse SMILES {shown(smiles)}; check its syntax")
    if mol.GetNumAtoms() > MAX_MOLECULE_ATOMS:
        raise ReactionSizeError(
            f"{where}: {mol.GetNumAtoms()} atoms, above the limit of {MAX_MOLECULE_ATOMS} atoms per molecule "
            "(MAX_MOLECULE_ATOMS: RDKit can crash on such molecules); reactions of molecules this large are not scored"
        )
    if any(a.GetAtomicNum() == 0 for a in mol.GetAtoms()):
        raise ReactionElementError(f"{where}: SMILES {shown(smiles)} has a dummy atom (*); use real elements")
    # implicit hydrogen counts without valence checks: a valence error is the oracle's verdict
    mol.UpdatePropertyCache(strict=False)
    return mol


def _check_maps(text: str, left: tuple[Chem.Mol, ...], products: tuple[Chem.Mol, ...]) -> bool:
    left_maps = _maps(left)
    product_maps = _maps(products)
    for side, maps in (("reactant/reagent", left_maps), ("product", product_maps)):
        dup = sorted(k for k, n in Counter(maps).items() if n > 1)
        if dup:
            raise ReactionParseError(f"reaction {shown(text)}: atom maps {dup} are used more than once on the {side} side")
    orphans = sorted(set(product_maps) - set(left_maps))
    if orphans:
        raise ReactionParseError(
            f"reaction {shown(text)}: product atom maps {orphans} point to no reactant atom; fix the mapping or remove it"
        )
    return bool(product_maps)


def _maps(mols) -> list[int]:
    return [a.GetAtomMapNum() for m in mols for a in m.GetAtoms() if a.GetAtomMapNum()]


def combine_mols(mols) -> Chem.Mol:
    """The molecules as one Mol (disconnected), atoms in order, ring information recomputed."""
    out = Chem.Mol()
    for m in mols:
        out = Chem.CombineMols(out, m)
    Chem.FastFindRings(out)  # CombineMols drops ring info; fingerprints and SMILES need it
    return out


def canonical_key(mol: Chem.Mol) -> str:
    """Canonical SMILES without stereo or maps: the identity used to de-duplicate products.

    Written, read back and written again when it sanitises, so keys reached by different routes
    (edited Kekulé molecules, template outcomes, parsed SMILES) agree."""
    mol = _strip_maps(mol)
    with rdBase.BlockLogs():
        smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
        again = Chem.MolFromSmiles(smiles)
        return Chem.MolToSmiles(again) if again is not None else smiles


def _strip_maps(mol: Chem.Mol) -> Chem.Mol:
    out = Chem.Mol(mol)
    for atom in out.GetAtoms():
        atom.SetAtomMapNum(0)
    return out


def smiles_of(mol: Chem.Mol) -> str:
    """SMILES of a molecule, sanitised or not, for messages and reaction texts; never raises."""
    with rdBase.BlockLogs():
        try:
            return Chem.MolToSmiles(mol)
        except Exception:  # noqa: BLE001 - a molecule too broken to write: name it by size
            return f"<molecule with {mol.GetNumAtoms()} atoms>"
