"""Smooth polynomial cutoff envelope (NequIP, DimeNet)."""

from __future__ import annotations

import torch

from chemnoether.errors import ConfigError


class PolynomialCutoff(torch.nn.Module):
    r"""Envelope :math:`f(x) = 1 - \frac{(p+1)(p+2)}{2} x^p + p(p+2) x^{p+1} - \frac{p(p+1)}{2} x^{p+2}`, x = r / r_c.

    ``f(0) = 1``; ``f`` and its first two derivatives vanish at ``r = r_c``, and ``f = 0`` beyond,
    so an edge that crosses the cutoff switches off smoothly (no jump in predictions or forces) and
    edges beyond it carry exactly zero weight. ``r`` (E,) in Å -> (E,).

    Args:
        cutoff: r_c, Å.
        power: p (6 in NequIP).
    """

    def __init__(self, cutoff: float, power: int = 6):
        super().__init__()
        if not cutoff > 0:
            raise ConfigError(f"PolynomialCutoff cutoff must be > 0 Å, got {cutoff!r}")
        if isinstance(power, bool) or not isinstance(power, int) or power < 2:
            raise ConfigError(f"PolynomialCutoff power must be an integer >= 2, got {power!r}")
        self.cutoff = float(cutoff)
        self.power = power

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p = self.power
        # clamp: the polynomial turns negative again past x = 1; beyond it the envelope is 0
        x = (r / self.cutoff).clamp(max=1.0)
        xp = x.pow(p)
        value = 1.0 - 0.5 * (p + 1) * (p + 2) * xp + p * (p + 2) * xp * x - 0.5 * p * (p + 1) * xp * x * x
        return value * (r < self.cutoff)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, power={self.power}"
