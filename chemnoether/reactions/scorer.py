"""``ReactionScorer``: a plausibility score from ``d = g(R) - g(P)``, calibrated, combined with the oracle.

The score of a reaction (reactants R, products P; reagents are not part of g, see ``embedding``):

* ``logit = head(d)`` with ``d = g(R) - g(P)`` (k numbers). ``head="mlp"`` (the shipped scorer) is
  a small MLP of d (of ``[d, |d|]`` with ``abs_features``); ``head="distance"`` is
  ``a - b * |d|^2`` (b > 0), the pure "is g conserved" score. A real reaction does not conserve g
  exactly (USPTO leaves out by-products), so the MLP learns which differences real reactions
  show; the distance head, trained the same way, comes close (``benchmarks/reactions.py``).
* ``learned_probability = sigmoid(A * logit + B)``: Platt scaling fitted on held-out validation
  reactions and their decoys, weighted so that real reactions and decoys count equally and the
  five decoy families D0-D4 equally among the decoys. So it reads: the probability that the
  reaction is real rather than a decoy, at a 1:1 prior with decoys drawn evenly from D0-D4.
* ``combined_probability``: 0 when the oracle fails a hard check (element balance, mapped
  elements, sanitisation: every real USPTO reaction passes them); otherwise
  ``sigmoid(C0 * logit + C1 + C2 * log2(oracle_score))``, where ``log2(oracle_score)`` is minus
  the number of soft warnings (net charge change, unpaired electrons changed), fitted the same
  way but on the validation examples that pass the oracle, with ``C2 >= 0`` (a warning can only
  lower the probability). With the same 1:1 prior, this is the probability that the reaction is real given the
  learned score and the oracle's verdict (a calibrated probability on data like USPTO-50k).

Checkpoints are plain data (``torch.load(..., weights_only=True)``): ``save_scorer`` writes
``{"format", "kind", "config", "state_dict", "calibration", "training"}`` and ``load_scorer`` reads
it back into a ``ReactionScorer``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from chemnoether._atomic import atomic_write
from chemnoether.errors import CheckpointError, ConfigError
from chemnoether.reactions.reaction_g import (
    MoleculeTable,
    ReactionEmbedding,
    side_embedding,
)

FORMAT = "chemnoether.reaction_scorer/1"
KIND = "reaction_scorer"
HEADS = ("mlp", "distance")


class ReactionScorer(torch.nn.Module):
    """``logit(g(R), g(P))`` plus its calibrations; ``embedding`` is a ``ReactionEmbedding``.

    Args:
        embedding: keyword arguments of ``ReactionEmbedding`` (k, hidden, layers, ...).
        head: ``"mlp"`` (MLP of d) or ``"distance"`` (``a - b |d|^2``).
        head_hidden: width of the MLP head.
        abs_features: the MLP head reads ``[d, |d|]`` (elementwise) instead of ``d``.
    """

    kind = KIND

    def __init__(self, embedding: dict | None = None, head: str = "mlp", head_hidden: int = 64, abs_features: bool = False):
        super().__init__()
        if head not in HEADS:
            raise ConfigError(f"head={head!r} is not one of {HEADS}")
        self.embedding = ReactionEmbedding(**(embedding or {}))
        self.head_kind = head
        k = self.embedding.k
        self.abs_features = bool(abs_features)
        if head == "mlp":
            self.head = torch.nn.Sequential(
                torch.nn.Linear(2 * k if self.abs_features else k, head_hidden), torch.nn.SiLU(),
                torch.nn.Linear(head_hidden, head_hidden), torch.nn.SiLU(),
                torch.nn.Linear(head_hidden, 1),
            )  # fmt: skip
        else:
            self.offset = torch.nn.Parameter(torch.tensor(2.0))
            self.raw_scale = torch.nn.Parameter(torch.tensor(0.0))
        # identity calibrations until fit_calibration sets them: [A, B] and [C0, C1, C2]
        self.register_buffer("platt", torch.tensor([1.0, 0.0], dtype=torch.float64))
        self.register_buffer("combined", torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
        self.config = {"embedding": dict(self.embedding.config), "head": head, "head_hidden": head_hidden,
                       "abs_features": self.abs_features}  # fmt: skip

    def forward(self, g_reactants: torch.Tensor, g_products: torch.Tensor) -> torch.Tensor:
        """(B,) logits of reactions with side embeddings ``g_reactants`` and ``g_products`` (B, k)."""
        d = g_reactants - g_products
        if self.head_kind == "mlp":
            return self.head(torch.cat([d, d.abs()], dim=1) if self.abs_features else d).squeeze(1)
        return self.offset - torch.nn.functional.softplus(self.raw_scale) * d.pow(2).sum(dim=1)

    def reaction_logits(
        self, table: MoleculeTable, reactants: Sequence[Sequence[int]], products: Sequence[Sequence[int]]
    ) -> torch.Tensor:
        """(B,) logits of B reactions given as molecule ids of ``table`` per side.

        Each distinct molecule is embedded once; a side's g is the sum over its molecules."""
        flat = [i for side in list(reactants) + list(products) for i in side]
        unique, inverse = np.unique(np.asarray(flat, dtype=np.int64), return_inverse=True)
        per_molecule = self.embedding(table.batch(unique))[torch.from_numpy(inverse.reshape(-1))]
        sides = np.repeat(np.arange(len(reactants) + len(products)), [len(s) for s in list(reactants) + list(products)])
        g = side_embedding(per_molecule, torch.from_numpy(sides), len(reactants) + len(products))
        return self(g[: len(reactants)], g[len(reactants) :])

    def learned_probability(self, logits: torch.Tensor | np.ndarray) -> np.ndarray:
        """Platt-calibrated probability that each reaction is real (1:1 prior, see the module)."""
        z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
        a, b = self.platt.cpu()
        return torch.sigmoid(a * z + b).numpy()

    def combined_probability(self, logits, oracle_scores) -> np.ndarray:
        """0 where ``oracle_scores`` is 0 (a hard check failed), else the calibrated combination."""
        z = np.asarray(logits, dtype=np.float64)
        oracle = np.asarray(oracle_scores, dtype=np.float64)
        out = np.zeros_like(z)
        ok = oracle > 0
        c0, c1, c2 = self.combined.cpu().numpy()
        c2 = max(c2, 0.0)  # an oracle warning may only lower the probability (see fit_calibration)
        out[ok] = 1.0 / (1.0 + np.exp(-(c0 * z[ok] + c1 + c2 * np.log2(oracle[ok]))))
        return out

    def fit_calibration(self, logits, labels, weights, oracle_scores) -> dict:
        """Fit ``platt`` on every example and ``combined`` on those the oracle passes; returns both."""
        z = np.asarray(logits, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        oracle = np.asarray(oracle_scores, dtype=np.float64)
        platt = fit_logistic(z[:, None], y, w)
        ok = oracle > 0
        combined = fit_logistic(np.stack([z[ok], np.log2(oracle[ok])], axis=1), y[ok], w[ok])
        if combined[1] < 0:  # a warning must not raise the probability: refit without the oracle term
            alone = fit_logistic(z[ok][:, None], y[ok], w[ok])
            combined = np.array([alone[0], 0.0, alone[1]])
        self.platt.copy_(torch.tensor([platt[0], platt[-1]], dtype=torch.float64))
        self.combined.copy_(torch.tensor([combined[0], combined[-1], combined[1]], dtype=torch.float64))
        return {"platt": self.platt.tolist(), "combined": self.combined.tolist()}


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-4, steps: int = 200) -> np.ndarray:
    """Weighted logistic regression ``sigmoid(x @ coef + bias)``: returns ``[*coef, bias]``.

    A column that never varies (e.g. no charge changes among the examples) gets coefficient 0."""
    x_t = torch.as_tensor(x, dtype=torch.float64)
    y_t = torch.as_tensor(y, dtype=torch.float64)
    w_t = torch.as_tensor(w, dtype=torch.float64) / max(float(np.sum(w)), 1e-300)
    params = torch.zeros(x_t.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    params.data[0] = 1.0
    varies = torch.as_tensor(np.ptp(x, axis=0) > 0 if len(x) else np.zeros(x.shape[1], bool))
    optimizer = torch.optim.LBFGS([params], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        coef = params[:-1] * varies
        z = x_t @ coef + params[-1]
        loss = (w_t * torch.nn.functional.binary_cross_entropy_with_logits(z, y_t, reduction="none")).sum()
        loss = loss + l2 * coef.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    out = params.detach().clone()
    out[:-1] *= varies
    if not torch.isfinite(out).all():
        raise ConfigError("the calibration did not converge (non-finite parameters); check the validation scores")
    return out.numpy()


def save_scorer(path: str | os.PathLike, scorer: ReactionScorer, training: dict | None = None) -> Path:
    """Write ``scorer`` as a plain-data checkpoint (atomically); ``training`` is kept as metadata."""
    payload = {
        "format": FORMAT,
        "kind": KIND,
        "config": scorer.config,
        "state_dict": {k: v.detach().cpu().clone() for k, v in scorer.state_dict().items()},
        "calibration": {"platt": scorer.platt.tolist(), "combined": scorer.combined.tolist()},
        "training": training or {},
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def read_scorer_checkpoint(path: str | os.PathLike) -> dict:
    """The payload of a scorer checkpoint; a ``CheckpointError`` when unreadable or of another kind."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no reaction-scorer checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path} is not a plain-data checkpoint (weights_only loading refused it: {err})") from err
    except Exception as err:  # torch raises many types on a file that is no checkpoint
        raise CheckpointError(f"cannot read checkpoint {path}: {type(err).__name__}: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("kind") != KIND:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path} is not a reaction-scorer checkpoint of format {FORMAT} (found {found!r})")
    return payload


def load_scorer(path: str | os.PathLike) -> ReactionScorer:
    """The ``ReactionScorer`` saved at ``path`` (in eval mode, on the CPU)."""
    payload = read_scorer_checkpoint(path)
    try:
        scorer = ReactionScorer(**payload["config"])
        scorer.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, RuntimeError, ConfigError) as err:
        raise CheckpointError(f"{path}: the checkpoint does not rebuild a ReactionScorer ({err})") from err
    scorer.training_info = payload.get("training", {})
    return scorer.eval()
