"""Named molecules for MD generation: the MD17 / rMD17 set and a few small extras.

``resolve_molecule`` turns a name ("ethanol", "Salicylic acid") or a SMILES into ``(name, smiles)``.
The SMILES are heavy-atom SMILES; MD adds the hydrogens.
"""

from __future__ import annotations

from types import MappingProxyType

from rdkit import Chem, rdBase

from chemnoether.errors import InvalidMoleculeError

# name -> SMILES. The first eight are MD17's molecules; azobenzene and paracetamol complete rMD17.
# Malonaldehyde is MD17's cis-enol (Z) tautomer, the one with the intramolecular H-bond.
KNOWN_MOLECULES = MappingProxyType(
    {
        "ethanol": "CCO",
        "malonaldehyde": "O=C/C=C\\O",
        "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
        "naphthalene": "c1ccc2ccccc2c1",
        "salicylic_acid": "O=C(O)c1ccccc1O",
        "toluene": "Cc1ccccc1",
        "uracil": "O=c1cc[nH]c(=O)[nH]1",
        "benzene": "c1ccccc1",
        "azobenzene": "c1ccc(cc1)/N=N/c1ccccc1",
        "paracetamol": "CC(=O)Nc1ccc(O)cc1",
        "water": "O",
        "methane": "C",
        "methanol": "CO",
        "acetone": "CC(C)=O",
        "formaldehyde": "C=O",
        "glycine": "NCC(=O)O",
        "alanine_dipeptide": "CC(=O)NC(C)C(=O)NC",
    }
)

# other spellings people use (MD17 file names, common synonyms)
_ALIASES = MappingProxyType(
    {
        "salicylic": "salicylic_acid",
        "malondialdehyde": "malonaldehyde",
        "acetaminophen": "paracetamol",
        "acetylsalicylic_acid": "aspirin",
        "ala2": "alanine_dipeptide",
    }
)


def _normalise_name(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").replace("_", " ").split())


def _canonical(smiles: str) -> str | None:
    with rdBase.BlockLogs():  # a name that is not SMILES is expected here; don't print RDKit's complaint
        mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def resolve_molecule(name_or_smiles: str) -> tuple[str, str]:
    """``(name, smiles)`` for a known name (any case, spaces, hyphens or underscores) or a SMILES.

    A SMILES of a known molecule gets that molecule's name; any other valid SMILES is its own name.
    Raises ``InvalidMoleculeError`` listing the known names when the input is neither.
    """
    key = _normalise_name(name_or_smiles)
    key = _ALIASES.get(key, key)
    if key in KNOWN_MOLECULES:
        return key, KNOWN_MOLECULES[key]
    canonical = _canonical(name_or_smiles.strip()) if name_or_smiles.strip() else None
    if canonical is None:
        raise InvalidMoleculeError(
            f"{name_or_smiles!r} is neither a known molecule name nor a valid SMILES; "
            f"known names: {', '.join(sorted(KNOWN_MOLECULES))}"
        )
    for name, smiles in KNOWN_MOLECULES.items():
        if _canonical(smiles) == canonical:
            return name, smiles
    return name_or_smiles.strip(), name_or_smiles.strip()
