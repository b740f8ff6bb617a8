"""Every g by description: ``g_from_spec`` builds one, ``g_spec`` describes a built one.

A checkpoint of a tailored model records its g as such a description (``kind`` plus options), so
that ``build_model("noether_tailored", ...)`` rebuilds it; recipes name the same kinds in their
``tailoring:`` section (``noether.recipe``).
"""

from __future__ import annotations

import torch

from chemnoether.errors import ConfigError
from chemnoether.noether.anchored import KineticAnchoredEnergy
from chemnoether.noether.embeddings import NoetherEmbedding
from chemnoether.noether.oracles import AngularMomentum, LearnedTotalEnergy, LinearMomentum, TotalEnergy

G_KINDS = ("learned", "linear_momentum", "angular_momentum", "energy", "anchored", "learned_energy")


class MMFFTotalEnergy(TotalEnergy):
    """Oracle g: kinetic plus MMFF94 energy (eV) of ``smiles`` (explicit H, ``generate_md``'s atom order).

    Every graph of a batch must be this molecule with all its atoms, hydrogens included.
    """

    def __init__(self, smiles: str):
        from chemnoether.simulation.generate import prepare_molecule  # lazy: keeps RDKit and DGL out of `import chemnoether.noether`
        from chemnoether.simulation.torch_mmff import mmff_torch_potential  # lazy: keeps RDKit and DGL out of `import chemnoether.noether`

        super().__init__(mmff_torch_potential(prepare_molecule(smiles)))
        self.config = {"smiles": smiles}


def g_from_spec(spec: dict, model: torch.nn.Module | None = None) -> torch.nn.Module:
    """A g from its description (``TailoringSection.g_spec``, or ``g_spec`` of a built one).

    ``model``: the dynamics model being tailored, which ``learned_energy`` reads its potential from.
    """
    if not isinstance(spec, dict) or spec.get("kind") not in G_KINDS:
        raise ConfigError(f"g must be a mapping with kind one of {G_KINDS}, got {spec!r}")
    options = {key: value for key, value in spec.items() if key != "kind"}
    kind = spec["kind"]
    if kind == "learned":
        try:
            return NoetherEmbedding(**options)
        except TypeError as err:
            raise ConfigError(f"learned g: {err}") from err
    if kind == "anchored":
        try:
            return KineticAnchoredEnergy(**options)
        except TypeError as err:
            raise ConfigError(f"anchored g: {err}") from err
    if kind == "learned_energy":
        if options:
            raise ConfigError(f"learned_energy g takes no options, got {sorted(options)}")
        if model is None:
            raise ConfigError("g 'learned_energy' reads the tailored model's energy head: pass the model")
        return LearnedTotalEnergy(model)
    if kind == "energy":
        if set(options) != {"smiles"}:
            raise ConfigError(f"energy g takes exactly one option, smiles; got {sorted(options)}")
        return MMFFTotalEnergy(options["smiles"])
    if options:
        raise ConfigError(f"{kind} g takes no options, got {sorted(options)}")
    return LinearMomentum() if kind == "linear_momentum" else AngularMomentum()


def g_spec(g) -> dict:
    """The description of a built g, such that ``g_from_spec(g_spec(g))`` rebuilds it."""
    kind = getattr(g, "kind", None)
    if kind not in G_KINDS or (kind == "energy" and not hasattr(g, "config")):
        raise ConfigError(
            f"{type(g).__name__} cannot be recorded in a checkpoint: use a NoetherEmbedding or a named oracle "
            f"({', '.join(G_KINDS)}); a custom g can still tailor, but not through build_model / load_model"
        )
    return {"kind": kind, **dict(getattr(g, "config", {}))}
