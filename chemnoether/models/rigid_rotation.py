"""Free-rotor extrapolation of each molecule's overall rotation, as a baseline the network corrects.

Over a long jump (the MD17 protocol's 1.5 ps) a small molecule turns by tens of degrees as a
whole. A straight-line extrapolation of the atoms' velocities cannot follow that arc, and a
network has to learn a rotation by a data-dependent angle from scratch. Here each graph's angular
velocity ``omega = I^-1 L`` (inertia tensor and angular momentum about the centre of mass) gives
the rotation ``R(omega dt)`` that a rigid body would make; the model predicts corrections to it.

Everything is built from positions, velocities and masses with proper E(3) operations: under a
rotation ``Q`` the pseudovector ``omega`` becomes ``det(Q) Q omega`` and ``R`` becomes ``Q R Q^T``,
so the extrapolated positions rotate, reflect and translate with the input, and the centre of
mass is untouched (``sum_i m_i R r_i = R sum_i m_i r_i = 0`` about the centre of mass).
"""

from __future__ import annotations

import torch

from chemnoether.core.ops import pool_atoms

# inertia tensors of (near-)linear molecules are singular about their axis: a small isotropic
# term (relative to the trace) keeps the solve finite and leaves the spin about the axis at ~0
_REGULARISATION = 1e-6


def angular_velocity(pos: torch.Tensor, vel: torch.Tensor, masses: torch.Tensor, atom_graph: torch.Tensor, num_graphs: int):
    """Per graph ``omega`` (B, 3) in rad/fs, and per atom ``r - com`` (N, 3) and ``v - v_com`` (N, 3)."""
    m = masses.to(pos.dtype).reshape(-1, 1)
    total = pool_atoms(m, atom_graph, num_graphs)
    com = pool_atoms(m * pos, atom_graph, num_graphs) / total
    v_com = pool_atoms(m * vel, atom_graph, num_graphs) / total
    rel_pos = pos - com.index_select(0, atom_graph)
    rel_vel = vel - v_com.index_select(0, atom_graph)
    momentum = pool_atoms(m * torch.cross(rel_pos, rel_vel, dim=1), atom_graph, num_graphs)
    r2 = (rel_pos * rel_pos).sum(dim=1, keepdim=True)
    eye = torch.eye(3, dtype=pos.dtype, device=pos.device)
    per_atom = m.unsqueeze(2) * (r2.unsqueeze(2) * eye - rel_pos.unsqueeze(2) * rel_pos.unsqueeze(1))
    inertia = pool_atoms(per_atom.reshape(-1, 9), atom_graph, num_graphs).reshape(-1, 3, 3)
    trace = inertia.diagonal(dim1=1, dim2=2).sum(dim=1).clamp_min(torch.finfo(pos.dtype).tiny)
    inertia = inertia + (_REGULARISATION * trace / 3).reshape(-1, 1, 1) * eye
    # solve_ex: the regularised inertia is never singular, and linalg.solve's check of that would
    # cost a host-device synchronisation per call on a GPU
    omega = torch.linalg.solve_ex(inertia, momentum.unsqueeze(2))[0].squeeze(2)
    return omega, rel_pos, rel_vel


def rotate(vectors: torch.Tensor, axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues: rotate ``vectors`` (N, 3) by the axis-angle vectors ``axis_angle`` (N, 3).

    Written with ``sin(t)/t`` and ``(1 - cos t)/t^2`` so it is smooth (and differentiable) at t = 0.
    """
    theta2 = (axis_angle * axis_angle).sum(dim=1, keepdim=True)
    theta = theta2.clamp_min(1e-30).sqrt()
    small = theta2 < 1e-8
    sinc = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    cosc = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-30))
    cross = torch.cross(axis_angle, vectors, dim=1)
    return vectors + sinc * cross + cosc * torch.cross(axis_angle, cross, dim=1)
