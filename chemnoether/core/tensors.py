"""A batch of chemnoether graphs as plain tensors, the form the models run on.

PyPI's DGL has no CUDA build, so a ``DGLGraph`` cannot move to a GPU; DGL stays the data layer and
the interchange format, and this module is the one place where a (batched) graph becomes tensors
that go anywhere torch goes. All ids are global to the batch: atom ``i`` of graph ``b`` is row
``sum(num_atoms[:b]) + i``, and rings and subgraphs are offset the same way, as in ``dgl.batch``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import torch

from chemnoether.errors import ConfigError

if TYPE_CHECKING:
    import dgl

Fields = dict[str, torch.Tensor]


@dataclass
class GraphTensors:
    """Index tensors and fields of a batch of ``num_graphs`` graphs (schema in ``chemnoether.keys``).

    Structure is held in attributes, data in one dict per node or edge type, keyed by the
    ``chemnoether.keys`` constants exactly as in the DGL graph, e.g. ``batch.atom[keys.POS]``,
    ``batch.near[keys.EDGE_SHIFT]``, ``batch.system[keys.CELL]``. Dicts rather than attributes
    because which fields exist depends on the featurizer and its options (an RDKit graph has no
    velocities, an ASE graph no formal charges), and because code written against
    ``graph.nodes["atom"].data[key]`` then ports by renaming one object.

    Shapes (B graphs, N atoms, R rings, S subgraphs); every index tensor is int64:

    * ``num_atoms`` (B,), ``atom_graph`` (N,): graph of each atom; ``atom`` fields (N, ...).
    * ``bond_index`` (2, E) and ``near_index`` (2, E') as ``[src, dst]`` atom ids (messages
      aggregate at dst); ``bond`` and ``near`` fields (E, ...) / (E', ...), ``edge_shift`` in ``near``.
    * ``ring_incidence`` (2, P) as ``[atom, ring]``; ``num_rings`` (B,), ``ring_graph`` (R,),
      ``ring`` fields (R, ...). Subgraphs likewise (``subgraph_type`` in ``subgraph``).
    * ``system`` fields (B, ...): one row per graph (energy (B,), cell (B, 3, 3), pbc (B, 3), ...).
    """

    num_graphs: int
    num_atoms: torch.Tensor
    atom_graph: torch.Tensor
    bond_index: torch.Tensor
    near_index: torch.Tensor
    ring_incidence: torch.Tensor
    num_rings: torch.Tensor
    ring_graph: torch.Tensor
    subgraph_incidence: torch.Tensor
    num_subgraphs: torch.Tensor
    subgraph_graph: torch.Tensor
    atom: Fields
    bond: Fields
    near: Fields
    ring: Fields
    subgraph: Fields
    system: Fields

    @classmethod
    def from_graph(
        cls,
        graph: dgl.DGLGraph | Sequence[dgl.DGLGraph],
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        non_blocking: bool = False,
    ) -> GraphTensors:
        """Tensors of one graph (batched or not) or of a list of graphs (batched with ``dgl.batch``).

        ``dtype`` casts the floating fields only (positions, features, energies...); integer and
        boolean fields (atomic numbers, pbc) and the indices keep theirs. ``device`` and
        ``non_blocking`` are as for ``Tensor.to``. Fields neither moved nor cast share memory
        with the graph's, as DGL's own views do: copy before editing them in place.
        """
        from chemnoether.core.dgl_bridge import graph_tensor_fields  # lazy: keeps DGL out of `import chemnoether.core`

        return cls(**graph_tensor_fields(graph)).to(device, dtype=dtype, non_blocking=non_blocking)

    @property
    def device(self) -> torch.device:
        return self.atom_graph.device

    def to(
        self, device: torch.device | str | None = None, *, dtype: torch.dtype | None = None, non_blocking: bool = False
    ) -> GraphTensors:
        """A copy on ``device`` (unchanged if ``None``) with floating fields cast to ``dtype`` if given."""
        if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ConfigError(f"dtype must be a floating torch dtype such as torch.float64, got {dtype!r}")

        def move(tensor: torch.Tensor) -> torch.Tensor:
            cast = dtype if dtype is not None and tensor.is_floating_point() else None
            return tensor.to(device=device, dtype=cast, non_blocking=non_blocking)

        return self._map(move)

    def pin_memory(self) -> GraphTensors:
        """A copy in page-locked memory, for asynchronous copies to the GPU.

        ``torch.utils.data.DataLoader(pin_memory=True)`` calls this on every batch.
        """
        return self._map(torch.Tensor.pin_memory)

    def _map(self, function: Callable[[torch.Tensor], torch.Tensor]) -> GraphTensors:
        changes = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, torch.Tensor):
                changes[field.name] = function(value)
            elif isinstance(value, dict):
                changes[field.name] = {name: function(tensor) for name, tensor in value.items()}
        return replace(self, **changes)


def collate_graphs(graphs: Iterable[dgl.DGLGraph]) -> GraphTensors:
    """Batch chemnoether graphs into ``GraphTensors``; a ``DataLoader`` ``collate_fn`` for graph datasets."""
    return GraphTensors.from_graph(list(graphs))
