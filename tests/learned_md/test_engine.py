"""LearnedMD: equal to a hand loop of model calls; NVT reaches its temperature; rescaling is exact."""

import numpy as np
import pytest
import torch

from chemnoether import keys
from chemnoether.core.tensors import GraphTensors
from chemnoether.featurize.assemble import build_batched_graph
from chemnoether.learned_md import make_thermostat, rescale_to_energy
from chemnoether.core.units import kinetic_energy
from chemnoether.learned_md._physics import com_velocities, temperatures
from chemnoether.learned_md.rescale import potential_energies


def test_driver_equals_a_hand_loop_of_model_calls(session, test_starts):
    engine, topology, model = session.engine, session.run.topology, session.run.model
    pos, vel = test_starts(4)
    state = engine.start(pos, vel)
    hand_pos, hand_vel = pos.astype(np.float32), vel.astype(np.float32)
    for _ in range(2):
        engine.step(state)
        parts = topology.batch_parts(hand_pos, {keys.POS: hand_pos, keys.VEL: hand_vel},
                                     {keys.DT: np.full(len(hand_pos), engine.dt_fs, dtype=np.float32)})
        with torch.no_grad():
            prediction = model(GraphTensors.from_graph(build_batched_graph(parts)))
        hand_pos = prediction.pos.numpy().reshape(pos.shape)
        hand_vel = prediction.vel.numpy().reshape(pos.shape)
        alive = state.alive
        assert alive.any()
        np.testing.assert_array_equal(state.positions[alive], hand_pos[alive].astype(np.float64))
        np.testing.assert_array_equal(state.velocities[alive], hand_vel[alive].astype(np.float64))
        hand_pos, hand_vel = hand_pos.astype(np.float32), hand_vel.astype(np.float32)
    assert state.step == 2


@pytest.mark.parametrize("kind", ["langevin", "csvr"])
def test_nvt_with_a_known_model_reaches_the_target_temperature(kind, verlet_engine, test_starts):
    target = 500.0  # the data are at 300 K: the thermostat has to move the replicas there
    thermostat = make_thermostat(kind, target, 0.5, friction_per_fs=0.05, tau_fs=20.0)
    engine = verlet_engine(thermostat=thermostat)
    state = engine.start(*test_starts(16))
    samples = []
    for step in range(400):
        engine.step(state)
        if step >= 150:  # 100 fs = 5 relaxation times to equilibrate
            samples.append(temperatures(engine.masses, state.velocities))
    assert state.alive.all(), state.stopped
    per_replica = np.mean(samples, axis=0)  # replicas are independent: their means give the error bar
    error = per_replica.std(ddof=1) / np.sqrt(len(per_replica))
    print(f"{kind}: {per_replica.mean():.1f} +- {error:.1f} K")
    assert abs(per_replica.mean() - target) < 4 * error, (per_replica.mean(), error)
    assert error < 0.05 * target  # the check is sharp enough to tell 500 K from the data's 300 K


def test_thermostats_keep_the_net_momentum_of_replicas(session):
    rng = np.random.default_rng(3)
    masses = session.engine.masses
    vel = rng.standard_normal((5, len(masses), 3)) * 0.01
    vel -= com_velocities(masses, vel)[:, None, :]
    for kind in ("langevin", "csvr"):
        out = make_thermostat(kind, 300.0, 2.0)(vel, masses, rng)
        np.testing.assert_allclose(com_velocities(masses, out), 0.0, atol=1e-15)
        assert not np.allclose(out, vel)


def test_rescaling_keeps_the_total_energy_under_the_potential_exactly(verlet_engine, verlet_class, mmff, test_starts):
    class Heating(torch.nn.Module):
        """Verlet that gains 2% speed per step: a learned step that does not conserve energy."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, batch):
            prediction = self.inner(batch)
            prediction.vel = prediction.vel * 1.02
            return prediction

    pos, vel = test_starts(3)
    plain = verlet_engine(model=Heating(verlet_class(mmff)), potential=mmff)
    rescaled = verlet_engine(model=Heating(verlet_class(mmff)), potential=mmff, rescale=True)
    states = plain.start(pos, vel), rescaled.start(pos, vel)
    start_total = potential_energies(mmff, pos) + kinetic_energy(plain.masses, vel)
    for _ in range(20):
        for engine, state in zip((plain, rescaled), states):
            engine.step(state)
    total = [potential_energies(mmff, s.positions) + kinetic_energy(plain.masses, s.velocities) for s in states]
    np.testing.assert_allclose(total[1], start_total, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(states[1].potential_energy, potential_energies(mmff, states[1].positions))
    assert np.all(total[0] - start_total > 0.05)  # without rescaling the same model heats up
    assert np.all(states[1].alpha < 1.0)  # and alpha, logged, is what took the heat out


def test_rescaling_scales_about_the_centre_of_mass_and_reports_a_missing_alpha():
    masses = np.array([1.0, 12.0, 16.0])
    vel = np.random.default_rng(0).standard_normal((2, 3, 3)) * 0.01  # with a net momentum
    com = com_velocities(masses, vel)
    internal = kinetic_energy(masses, vel - com[:, None, :])
    com_kinetic = kinetic_energy(masses, vel) - internal
    wanted = com_kinetic[0] + 2 * internal[0]  # twice the internal kinetic energy, at V = 0
    out, alpha, reasons = rescale_to_energy(masses, vel, np.array([0.0, 5.0]), np.array([wanted, 1.0]))
    np.testing.assert_allclose(alpha[0], np.sqrt(2.0))
    np.testing.assert_allclose(kinetic_energy(masses, out[:1]), [wanted], rtol=1e-12)
    np.testing.assert_allclose(com_velocities(masses, out), com, rtol=1e-12)  # momentum kept exactly
    assert reasons[0] is None and "no real alpha" in reasons[1]
    assert np.isnan(alpha[1])
    np.testing.assert_array_equal(out[1], vel[1])


def test_a_replica_that_blows_up_stops_alone(verlet_engine, verlet_class, mmff, test_starts):
    class BreaksFirstReplica(verlet_class):
        def forward(self, batch):
            prediction = super().forward(batch)
            if self.calls == 3:  # the first replica's atoms fly apart on the third step
                n = batch.num_atoms[0]
                prediction.pos = prediction.pos.clone()
                prediction.pos[:n] *= 3.0
            return prediction

    engine = verlet_engine(model=BreaksFirstReplica(mmff))
    state = engine.start(*test_starts(3))
    for _ in range(5):
        engine.step(state)
    assert state.alive.tolist() == [False, True, True]
    assert len(state.stopped) == 1
    row = state.stopped[0]
    assert (row["replica"], row["step"]) == (0, 3) and "strain" in row["reason"]
    assert state.step == 5


def test_tailoring_runs_every_step_through_noether_tailor(md_run, test_starts):
    from chemnoether.learned_md import open_learned_md
    from chemnoether.noether import NoetherTailoredModel

    tailored = open_learned_md(md_run, tailor="angular_momentum", potential="none")
    plain = open_learned_md(md_run, potential="none")
    assert isinstance(tailored.engine.model, NoetherTailoredModel)
    pos, vel = test_starts(2)
    states = tailored.engine.start(pos, vel), plain.engine.start(pos, vel)
    assert states[0].g_reference.shape[0] == 2  # NVE: g is anchored at each replica's start
    tailored.engine.step(states[0])
    plain.engine.step(states[1])
    assert tailored.engine.model.last_info is not None
    assert not np.allclose(states[0].velocities, states[1].velocities)  # the tailored step is another step
