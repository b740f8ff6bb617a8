"""Atomic numbers -> the model's type indices, refusing elements the model was not built for."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from chemnoether.core.elements import symbol
from chemnoether.errors import ConfigError

MAX_ATOMIC_NUMBER = 118


def element_label(z: int) -> str:
    """``"8 (O)"``: an atomic number with its symbol, for messages."""
    return f"{z} ({symbol(z)})"


def checked_elements(elements: Sequence[int]) -> tuple[int, ...]:
    """``elements`` as a sorted tuple of distinct atomic numbers 1-118, or ConfigError."""
    try:
        values = [int(z) for z in elements]
    except (TypeError, ValueError) as err:
        raise ConfigError(f"elements must be a sequence of atomic numbers such as [1, 6, 8], got {elements!r}") from err
    if any(isinstance(z, bool) for z in elements) or any(not 1 <= z <= MAX_ATOMIC_NUMBER for z in values):
        raise ConfigError(f"elements must be atomic numbers between 1 and {MAX_ATOMIC_NUMBER}, got {list(elements)!r}")
    if not values:
        raise ConfigError("elements is empty; give the atomic numbers the model must know, e.g. [1, 6, 8]")
    if len(set(values)) != len(values):
        raise ConfigError(f"elements has repeated atomic numbers: {list(elements)!r}")
    return tuple(sorted(values))


class ElementTypes(torch.nn.Module):
    """Map atomic numbers Z (N,) int64 to type indices 0..len(elements)-1 (N,) int64.

    Atomic numbers and type indices are kept apart (as in NequIP): the index is the position of Z
    in the sorted ``elements``. An atom of any other element raises ``ConfigError`` naming it and
    the elements the model was built for. (Checking costs one device synchronisation per call.)
    """

    def __init__(self, elements: Sequence[int]):
        super().__init__()
        self.elements = checked_elements(elements)
        table = torch.full((MAX_ATOMIC_NUMBER + 1,), -1, dtype=torch.long)
        table[list(self.elements)] = torch.arange(len(self.elements))
        # not persistent: it follows from `elements`, which the model's config records
        self.register_buffer("table", table, persistent=False)

    @property
    def num_types(self) -> int:
        return len(self.elements)

    def forward(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        z = atomic_numbers.long()
        inside = (z >= 0) & (z <= MAX_ATOMIC_NUMBER)
        types = self.table[z.clamp(0, MAX_ATOMIC_NUMBER)]
        unknown = ~inside | (types < 0)
        if bool(unknown.any()):
            found = sorted({int(v) for v in z[unknown].tolist()})
            known = ", ".join(element_label(e) for e in self.elements)
            raise ConfigError(
                f"atomic number(s) {', '.join(element_label(v) for v in found)} not among the elements "
                f"this model was built for: [{known}]; build (and train) a model with elements "
                f"including them"
            )
        return types

    def extra_repr(self) -> str:
        return f"elements={list(self.elements)}"
