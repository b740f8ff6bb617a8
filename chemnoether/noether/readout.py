"""How much of the energy a g knows: R^2 of the best linear readout of g against a reference energy.

A learned conserved quantity is judged by what it conserves (Noether Networks, and docs/design.md section 6: an
unsupervised g should reach R^2 >= 0.9 against the true energy). Along one NVE trajectory the
total energy is constant, so a correlation over its frames says nothing; ``g_energy_r2`` therefore
measures two things on frames g never saw (a test split):

* ``potential``: g of each frame at rest (velocities zero, where a conserved energy is the
  potential energy) against the frame's reference potential energy;
* ``total``: g of each frame with its velocities scaled by a random factor (so the total energies
  differ from state to state) against kinetic plus reference potential energy.

The readout is the least-squares fit ``a . g + b`` over all the states (in-sample; with k + 1
parameters against hundreds of states the optimism is small, and ``n_states`` says how many).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from chemnoether import keys
from chemnoether.errors import ConfigError, GraphFormatError
from chemnoether.noether.anchored import at_rest
from chemnoether.noether.oracles import kinetic_energy_per_graph


def linear_readout_r2(features, target) -> float:
    """R^2 of the least-squares fit ``features @ a + b`` to ``target`` (float64).

    ``features`` (S, k), ``target`` (S,). Raises ``ConfigError`` on non-finite values (naming how
    many rows), fewer than k + 2 states, or a constant target (R^2 is then undefined).
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64).reshape(-1)
    x = x.reshape(len(x), -1) if x.ndim != 2 else x
    if len(x) != len(y):
        raise ConfigError(f"features have {len(x)} rows but the target has {len(y)}")
    bad = ~(np.isfinite(x).all(axis=1) & np.isfinite(y))
    if bad.any():
        raise ConfigError(f"{int(bad.sum())} of {len(y)} states have non-finite g or energy values; R^2 needs finite ones")
    if len(y) < x.shape[1] + 2:
        raise ConfigError(f"R^2 of a readout of {x.shape[1]} features needs at least {x.shape[1] + 2} states, got {len(y)}")
    spread = np.sum((y - y.mean()) ** 2)
    if not spread > 0:
        raise ConfigError("the reference energies are all equal: R^2 is undefined")
    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = np.sum((y - design @ coefficients) ** 2)
    return float(1.0 - residual / spread)


@torch.no_grad()
def g_energy_r2(g, windows, *, batch_size: int = 64, scale_range: tuple[float, float] = (0.5, 1.5), seed: int = 0) -> dict:
    """``{"potential": R^2, "total": R^2, "n_states": S}`` of ``g`` on ``windows`` (module docstring).

    ``windows``: windows with energies (``PairWindows`` of a trajectory with potential energies,
    e.g. the test split of a generated run). ``scale_range``: the velocity factors of the
    ``total`` states, drawn uniformly (seeded).
    """
    from chemnoether.data.windows import window_loader  # lazy: keeps DGL out of `import chemnoether.noether`

    # a g without weights of its own (an oracle, the learned-energy g) runs in its model's dtype
    owner = getattr(g, "model", g)
    parameter = next(iter(g.parameters()), None)
    if parameter is None:
        parameter = next(iter(owner.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float64
    generator = torch.Generator().manual_seed(seed)
    rest_values, moving_values, potentials, totals = [], [], [], []
    was_training = g.training
    g.eval()
    try:
        for batch in window_loader(windows, batch_size):
            if keys.ENERGY not in batch.system:
                raise GraphFormatError(f"g_energy_r2 needs windows with energies (system {keys.ENERGY!r}); these have none")
            batch = batch.to(device=device, dtype=dtype)
            potential = batch.system[keys.ENERGY].reshape(-1).double()
            low, high = scale_range
            factors = low + (high - low) * torch.rand(batch.num_graphs, generator=generator, dtype=torch.float64)
            vel = batch.atom[keys.VEL] * factors.to(device=device, dtype=dtype).index_select(0, batch.atom_graph).unsqueeze(1)
            moving = replace(batch, atom={**batch.atom, keys.VEL: vel})
            rest_values.append(g(at_rest(batch)).reshape(batch.num_graphs, -1).double().cpu())
            moving_values.append(g(moving).reshape(batch.num_graphs, -1).double().cpu())
            potentials.append(potential.cpu())
            totals.append(potential.cpu() + kinetic_energy_per_graph(moving).double().cpu())
    finally:
        g.train(was_training)
    if not potentials:
        raise ConfigError("g_energy_r2 got no windows")
    return {
        "potential": linear_readout_r2(torch.cat(rest_values), torch.cat(potentials)),
        "total": linear_readout_r2(torch.cat(moving_values), torch.cat(totals)),
        "n_states": int(sum(len(p) for p in potentials)),
    }
