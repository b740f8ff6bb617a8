"""Gate nonlinearity for a given set of output irreps (e3nn ``nn.Gate``)."""

from __future__ import annotations

import torch
from e3nn import nn as e3nn_nn
from e3nn import o3


class IrrepsGate(torch.nn.Module):
    """Gate activation whose *output* is ``irreps_out``; it asks for ``irreps_in`` from the layer before.

    Scalars (0e through SiLU, 0o through tanh) pass through their activation; every irrep with
    l > 0 is multiplied by its own extra 0e gate scalar put through a sigmoid. So the layer before
    must produce ``irreps_in`` = scalars + one gate scalar per gated irrep + gated irreps (sorted
    and simplified the way e3nn's ``Gate`` wants them).

    Args:
        irreps_out: sorted, simplified irreps (``Irreps.sort().irreps.simplify()``), e.g. ``"32x0e+32x1o"``.
    """

    def __init__(self, irreps_out):
        super().__init__()
        irreps_out = o3.Irreps(irreps_out)
        canonical = irreps_out.sort().irreps.simplify()
        if irreps_out != canonical:
            raise ValueError(f"IrrepsGate irreps_out must be sorted and simplified: got {irreps_out}, use {canonical}")
        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_out if ir.l > 0])
        if scalars.dim == 0 and gated.dim == 0:
            raise ValueError("IrrepsGate irreps_out is empty")
        activations = {1: torch.nn.functional.silu, -1: torch.tanh}
        self.gate = e3nn_nn.Gate(
            scalars,
            [activations[ir.p] for _, ir in scalars],
            o3.Irreps(f"{gated.num_irreps}x0e") if gated.num_irreps else o3.Irreps(""),
            [torch.sigmoid] if gated.num_irreps else [],
            gated,
        )
        if self.gate.irreps_out != irreps_out:  # e3nn orders scalars before gated irreps
            raise ValueError(f"IrrepsGate cannot produce {irreps_out}; e3nn's Gate gives {self.gate.irreps_out}")
        self.irreps_in = self.gate.irreps_in
        self.irreps_out = irreps_out

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(..., irreps_in.dim) -> (..., irreps_out.dim)."""
        return self.gate(features)

    def extra_repr(self) -> str:
        return f"{self.irreps_in} -> {self.irreps_out}"
