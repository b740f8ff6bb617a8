"""The energy-shell projection: on the shell, along the mass-weighted gradient, momentum kept, and a
step that raises the potential above the total (where velocity rescaling must stop) survives."""

import numpy as np
import torch

from chemnoether.core.units import kinetic_energy
from chemnoether.learned_md._physics import com_velocities
from chemnoether.learned_md.projection import energy_and_gradient, project_to_energy
from chemnoether.learned_md.rescale import potential_energies, rescale_to_energy

MASSES = np.array([1.008, 12.011, 15.999])


def harmonic(positions: torch.Tensor) -> torch.Tensor:
    """A stiff spring on every pair (bounded below, V = 0 at the rest lengths 1 Å)."""
    diff = positions[:, :, None, :] - positions[:, None, :, :]
    length = torch.sqrt((diff**2).sum(-1) + 1e-12)
    return 5.0 * ((length - 1.0) ** 2).triu(1).sum((1, 2))


def _states(seed=0, count=4):
    rng = np.random.default_rng(seed)
    base = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.85, 0.0]])
    pos = base + 0.1 * rng.standard_normal((count, 3, 3))
    vel = 0.002 * rng.standard_normal((count, 3, 3))  # with a net momentum; K about V/10
    return pos, vel


def test_projection_lands_on_the_shell_along_the_mass_weighted_gradient():
    pos, vel = _states()
    start = potential_energies(harmonic, pos) + kinetic_energy(MASSES, vel)
    potential = potential_energies(harmonic, pos)
    # too hot; below the potential itself (no velocity rescaling can reach it); too cold; on the shell
    reference = np.array([start[0] - 0.05, potential[1] - 0.05, start[2] + 0.01, start[3]])
    assert rescale_to_energy(MASSES, vel, potential, reference)[2][1] is not None
    new_pos, new_vel, energy, factor, reasons = project_to_energy(MASSES, pos, vel, reference, harmonic, tau_fs=5.0)
    assert reasons == [None] * 4
    total = potential_energies(harmonic, new_pos) + kinetic_energy(MASSES, new_vel)
    np.testing.assert_allclose(total, reference, rtol=0, atol=2e-5)
    np.testing.assert_allclose(energy, potential_energies(harmonic, new_pos), rtol=0, atol=2e-5)
    np.testing.assert_allclose(com_velocities(MASSES, new_vel), com_velocities(MASSES, vel), rtol=0, atol=1e-15)
    assert factor[0] < 1 and factor[1] < factor[0] and factor[2] > 1  # hotter needs more cooling
    np.testing.assert_allclose(factor[3], 1.0, atol=1e-9)
    np.testing.assert_allclose(new_pos[3], pos[3], atol=1e-9)
    # a small correction moves the atoms along the mass-weighted gradient (-dV/dx / m), downhill when too hot
    _, gradient = energy_and_gradient(harmonic, pos)
    for b, sign in ((0, 1.0), (2, -1.0)):
        moved, descent = (new_pos[b] - pos[b]).ravel(), (-gradient[b] / MASSES[:, None]).ravel()
        assert sign * moved @ descent / np.linalg.norm(moved) / np.linalg.norm(descent) > 0.99


def test_projection_reports_a_shell_it_cannot_reach():
    pos, vel = _states(count=2)
    reference = potential_energies(harmonic, pos) + kinetic_energy(MASSES, vel)
    pos[1] += 100.0  # where this potential is 100 eV higher than the total: no shell to reach
    lifted = lambda x: harmonic(x) + 100.0 * (x[:, 0, 0] > 50.0)  # noqa: E731
    new_pos, new_vel, _, factor, reasons = project_to_energy(MASSES, pos, vel, reference, lifted, tau_fs=5.0)
    assert reasons[0] is None and "energy projection" in reasons[1] and "E_ref" in reasons[1]
    assert np.isnan(factor[1])
    np.testing.assert_array_equal(new_pos[1], pos[1])
    np.testing.assert_array_equal(new_vel[1], vel[1])


def test_a_step_that_raises_the_potential_stops_rescaling_but_not_the_projection(session, mmff, verlet_class, test_starts):
    from chemnoether import keys
    from chemnoether.learned_md import LearnedMD
    from chemnoether.models.base import Prediction

    class StretchingFiveFs(verlet_class):
        """A 5 fs step made of ten 0.5 fs Verlet steps, then stretched by 5%: a learned step whose
        error lands in the potential energy, more of it than the kinetic energy can pay."""

        def forward(self, batch):
            pos, vel, masses = batch.atom[keys.POS], batch.atom[keys.VEL], batch.atom[keys.MASSES]
            for _ in range(10):
                half = vel + 0.25 * self.accelerations(pos, masses, batch.num_graphs)
                pos = pos + 0.5 * half
                vel = half + 0.25 * self.accelerations(pos, masses, batch.num_graphs)
            pos = pos.reshape(batch.num_graphs, -1, 3)
            centre = pos.mean(1, keepdim=True)
            return Prediction((centre + 1.05 * (pos - centre)).reshape(-1, 3), vel)

    def engine(rescale):
        return LearnedMD(StretchingFiveFs(mmff), session.run.topology, session.engine.masses, 5.0,
                         bonds=session.engine.bonds, potential=mmff, rescale=rescale)

    pos, vel = test_starts(3)
    vel = vel + np.array([1e-3, -2e-3, 5e-4])  # a drift, which the projection must leave alone
    rescaled, projected = engine(True), engine("project")
    masses = projected.masses
    start_total = potential_energies(mmff, pos) + kinetic_energy(masses, vel)
    states = rescaled.start(pos, vel), projected.start(pos, vel)
    for _ in range(20):
        rescaled.step(states[0])
        projected.step(states[1])
    assert not states[0].alive.any()
    assert all("no real alpha" in row["reason"] for row in states[0].stopped)
    assert states[1].alive.all(), states[1].stopped
    total = potential_energies(mmff, states[1].positions) + kinetic_energy(masses, states[1].velocities)
    np.testing.assert_allclose(total, start_total, rtol=0, atol=1e-4)
    np.testing.assert_allclose(com_velocities(masses, states[1].velocities), com_velocities(masses, vel), rtol=1e-6)
    assert np.all(states[1].alpha < 1.0)  # the projection took energy out of the velocities too
