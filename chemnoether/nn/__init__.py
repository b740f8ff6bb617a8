"""Building blocks of the equivariant dynamics model (e3nn): one public object per small file.

Message passing runs on plain tensors (``GraphTensors`` indices), never on a DGLGraph, so the same
code runs on CPU and CUDA (docs/design.md section 3).
"""

from chemnoether.nn._conditional import BlockCondition, ConditionalAffine
from chemnoether.nn._cutoff import PolynomialCutoff
from chemnoether.nn._elements import ElementTypes, checked_elements, element_label
from chemnoether.nn._embedding import NodeEmbedding
from chemnoether.nn._gate import IrrepsGate
from chemnoether.nn._interaction import InteractionBlock
from chemnoether.nn._mlp import silu_mlp
from chemnoether.nn._radial import BesselBasis

__all__ = [
    "BesselBasis",
    "BlockCondition",
    "ConditionalAffine",
    "ElementTypes",
    "InteractionBlock",
    "IrrepsGate",
    "NodeEmbedding",
    "PolynomialCutoff",
    "checked_elements",
    "element_label",
    "silu_mlp",
]
