"""The reaction embedding g: a learned, additive quantity of the molecules on one side of a reaction.

docs/design.md section 7 asks for ``|g(R) - g(P)|`` with g over atoms, rings and subgraphs of the
reactant and product graphs. Here g is the 2D analogue of ``chemnoether.noether.NoetherEmbedding``:

* each molecule is featurised by ``chemnoether.featurize`` (86 atom and 15 bond columns, rings,
  functional-group and BRICS subgraphs) after ``canonical_smiles`` has written it without atom
  maps and without stereo, so that a real product and a generated decoy reach the model by the
  same route (nothing in the SMILES spelling can tell them apart);
* ``layers`` rounds of messages along the bonds (atom and bond features), residual updates;
* three readouts, kept apart as in the Noether embedding: a per-atom MLP summed over atoms, a
  per-ring MLP of the ring's mean atom state (plus ring size and aromaticity) summed over rings, a
  per-subgraph MLP of the subgraph's mean atom state (plus its type) summed over subgraphs; the
  three sums are concatenated and mapped to R^k by a *linear* map without bias.

Because every readout is a sum and the last map is linear, ``g`` of a set of molecules is exactly
the sum of ``g`` of each molecule (``side_embedding`` sums them), like a conserved extensive
quantity; atom order does not matter. An atom whose ``layers``-hop neighbourhood is the same in a
reactant and in the product contributes the same vector to both sides and cancels exactly in
``g(R) - g(P)``: the difference describes the reaction centre and the atoms that left.

What is compared (``rated_molecules``): the reactants taking part against the main product of a
record such as USPTO (which leaves by-products out), but against *every* product of a step written
with hydrogens as atoms (a mechanism step, a complete equation): then partners, counter-ions and
leaving groups are on both sides and only the neighbourhood of the changed bonds survives in
``g(R) - g(P)``, so the writer's choice of partner cannot carry the score.

Reagents (the middle field of ``reactants>reagents>products``) are *not* part of g: they are
solvents, catalysts and bases far more often than atom donors, USPTO-50k (the training data) has
none, and their whole embedding would otherwise sit in ``g(R) - g(P)``. The oracle still counts
their atoms (``oracle_checks``).

``MoleculeTable`` featurises molecules once, keeps them compactly (each distinct feature row is
stored once) and gathers any list of them into a ``GraphTensors`` batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from rdkit import Chem, rdBase
from tqdm.auto import tqdm

from chemnoether import keys
from chemnoether.core.ops import pool_atoms, pool_incidence, scatter_sum
from chemnoether.core.tensors import GraphTensors
from chemnoether.errors import InvalidMoleculeError
from chemnoether.featurize import (
    DEFAULT_ATOM_FEATURIZER,
    DEFAULT_BOND_FEATURIZER,
    SUBGRAPH_TYPES,
    featurize_smiles,
)
from chemnoether.core.options import positive_int
from chemnoether.nn import silu_mlp
from chemnoether.noether.quantity import ConservedQuantity
from chemnoether.reactions.balance import Balance, balance_reaction
from chemnoether.reactions.parse import Reaction, smiles_of

MAX_RING_SIZE = 8  # ring sizes above are one category


def canonical_smiles(mol: Chem.Mol) -> str:
    """Canonical SMILES of ``mol`` without atom maps and stereo, read back and written again.

    Raises ``InvalidMoleculeError`` when the molecule does not sanitise (a valence error...)."""
    copy = Chem.Mol(mol)
    for atom in copy.GetAtoms():
        atom.SetAtomMapNum(0)
    with rdBase.BlockLogs():
        try:
            Chem.SanitizeMol(copy)
        except Exception as err:  # noqa: BLE001 - RDKit raises several unrelated types here
            raise InvalidMoleculeError(
                f"molecule {smiles_of(mol)!r} does not sanitise ({type(err).__name__}: {err})"
            ) from None
        Chem.RemoveStereochemistry(copy)
        smiles = Chem.MolToSmiles(copy, isomericSmiles=False)
        again = Chem.MolFromSmiles(smiles)
        if again is None:
            raise InvalidMoleculeError(f"molecule {smiles_of(mol)!r}: its SMILES {smiles!r} does not read back")
        return Chem.MolToSmiles(again)


def rated_molecules(reaction: Reaction, balance: Balance) -> tuple[list[tuple[Chem.Mol, str]], list[tuple[Chem.Mol, str]]]:
    """What the learned score compares, each molecule with a label ('reactant 2', 'product 1'):
    the reactants taking part (spectators and reagents left out) and

    * for an equation written with hydrogens as atoms (``balance.explicit_h``: a mechanistic step,
      whose writer tracks every atom), every product plus the by-products inferred to close it.
      Partners and leaving groups then sit on both sides, so every atom whose ``layers``-bond
      neighbourhood did not change cancels in ``g(R) - g(P)``: the score reads the reaction
      centre, not which partner or counter-ion the writer chose, nor whether a by-product was written;
    * otherwise (a record such as USPTO, which leaves by-products out) the main product alone.

    Both lists are empty for a null reaction."""
    reactants = [(reaction.reactant_mols[i], f"reactant {i + 1}") for i in balance.reactants]
    if not balance.explicit_h or balance.null:
        return reactants, [(reaction.product_mols[i], f"product {i + 1}") for i in balance.main]
    products = [(reaction.product_mols[i], f"product {i + 1}") for i in balance.main + balance.written_byproducts]
    products += [(Chem.MolFromSmiles(s), f"inferred by-product {s}") for s in balance.inferred]
    return reactants, products


def reaction_sides(reaction: Reaction) -> tuple[list[str], list[str]]:
    """Canonical SMILES of what the learned score rates (``rated_molecules`` of the balanced
    reaction, ``balance_reaction``). Both lists are empty for a null reaction."""
    reactants, products = rated_molecules(reaction, balance_reaction(reaction))
    return [canonical_smiles(m) for m, _ in reactants], [canonical_smiles(m) for m, _ in products]


def _exclusive_cumsum(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for each (s, c)."""
    return np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - _exclusive_cumsum(counts), counts)


class _Vocabulary:
    """Distinct float rows (feature vectors), each stored once; rows map to int ids."""

    def __init__(self, width: int):
        self.width = width
        self._ids: dict[bytes, int] = {}
        self._rows: list[np.ndarray] = []
        self._table: torch.Tensor | None = None

    def encode(self, rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        # each row as one bytes object: a dict lookup per row is far faster than np.unique(axis=0)
        flat = rows.view(np.dtype((np.void, 4 * self.width))).reshape(-1).tolist()
        out = np.empty(len(flat), dtype=np.int32)
        for i, key in enumerate(flat):
            j = self._ids.get(key)
            if j is None:
                j = self._ids[key] = len(self._rows)
                self._rows.append(rows[i].copy())
                self._table = None
            out[i] = j
        return out

    def table(self) -> torch.Tensor:
        if self._table is None:
            rows = np.stack(self._rows) if self._rows else np.zeros((0, self.width), dtype=np.float32)
            self._table = torch.from_numpy(rows.astype(np.float32))
        return self._table


class MoleculeTable:
    """Featurised molecules by canonical SMILES, gathered into ``GraphTensors`` batches by id.

    ``add(smiles)`` featurises the SMILES not seen before (in chunks, with ``featurize_smiles``)
    and returns per input its id, or an ``(error_type, message)`` pair for a molecule the
    featurizer refuses (e.g. an element outside its vocabulary). ``batch(ids)`` is the batch of
    those molecules, in that order (an id may repeat)."""

    _FIELDS = ("atom_row", "bond_src", "bond_dst", "bond_row", "ring_atom", "ring_id", "ring_size",
               "ring_aromatic", "sub_atom", "sub_id", "sub_type")  # fmt: skip
    _COUNTS = ("atoms", "bonds", "ring_inc", "rings", "sub_inc", "subs")

    def __init__(self, chunk_size: int = 1024):
        self.chunk_size = chunk_size
        self.ids: dict[str, int] = {}
        self.errors: dict[str, tuple[str, str]] = {}
        self._atom_vocab = _Vocabulary(DEFAULT_ATOM_FEATURIZER.width)
        self._bond_vocab = _Vocabulary(DEFAULT_BOND_FEATURIZER.width)
        self._parts: dict[str, list[np.ndarray]] = {f: [] for f in self._FIELDS + self._COUNTS}
        self._arrays: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, smiles: Iterable[str], progress: bool = False) -> list[int | tuple[str, str]]:
        smiles = list(smiles)
        new = list(dict.fromkeys(s for s in smiles if s not in self.ids and s not in self.errors))
        with tqdm(total=len(new), desc="featurize", unit="mol", disable=not progress) as bar:
            for start in range(0, len(new), self.chunk_size):
                self._add_chunk(new[start : start + self.chunk_size])
                bar.update(len(new[start : start + self.chunk_size]))
        return [self.ids[s] if s in self.ids else self.errors[s] for s in smiles]

    def _add_chunk(self, smiles: list[str]) -> None:
        result = featurize_smiles(smiles, chunk_size=len(smiles))
        for s, ok, kind, message in zip(smiles, result.ok, result.status["error_type"], result.status["error"], strict=True):
            if not ok:
                self.errors[s] = (kind, message.split(": ", 1)[-1])
        if not result.ok.any():
            return
        t = GraphTensors.from_graph(result.batched())
        b = t.num_graphs
        atom_graph = t.atom_graph.numpy()
        atom_off = _exclusive_cumsum(t.num_atoms.numpy())
        src, dst = t.bond_index.numpy()
        ring_atom, ring_id = t.ring_incidence.numpy()
        sub_atom, sub_id = t.subgraph_incidence.numpy()
        ring_graph, sub_graph = t.ring_graph.numpy(), t.subgraph_graph.numpy()
        parts = {
            "atom_row": self._atom_vocab.encode(t.atom[keys.NODE_ATTRS].numpy()),
            "bond_src": (src - atom_off[atom_graph[src]]).astype(np.int32),
            "bond_dst": (dst - atom_off[atom_graph[dst]]).astype(np.int32),
            "bond_row": self._bond_vocab.encode(t.bond[keys.EDGE_ATTRS].numpy()),
            "ring_atom": (ring_atom - atom_off[atom_graph[ring_atom]]).astype(np.int32),
            "ring_id": (ring_id - _exclusive_cumsum(t.num_rings.numpy())[ring_graph[ring_id]]).astype(np.int32),
            "ring_size": t.ring[keys.RING_SIZE].numpy().astype(np.int16),
            "ring_aromatic": t.ring[keys.RING_AROMATIC].numpy().astype(bool),
            "sub_atom": (sub_atom - atom_off[atom_graph[sub_atom]]).astype(np.int32),
            "sub_id": (sub_id - _exclusive_cumsum(t.num_subgraphs.numpy())[sub_graph[sub_id]]).astype(np.int32),
            "sub_type": t.subgraph[keys.SUBGRAPH_TYPE].numpy().astype(np.int16),
            "atoms": t.num_atoms.numpy(),
            "bonds": np.bincount(atom_graph[src], minlength=b),
            "ring_inc": np.bincount(atom_graph[ring_atom], minlength=b),
            "rings": t.num_rings.numpy(),
            "sub_inc": np.bincount(atom_graph[sub_atom], minlength=b),
            "subs": t.num_subgraphs.numpy(),
        }
        for name, value in parts.items():
            self._parts[name].append(value)
        for s, ok in zip(smiles, result.ok, strict=True):
            if ok:
                self.ids[s] = len(self.ids)
        self._arrays = None

    def _gathered(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            arrays = {name: np.concatenate(parts) if parts else np.zeros(0, np.int64) for name, parts in self._parts.items()}
            for name in self._COUNTS:
                arrays[name] = arrays[name].astype(np.int64)
                arrays[name + "_start"] = _exclusive_cumsum(arrays[name])
            self._parts = {name: [arrays[name]] if len(arrays[name]) else [] for name in self._parts}
            self._arrays = arrays
        return self._arrays

    def batch(self, ids: Sequence[int] | np.ndarray) -> GraphTensors:
        """The molecules ``ids`` as one ``GraphTensors`` batch (graph ``i`` is ``ids[i]``)."""
        a = self._gathered()
        ids = np.asarray(ids, dtype=np.int64)
        counts = {name: a[name][ids] for name in self._COUNTS}
        pick = {name: _ranges(a[name + "_start"][ids], counts[name]) for name in self._COUNTS}
        atom_off = _exclusive_cumsum(counts["atoms"])
        ring_off = _exclusive_cumsum(counts["rings"])
        sub_off = _exclusive_cumsum(counts["subs"])

        def shifted(field: str, count: str, offsets: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a[field][pick[count]].astype(np.int64) + np.repeat(offsets, counts[count]))

        graph_ids = torch.arange(len(ids))
        num = {name: torch.from_numpy(c) for name, c in counts.items()}
        return GraphTensors(
            num_graphs=len(ids),
            num_atoms=num["atoms"],
            atom_graph=torch.repeat_interleave(graph_ids, num["atoms"]),
            bond_index=torch.stack([shifted("bond_src", "bonds", atom_off), shifted("bond_dst", "bonds", atom_off)]),
            near_index=torch.zeros((2, 0), dtype=torch.long),
            ring_incidence=torch.stack([shifted("ring_atom", "ring_inc", atom_off), shifted("ring_id", "ring_inc", ring_off)]),
            num_rings=num["rings"],
            ring_graph=torch.repeat_interleave(graph_ids, num["rings"]),
            subgraph_incidence=torch.stack([shifted("sub_atom", "sub_inc", atom_off), shifted("sub_id", "sub_inc", sub_off)]),
            num_subgraphs=num["subs"],
            subgraph_graph=torch.repeat_interleave(graph_ids, num["subs"]),
            atom={keys.NODE_ATTRS: self._atom_vocab.table()[torch.from_numpy(a["atom_row"][pick["atoms"]].astype(np.int64))]},
            bond={keys.EDGE_ATTRS: self._bond_vocab.table()[torch.from_numpy(a["bond_row"][pick["bonds"]].astype(np.int64))]},
            near={},
            ring={
                keys.RING_SIZE: torch.from_numpy(a["ring_size"][pick["rings"]].astype(np.int64)),
                keys.RING_AROMATIC: torch.from_numpy(a["ring_aromatic"][pick["rings"]]),
            },
            subgraph={keys.SUBGRAPH_TYPE: torch.from_numpy(a["sub_type"][pick["subs"]].astype(np.int64))},
            system={},
        )


class ReactionEmbedding(ConservedQuantity):
    """``g(molecules) -> (B, k)``: a permutation-invariant, additive embedding of 2D molecular graphs.

    A ``ConservedQuantity`` whose states are molecules without coordinates: only relabelling the
    atoms must leave it unchanged; across a real reaction ``g(R) - g(P)`` is what the scorer reads.

    Args:
        atom_features, bond_features: widths of ``node_attrs`` and ``edge_attrs`` (the default
            featurizers' by default).
        k: output width.
        hidden: width of the atom states and MLPs.
        layers: rounds of bond messages (an atom's state sees ``layers`` bonds far).

    ``forward(batch: GraphTensors) -> (num_graphs, k)`` reads ``atom[NODE_ATTRS]``,
    ``bond[EDGE_ATTRS]``, the bond index, the ring and subgraph incidences, ``ring[RING_SIZE]``,
    ``ring[RING_AROMATIC]`` and ``subgraph[SUBGRAPH_TYPE]``. ``config`` rebuilds it.
    """

    kind = "reaction"
    symmetries = ("permutation",)

    def __init__(
        self,
        atom_features: int = DEFAULT_ATOM_FEATURIZER.width,
        bond_features: int = DEFAULT_BOND_FEATURIZER.width,
        k: int = 32,
        hidden: int = 64,
        layers: int = 3,
    ):
        super().__init__()
        self.k = positive_int(k, "k")
        hidden = positive_int(hidden, "hidden")
        positive_int(layers, "layers")
        self.atom_in = torch.nn.Linear(positive_int(atom_features, "atom_features"), hidden)
        self.bond_in = torch.nn.Linear(positive_int(bond_features, "bond_features"), hidden)
        self.messages = torch.nn.ModuleList(silu_mlp([2 * hidden, hidden, hidden]) for _ in range(layers))
        self.updates = torch.nn.ModuleList(silu_mlp([2 * hidden, hidden, hidden]) for _ in range(layers))
        self.norms = torch.nn.ModuleList(torch.nn.LayerNorm(hidden) for _ in range(layers))
        state = hidden * (layers + 1)  # every layer's state is read out
        self.ring_kind = torch.nn.Embedding(2 * (MAX_RING_SIZE + 1), state)
        self.subgraph_kind = torch.nn.Embedding(len(SUBGRAPH_TYPES) + 1, state)
        self.atom_readout = silu_mlp([state, hidden, self.k])
        self.ring_readout = silu_mlp([state, hidden, self.k])
        self.subgraph_readout = silu_mlp([state, hidden, self.k])
        self.mix = torch.nn.Linear(3 * self.k, self.k, bias=False)
        self.config = {"atom_features": atom_features, "bond_features": bond_features, "k": self.k,
                       "hidden": hidden, "layers": layers}  # fmt: skip

    def atom_states(self, batch: GraphTensors) -> torch.Tensor:
        """(N, hidden * (layers + 1)): the atom states of every round, concatenated."""
        src, dst = batch.bond_index
        h = self.atom_in(batch.atom[keys.NODE_ATTRS])
        e = self.bond_in(batch.bond[keys.EDGE_ATTRS])
        states = [h]
        for message, update, norm in zip(self.messages, self.updates, self.norms, strict=True):
            m = message(torch.cat([h.index_select(0, src), e], dim=1))
            h = norm(h + update(torch.cat([h, scatter_sum(m, dst, h.shape[0])], dim=1)))
            states.append(h)
        return torch.cat(states, dim=1)

    def forward(self, batch: GraphTensors) -> torch.Tensor:
        h = self.atom_states(batch)
        b = batch.num_graphs
        over_atoms = pool_atoms(self.atom_readout(h), batch.atom_graph, b)
        size = batch.ring[keys.RING_SIZE].clamp(max=MAX_RING_SIZE)
        ring_kind = self.ring_kind(size + (MAX_RING_SIZE + 1) * batch.ring[keys.RING_AROMATIC].long())
        rings = pool_incidence(h, batch.ring_incidence, len(size), reduce="mean") + ring_kind
        over_rings = pool_atoms(self.ring_readout(rings), batch.ring_graph, b)
        types = batch.subgraph[keys.SUBGRAPH_TYPE].clamp(max=len(SUBGRAPH_TYPES))
        subs = pool_incidence(h, batch.subgraph_incidence, len(types), reduce="mean") + self.subgraph_kind(types)
        over_subs = pool_atoms(self.subgraph_readout(subs), batch.subgraph_graph, b)
        return self.mix(torch.cat([over_atoms, over_rings, over_subs], dim=1))


def side_embedding(per_molecule: torch.Tensor, side: torch.Tensor, num_sides: int) -> torch.Tensor:
    """(num_sides, k): the sum of the molecules' embeddings ``per_molecule`` (M, k) per side,
    ``side`` (M,) saying which side each molecule is on."""
    return scatter_sum(per_molecule, side, num_sides)
