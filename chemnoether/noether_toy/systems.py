"""The two Hamiltonian Neural Networks toy systems and their data (Greydanus et al. 2019).

Constants are those of the HNN *code* (``experiment-spring/data.py``, ``experiment-pend/data.py``),
which the Noether Networks paper reused, not of the HNN paper's printed formulas:

* ideal spring:   ``H = q^2 + p^2``             (dq/dt = 2p, dp/dt = -2q),
  ``t_span=[0, 3]``, ``timescale=10`` -> 30 time points, initial radius ``|(q, p)|`` ~ U(0.1, 1.0).
* ideal pendulum: ``H = 3 (1 - cos q) + p^2``   (dq/dt = 2p, dp/dt = -3 sin q),
  ``t_span=[0, 3]``, ``timescale=15`` -> 45 time points, initial radius ~ U(1.3, 2.3).

Both are ``H = a V(q) + b p^2``. Normalising the p^2 coefficient to 1 gives the forms the
symbolic search should recover: spring ``q^2 + (b/a) p^2 = q^2 + 1 p^2``; pendulum
``p^2 - (a/b) cos q + const`` = ``p^2 - 3 cos q``. That is the paper's ``p^2 - 2.99 cos q``. The
printed HNN formula ``2mgl(1 - cos q) + l^2 p^2 / (2m)`` with m=l=1, g=3 would give
``p^2 - 12 cos q``, and the textbook pendulum ``mgl(1 - cos q) + p^2 / (2 m l^2)`` gives
``p^2 - 2g cos q = p^2 - 6 cos q`` (``STANDARD_PENDULUM``); the paper's 2.99 therefore identifies
the code's Hamiltonian, whose "g" is effectively 1.5 in the textbook form.

Data: 25 train / 25 test trajectories (HNN: 50 samples, test_split 0.5), initial state
``y0 = U(-1, 1)^2`` rescaled to the sampled radius, exact integration with ``solve_ivp`` (DOP853,
rtol = atol = 1e-10), ``dx/dt`` from the true vector field at the clean states (as HNN), then
Gaussian noise of std ``noise_std`` (HNN: 0.1) added to the *training* states only. Test
trajectories stay clean: they are the targets of the rollout RMSE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.integrate import solve_ivp


def _xp(x):
    """numpy or torch, whichever ``x`` belongs to, so one formula serves data and models."""
    return torch if isinstance(x, torch.Tensor) else np


@dataclass(frozen=True)
class System:
    """``H = a V(q) + b p^2`` with ``V = q^2`` ("quadratic") or ``1 - cos q`` ("cosine")."""

    name: str
    a: float
    b: float
    potential: str
    timescale: int
    radius_range: tuple[float, float]
    t_span: tuple[float, float] = (0.0, 3.0)

    @property
    def q_is_angle(self) -> bool:
        """Whether q is dimensionless, so trig functions of q are unit-consistent."""
        return self.potential == "cosine"

    @property
    def n_points(self) -> int:
        return int(self.timescale * (self.t_span[1] - self.t_span[0]))

    @property
    def t_eval(self) -> np.ndarray:
        return np.linspace(self.t_span[0], self.t_span[1], self.n_points)

    @property
    def dt(self) -> float:
        return float(self.t_eval[1] - self.t_eval[0])

    def hamiltonian(self, x):
        """H of states ``x[..., 0] = q, x[..., 1] = p`` (numpy or torch)."""
        q, p = x[..., 0], x[..., 1]
        v = q**2 if self.potential == "quadratic" else 1 - _xp(x).cos(q)
        return self.a * v + self.b * p**2

    def vector_field(self, x):
        """``(dH/dp, -dH/dq)`` of states ``x[..., 2]`` (numpy or torch)."""
        q, p = x[..., 0], x[..., 1]
        xp = _xp(x)
        dv = 2 * q if self.potential == "quadratic" else xp.sin(q)
        return xp.stack([2 * self.b * p, -self.a * dv], -1)


SPRING = System("spring", a=1.0, b=1.0, potential="quadratic", timescale=10, radius_range=(0.1, 1.0))
PENDULUM = System("pendulum", a=3.0, b=1.0, potential="cosine", timescale=15, radius_range=(1.3, 2.3))
#: textbook pendulum m = l = 1, g = 3: H = 3 (1 - cos q) + p^2 / 2, normalised p^2 - 6 cos q
STANDARD_PENDULUM = System("standard_pendulum", a=3.0, b=0.5, potential="cosine", timescale=15,
                           radius_range=(1.3, 2.3))
SYSTEMS = {s.name: s for s in (SPRING, PENDULUM, STANDARD_PENDULUM)}


def trajectory(system: System, y0: np.ndarray) -> np.ndarray:
    """Exact trajectory ``(T, 2)`` from ``y0`` on the system's time grid."""
    sol = solve_ivp(lambda _t, y: system.vector_field(y), system.t_span, y0, t_eval=system.t_eval,
                    method="DOP853", rtol=1e-10, atol=1e-10)
    return sol.y.T


def make_dataset(system: System, n_train: int = 25, n_test: int = 25, noise_std: float = 0.1,
                 seed: int = 0, n_val: int = 0) -> dict[str, np.ndarray]:
    """Train/test trajectories as HNN draws them (+ ``n_val`` extra validation ones, drawn last).

    Returns ``x_train``/``dxdt_train`` ``(n_train, T, 2)`` (states noisy, derivatives clean),
    ``x_train_clean``, ``x_test`` ``(n_test, T, 2)`` (clean), ``x_val`` ``(n_val, T, 2)`` (noisy
    like training: what a practitioner holds out), ``t`` ``(T,)``. Train and test do not depend
    on ``n_val``.
    """
    rng = np.random.default_rng(seed)
    lo, hi = system.radius_range
    trajs = []
    for _ in range(n_train + n_test):
        y0 = rng.uniform(-1, 1, 2)
        y0 = y0 / np.linalg.norm(y0) * rng.uniform(lo, hi)
        trajs.append(trajectory(system, y0))
    x = np.stack(trajs)
    dxdt = system.vector_field(x)
    train, test = x[:n_train], x[n_train:]
    noisy_train = train + rng.normal(0, noise_std, train.shape) if noise_std > 0 else train.copy()
    val_rng = np.random.default_rng([seed, 1])  # separate stream: train/test unchanged by n_val
    val = []
    for _ in range(n_val):
        y0 = val_rng.uniform(-1, 1, 2)
        val.append(trajectory(system, y0 / np.linalg.norm(y0) * val_rng.uniform(lo, hi)))
    val = np.stack(val) if val else np.zeros((0, system.n_points, 2))
    if noise_std > 0:
        val = val + val_rng.normal(0, noise_std, val.shape)
    return {
        "x_val": val,
        "x_train": noisy_train,
        "x_train_clean": train,
        "dxdt_train": dxdt[:n_train],
        "x_test": test,
        "t": system.t_eval,
    }
