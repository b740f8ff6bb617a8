"""Initial node features from atom types and velocities (NequIP one-hot, SEGNN velocity harmonics)."""

from __future__ import annotations

import torch
from e3nn import o3

from chemnoether.errors import ConfigError


class NodeEmbedding(torch.nn.Module):
    """(type index (N,), scaled velocity (N, 3)) -> features (N, irreps_out.dim).

    The raw attributes ``irreps_attrs`` are the type one-hot (``num_types x 0e``), ``|v|^2 / 3`` (0e),
    ``v`` itself (1o) and, with ``velocity_lmax >= 2``, its spherical harmonics of degree
    2..velocity_lmax (unnormalised, so they are polynomials in v: smooth at v = 0, where a unit
    direction is undefined). An ``o3.Linear`` mixes them into ``irreps_out``. The velocity should
    be scaled to order one (the model divides by its ``velocity_scale``).

    Args:
        num_types: size of the type vocabulary.
        irreps_out: irreps of the features the first interaction block reads.
        velocity_lmax: highest degree of velocity harmonics (1: the velocity vector only).
    """

    def __init__(self, num_types: int, irreps_out, velocity_lmax: int = 1):
        super().__init__()
        if isinstance(num_types, bool) or not isinstance(num_types, int) or num_types < 1:
            raise ConfigError(f"NodeEmbedding num_types must be a positive integer, got {num_types!r}")
        if isinstance(velocity_lmax, bool) or not isinstance(velocity_lmax, int) or velocity_lmax < 1:
            raise ConfigError(f"NodeEmbedding velocity_lmax must be an integer >= 1, got {velocity_lmax!r}")
        self.num_types = num_types
        self.velocity_lmax = velocity_lmax
        self.irreps_in = o3.Irreps("1x1o")  # the velocity
        self.irreps_sh = o3.Irreps([(1, (l, (-1) ** l)) for l in range(2, velocity_lmax + 1)])
        self.irreps_attrs = o3.Irreps(f"{num_types}x0e + 1x0e + 1x1o") + self.irreps_sh
        self.irreps_out = o3.Irreps(irreps_out)
        self.linear = o3.Linear(self.irreps_attrs, self.irreps_out)

    def attributes(self, types: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        """(N, irreps_attrs.dim) raw attributes, in the order of ``irreps_attrs``."""
        if velocity.dim() != 2 or velocity.shape[1] != 3 or velocity.shape[0] != types.shape[0]:
            raise ValueError(f"velocity must have shape ({types.shape[0]}, 3), got {tuple(velocity.shape)}")
        one_hot = torch.nn.functional.one_hot(types, self.num_types).to(velocity.dtype)
        # |v|^2 / 3: the mean square component, of order one like the other attributes
        parts = [one_hot, velocity.pow(2).mean(dim=1, keepdim=True), velocity]
        if self.velocity_lmax >= 2:
            ls = list(range(2, self.velocity_lmax + 1))
            parts.append(o3.spherical_harmonics(ls, velocity, normalize=False, normalization="component"))
        return torch.cat(parts, dim=1)

    def forward(self, types: torch.Tensor, velocity: torch.Tensor) -> torch.Tensor:
        return self.linear(self.attributes(types, velocity))

    def extra_repr(self) -> str:
        return f"{self.irreps_attrs} -> {self.irreps_out}"
