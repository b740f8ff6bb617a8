"""Per-graph conditional scale and shift of irrep features: the hook for tailoring (docs/design.md section 6).

Noether-network tailoring adapts conditional-normalisation parameters per graph at prediction time.
To stay equivariant, a scale multiplies every component of one irrep channel by the same number
(a channel of ``32x1o`` is one vector), and a shift is added to 0e scalar channels only (adding to
a vector, or to a 0o pseudo-scalar, would break rotation or parity equivariance). Both are per
graph, mapped to atoms with ``atom_graph``, so one backward pass gives each graph its own gradient.
Absent parameters mean identity, so models behave the same until tailoring supplies them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from e3nn import o3


@dataclass(frozen=True)
class BlockCondition:
    """Per-graph parameters for one ``ConditionalAffine`` (either may be ``None``: identity).

    Attributes:
        scale: (num_graphs, num_scales) multiplier per irrep channel; identity is all ones.
        shift: (num_graphs, num_shifts) added to the 0e channels; identity is all zeros.
    """

    scale: torch.Tensor | None = None
    shift: torch.Tensor | None = None


class ConditionalAffine(torch.nn.Module):
    """``x -> x * scale[graph] (per irrep channel) + shift[graph] (0e channels)``; identity without a condition.

    ``num_scales`` = ``irreps.num_irreps`` (one per irrep channel), ``num_shifts`` = number of 0e
    channels. It has no parameters of its own: the caller owns the per-graph tensors.
    """

    def __init__(self, irreps):
        super().__init__()
        self.irreps_in = self.irreps_out = o3.Irreps(irreps)
        repeats = [ir.dim for mul, ir in self.irreps_in for _ in range(mul)]
        self.register_buffer("repeats", torch.tensor(repeats, dtype=torch.long), persistent=False)
        columns: list[int] = []
        for (_, ir), piece in zip(self.irreps_in, self.irreps_in.slices()):
            if ir == o3.Irrep("0e"):
                columns.extend(range(piece.start, piece.stop))
        self.register_buffer("shift_columns", torch.tensor(columns, dtype=torch.long), persistent=False)

    @property
    def num_scales(self) -> int:
        return self.irreps_in.num_irreps

    @property
    def num_shifts(self) -> int:
        return len(self.shift_columns)

    def forward(
        self, x: torch.Tensor, atom_graph: torch.Tensor | None = None, condition: BlockCondition | None = None
    ) -> torch.Tensor:
        """x (N, irreps.dim); ``atom_graph`` (N,) is needed only with a condition."""
        if condition is None or (condition.scale is None and condition.shift is None):
            return x
        if atom_graph is None:
            raise ValueError("ConditionalAffine needs atom_graph (N,) to map per-graph parameters to atoms")
        if condition.scale is not None:
            scale = _checked(condition.scale, self.num_scales, "scale", "irrep channels")
            per_atom = scale.index_select(0, atom_graph)
            x = x * torch.repeat_interleave(per_atom, self.repeats, dim=1, output_size=self.irreps_in.dim)
        if condition.shift is not None:
            shift = _checked(condition.shift, self.num_shifts, "shift", "0e channels")
            x = torch.index_add(x, 1, self.shift_columns, shift.index_select(0, atom_graph))
        return x

    def extra_repr(self) -> str:
        return f"{self.irreps_in}, num_scales={self.num_scales}, num_shifts={self.num_shifts}"


def _checked(value: torch.Tensor, width: int, name: str, what: str) -> torch.Tensor:
    if value.dim() != 2 or value.shape[1] != width:
        raise ValueError(f"condition {name} must have shape (num_graphs, {width}) (one per {what}), got {tuple(value.shape)}")
    return value
