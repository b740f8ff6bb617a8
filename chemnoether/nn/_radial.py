"""Bessel radial basis of the edge length (NequIP, DimeNet)."""

from __future__ import annotations

import math

import torch

from chemnoether.errors import ConfigError


class BesselBasis(torch.nn.Module):
    r"""``num_basis`` functions :math:`\frac{2}{r_c} \frac{\sin(n \pi r / r_c)}{r}`, n = 1..num_basis.

    The edge length ``r`` (E,) in Å becomes (E, num_basis) invariant (0e) features. Written with
    ``torch.sinc`` so that ``r = 0`` (coinciding atoms) gives the finite limit, not NaN.

    Args:
        cutoff: r_c, Å; the functions vanish at r = r_c (multiply by a cutoff envelope beyond it).
        num_basis: number of functions (8 in NequIP / MACE).
        trainable: learn the multiples n (initialised to 1..num_basis), as NequIP optionally does.
    """

    def __init__(self, cutoff: float, num_basis: int = 8, trainable: bool = False):
        super().__init__()
        if not cutoff > 0:
            raise ConfigError(f"BesselBasis cutoff must be > 0 Å, got {cutoff!r}")
        if isinstance(num_basis, bool) or not isinstance(num_basis, int) or num_basis < 1:
            raise ConfigError(f"BesselBasis num_basis must be a positive integer, got {num_basis!r}")
        self.cutoff = float(cutoff)
        self.num_basis = num_basis
        # n itself is stored (exact in any float dtype); the frequencies are n pi / r_c
        multiples = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype())
        if trainable:
            self.multiples = torch.nn.Parameter(multiples)
        else:
            self.register_buffer("multiples", multiples)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """(E,) lengths in Å -> (E, num_basis)."""
        # sin(n pi r / rc) / r = (n pi / rc) * sinc(n r / rc), with torch.sinc(x) = sin(pi x) / (pi x)
        x = r.unsqueeze(-1) / self.cutoff
        return (2.0 * math.pi / self.cutoff**2) * self.multiples * torch.sinc(self.multiples * x)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, num_basis={self.num_basis}"
