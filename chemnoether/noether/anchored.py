"""A learned conserved quantity that cannot collapse: anchored on the kinetic energy (docs/design.md section 6).

An unsupervised learned g tends to a near-constant, which is trivially "conserved". Here g has
the form of a total energy, ``g(x) = K(v) + V_phi(positions)``, with ``K`` the exact kinetic
energy and ``V_phi`` a learned invariant function of the positions alone. Along a true NVE step
the kinetic energy changes, so a constant ``V_phi`` leaves all of that change in g; the only way
to make g conserved is for ``V_phi`` to rise where ``K`` falls, i.e. to learn the potential
energy up to a constant, without a single energy label. ``kinetic_anchor_loss`` is the share of
the kinetic energy change that g still shows (1 for a constant ``V_phi``, 0 for the true potential).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from chemnoether import keys
from chemnoether._atomic import atomic_write
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import CheckpointError
from chemnoether.noether.embeddings import NoetherEmbedding
from chemnoether.noether.oracles import kinetic_energy_per_graph
from chemnoether.noether.quantity import ConservedQuantity


# pre-training that worked on ethanol (MMFF94, 5 fs windows): R^2 of V_phi against the MMFF94
# potential on test frames 0.05 after 300 steps at lr 1e-3, 0.72 after 1000 steps at lr 3e-3
# (recipes/learned_md_training); what ``chemnoether evaluate --tailor-g anchored`` uses when the
# run has no fitted g of its own (``ANCHORED_G_FILE``, written by ``chemnoether md fit-g``)
PRETRAIN_STEPS = 1000
PRETRAIN_LR = 3e-3
ANCHORED_G_FILE = "anchored_g.pt"
_FORMAT = "chemnoether.anchored_g"


def at_rest(state: GraphTensors) -> GraphTensors:
    """``state`` with every velocity zero (what a potential energy may depend on)."""
    return replace(state, atom={**state.atom, keys.VEL: torch.zeros_like(state.atom[keys.POS])})


class KineticAnchoredEnergy(ConservedQuantity):
    """g: ``state -> (B, 1)``, ``K(v) + V_phi(x)`` in eV (module docstring).

    ``V_phi`` is a ``NoetherEmbedding`` of width 1 evaluated at rest (so it sees positions, atom
    types, rings and subgraphs only); its arguments as there.
    """

    kind = "anchored"
    k = 1

    def __init__(self, elements: Sequence[int], hidden: int = 32, layers: int = 2, cutoff: float = 5.0):
        super().__init__()
        self.potential = NoetherEmbedding(elements, k=1, hidden=hidden, layers=layers, cutoff=cutoff)
        self.config = {"elements": [int(z) for z in elements], "hidden": hidden, "layers": layers, "cutoff": float(cutoff)}

    def potential_energy(self, state: GraphTensors) -> torch.Tensor:
        """(B,) the learned potential ``V_phi``, eV up to a constant."""
        return self.potential(at_rest(state)).reshape(-1)

    def forward(self, state: GraphTensors) -> torch.Tensor:
        return (kinetic_energy_per_graph(state) + self.potential_energy(state)).unsqueeze(1)


def kinetic_anchor_loss(g: KineticAnchoredEnergy, now: GraphTensors, later: GraphTensors) -> torch.Tensor:
    """Scalar: ``mean |g(now) - g(later)|^2 / mean |K(now) - K(later)|^2`` over the graphs.

    ``now`` and ``later`` are true states of the same graphs some steps apart. The denominator is
    data only (no parameters), so the loss is 1 for a constant potential and 0 for a perfect one.
    """
    change = (g(now) - g(later)).pow(2).mean()
    kinetic_change = (kinetic_energy_per_graph(now) - kinetic_energy_per_graph(later)).pow(2).mean().detach()
    return change / (kinetic_change + 1e-12)


def trajectory_anchor_loss(g: KineticAnchoredEnergy, states: GraphTensors) -> torch.Tensor:
    """Scalar: ``Var(g) / Var(K)`` over the graphs of ``states``, all from one NVE trajectory.

    On one NVE trajectory every state has the same total energy, so g must be equal on all of
    them, not only on states 5 fs apart: this pins the slow parts of the potential (torsions)
    that barely change over one window and that ``kinetic_anchor_loss`` therefore hardly sees.
    Only for data that is one NVE trajectory (generated runs); thermostatted data keeps the window
    form. Like it, 1 for a constant potential and 0 for the true one, with no energy label.
    """
    values = g(states).reshape(-1)
    kinetic = kinetic_energy_per_graph(states).reshape(-1).detach()
    return (values - values.mean()).pow(2).mean() / ((kinetic - kinetic.mean()).pow(2).mean() + 1e-12)


def save_anchored_g(g: KineticAnchoredEnergy, path, fit: dict) -> Path:
    """Write ``g`` (config, weights and ``fit``: how it was fitted, JSON-ready) atomically to ``path``."""
    payload = {"format": _FORMAT, "version": 1, "config": dict(g.config), "fit": dict(fit),
               "state_dict": {k: v.detach().cpu() for k, v in g.state_dict().items()}}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_anchored_g(path, device="cpu") -> tuple[KineticAnchoredEnergy, dict]:
    """``(g in eval mode, fit record)`` from a file of ``save_anchored_g``; a clear error otherwise."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no fitted anchored g here; fit one with `chemnoether md fit-g RUN_DIR`") from None
    except Exception as err:  # truncated, not a torch file, foreign pickles
        raise CheckpointError(f"{path}: not a readable anchored-g file ({err}); fit it again with `chemnoether md fit-g`") from err
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise CheckpointError(f"{path}: not an anchored-g file of `chemnoether md fit-g` (no {_FORMAT!r} format tag)")
    g = KineticAnchoredEnergy(**payload["config"])
    g.load_state_dict(payload["state_dict"])
    return g.to(device).eval(), payload["fit"]
