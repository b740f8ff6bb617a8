"""Noether networks for molecular dynamics (``docs/architecture.md``, "Noether").

* ``ConservedQuantity``: the one interface of every g (``quantity``), and ``conservation_loss``.
* ``NoetherEmbedding``: a learned invariant g_phi(state) -> (B, k).
* Oracles with the same interface: ``LinearMomentum``, ``AngularMomentum``, ``TotalEnergy``.
* ``noether_loss``: sum over graphs of ``sum_t |g(x_0) - g(x_t)|^2`` (or consecutive).
* ``tailor``: per-graph conditional-normalisation parameters fitted to the Noether loss of the
  model's own rollout; ``meta_tailoring_loss`` and ``NoetherTailoredModel`` meta-train through it.
"""

from chemnoether.core.registry import register_model
from chemnoether.noether.embeddings import NoetherEmbedding
from chemnoether.noether.losses import MODES, noether_loss, noether_loss_per_graph
from chemnoether.noether.oracles import (
    AngularMomentum,
    LinearMomentum,
    TotalEnergy,
    angular_momentum,
    harmonic_bond_potential,
    kinetic_energy_per_graph,
    linear_momentum,
)
from chemnoether.noether.quantity import ConservedQuantity, conservation_loss
from chemnoether.noether.tailored_model import NoetherTailoredModel, build_tailored_model
from chemnoether.noether.tailoring import (
    TailoringInfo,
    TailoringOptions,
    advance,
    as_conditioning,
    identity_parameters,
    meta_tailoring_loss,
    rollout,
    tailor,
    tailoring_loss,
)

# the wrapper is a model kind of its own: checkpoints of tailored runs rebuild through build_model
register_model("noether_tailored", build_tailored_model)

__all__ = [
    "MODES",
    "AngularMomentum",
    "ConservedQuantity",
    "LinearMomentum",
    "NoetherEmbedding",
    "NoetherTailoredModel",
    "TailoringInfo",
    "TailoringOptions",
    "TotalEnergy",
    "advance",
    "angular_momentum",
    "as_conditioning",
    "conservation_loss",
    "harmonic_bond_potential",
    "identity_parameters",
    "kinetic_energy_per_graph",
    "linear_momentum",
    "meta_tailoring_loss",
    "noether_loss",
    "noether_loss_per_graph",
    "rollout",
    "tailor",
    "tailoring_loss",
]
