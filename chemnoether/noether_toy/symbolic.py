"""Symbolic search for a conserved quantity ``g(q, p)`` (the paper's program-synthesis g).

Search space (small depth): a single term, or ``t1 + c t2`` over the terms below, with ``c``
fitted in closed form. Unit consistency: q is a length for the spring, an angle for the
pendulum, p a momentum, so ``sin``/``cos`` are only allowed of a dimensionless q; a sum of two
terms is unit-consistent because the fitted ``c`` carries the units (as in the paper, whose
fitted constants play that role). Each unordered pair appears once, coefficient 1 on the term
listed first, so the canonical forms are ``p^2 + c cos q`` and ``q^2 + c p^2``.

Filter: ``ratio = within-trajectory variance / variance over random states`` must be
``<= 1 / min_ratio`` (paper: 100x lower along true trajectories than along random ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch

from chemnoether.noether.quantity import ConservedQuantity

from .systems import _xp

#: name -> (function of q, p, array module; needs a dimensionless q)
TERMS = {
    "q^2": (lambda q, p, xp: q**2, False),
    "p^2": (lambda q, p, xp: p**2, False),
    "q*p": (lambda q, p, xp: q * p, False),
    "q": (lambda q, p, xp: q, False),
    "p": (lambda q, p, xp: p, False),
    "cos q": (lambda q, p, xp: xp.cos(q), True),
    "sin q": (lambda q, p, xp: xp.sin(q), True),
    "q^4": (lambda q, p, xp: q**4, False),
    "p^4": (lambda q, p, xp: p**4, False),
}


@dataclass
class Formula:
    """``t1 + c * t2`` (``t2`` may be None: a single term)."""

    t1: str
    t2: str | None = None
    c: float = 0.0
    ratio: float = float("inf")
    scale: float = 1.0  # divides g so Noether losses of different formulas are comparable

    def raw(self, x):
        xp = _xp(x)
        q, p = x[..., 0], x[..., 1]
        v = TERMS[self.t1][0](q, p, xp)
        return v if self.t2 is None else v + self.c * TERMS[self.t2][0](q, p, xp)

    def __call__(self, x):
        return self.raw(x) / self.scale

    def __str__(self) -> str:
        if self.t2 is None:
            return self.t1
        sign = "-" if self.c < 0 else "+"
        return f"{self.t1} {sign} {abs(self.c):.3g} {self.t2}"


def allowed_terms(q_is_angle: bool) -> list[str]:
    """Unit-consistent terms: trig only of a dimensionless q."""
    return [n for n, (_, needs_angle) in TERMS.items() if q_is_angle or not needs_angle]


def candidates(x: np.ndarray, q_is_angle: bool, seed: int = 0) -> list[Formula]:
    """All formulas with their fitted ``c`` and variance ratio, best (lowest ratio) first.

    ``x`` ``(N, T, 2)`` training trajectories. ``c`` minimises the within-trajectory variance
    of ``t1 + c t2`` (least squares on trajectory-centred values). The reference variance is
    over states drawn at random from all trajectories (random state pairs: its expectation is
    twice the pooled variance, the factor cancels in the ranking, we use the pooled variance).
    """
    q, p = x[..., 0], x[..., 1]
    vals = {n: TERMS[n][0](q, p, np) for n in allowed_terms(q_is_angle)}
    out = []

    def score(v, f):
        within = ((v - v.mean(1, keepdims=True)) ** 2).mean()
        total = v.var()
        if total < 1e-12:  # a constant conserves everything and says nothing
            return
        f.ratio, f.scale = float(within / total), float(np.sqrt(total))
        out.append(f)

    for n, v in vals.items():
        score(v, Formula(n))
    for n1, n2 in combinations(vals, 2):
        a, b = vals[n1], vals[n2]
        ac, bc = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
        if (bc**2).sum() < 1e-12:
            continue
        c = -float((ac * bc).sum() / (bc**2).sum())
        score(a + c * b, Formula(n1, n2, c))
    return sorted(out, key=lambda f: f.ratio)


def conserved(x: np.ndarray, q_is_angle: bool, min_ratio: float = 100.0, fallback: int = 3) -> list[Formula]:
    """Formulas passing the 100x filter; if none pass (noisy data), the ``fallback`` best."""
    cands = candidates(x, q_is_angle)
    kept = [f for f in cands if f.ratio <= 1 / min_ratio]
    return kept if kept else cands[:fallback]


class FormulaQuantity(ConservedQuantity):
    """A symbolic formula as a ``ConservedQuantity`` of phase-space points."""

    kind = "toy_symbolic"
    symmetries = ()

    def __init__(self, formula: Formula):
        super().__init__()
        self.formula = formula

    def forward(self, x):
        return self.formula(x if isinstance(x, torch.Tensor) else torch.as_tensor(x))


def as_torch(f: Formula) -> FormulaQuantity:
    """A ``g`` for tailoring: the same formula on torch tensors (the formula dispatches itself)."""
    return FormulaQuantity(f)
