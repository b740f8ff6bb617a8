"""run_learned_md: an interrupted run resumed equals the uninterrupted one; a blown-up replica keeps its frames."""

import csv
import filecmp

import numpy as np
import pytest

from chemnoether.learned_md import LearnedMDSession, make_thermostat, read_frames, run_learned_md

STEPS, CHUNK = 12, 4


@pytest.fixture
def verlet_session(session, verlet_engine):
    """A fresh session whose engine is NVT MMFF Verlet (seeded): the RNG must survive a resume."""

    def build(model=None):
        engine = verlet_engine(model=model, thermostat=make_thermostat("langevin", 300.0, 0.5, friction_per_fs=0.05),
                               potential=session.engine.potential, rng=np.random.default_rng(7))
        return LearnedMDSession(session.run, engine, {"engine": "mmff verlet nvt"})

    return build


def _run(session, out, **options):
    return run_learned_md(None, "test:0", STEPS, out, replicas=2, chunk_frames=CHUNK, progress=False, session=session, **options)


def test_an_interrupted_run_resumes_to_the_same_trajectory(tmp_path, verlet_session, verlet_class, mmff):
    class Interrupted(verlet_class):
        def forward(self, batch):
            if self.calls == 9:  # mid-chunk: frames 8 and 9 are in memory only
                raise KeyboardInterrupt
            return super().forward(batch)

    whole = _run(verlet_session(), tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        _run(verlet_session(Interrupted(mmff)), tmp_path / "cut")
    assert read_frames(tmp_path / "cut")["steps"][-1] == 7  # the complete chunks survived
    with open(tmp_path / "cut" / "replica_000.extxyz", "a") as handle:
        handle.write("9\nhalf a frame written when the process died\n")  # a crash in the middle of an append
    resumed = _run(verlet_session(), tmp_path / "cut")
    assert whole.steps == resumed.steps == STEPS and not whole.stopped
    one, two = read_frames(tmp_path / "whole"), read_frames(tmp_path / "cut")
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)
    assert list(one["steps"]) == list(range(STEPS + 1))
    for name in ("replica_000.extxyz", "replica_001.extxyz", "log.csv", "status.csv"):
        assert filecmp.cmp(tmp_path / "whole" / name, tmp_path / "cut" / name, shallow=False), name


def test_a_run_is_extended_by_asking_for_more_steps(tmp_path, verlet_session):
    run_learned_md(None, "test:0", 4, tmp_path / "md", replicas=2, chunk_frames=CHUNK, progress=False, session=verlet_session())
    _run(verlet_session(), tmp_path / "md")
    _run(verlet_session(), tmp_path / "whole")
    np.testing.assert_array_equal(read_frames(tmp_path / "md")["positions"], read_frames(tmp_path / "whole")["positions"])


def test_other_settings_in_the_folder_are_refused(tmp_path, verlet_session):
    from chemnoether.errors import ConfigError

    _run(verlet_session(), tmp_path / "md")
    with pytest.raises(ConfigError, match="other settings.*replicas"):
        run_learned_md(None, "test:0", STEPS, tmp_path / "md", replicas=3, chunk_frames=CHUNK, progress=False, session=verlet_session())


def test_a_blown_up_replica_stops_alone_and_keeps_its_frames(tmp_path, verlet_session, verlet_class, mmff):
    class BreaksSecondReplica(verlet_class):
        def forward(self, batch):
            prediction = super().forward(batch)
            if self.calls == 6:
                n = int(batch.num_atoms[0])
                prediction.pos = prediction.pos.clone()
                prediction.pos[n:2 * n] = float("nan")
            return prediction

    result = run_learned_md(None, "test:0", STEPS, tmp_path / "md", replicas=3, chunk_frames=CHUNK, progress=False,
                            session=verlet_session(BreaksSecondReplica(mmff)))
    assert [(row["replica"], row["step"]) for row in result.stopped] == [(1, 6)]
    assert "not finite" in result.stopped[0]["reason"]
    with open(tmp_path / "md" / "status.csv") as handle:
        status = {int(row["replica"]): row for row in csv.DictReader(handle)}
    assert [status[r]["status"] for r in range(3)] == ["finished", "stopped", "finished"]
    assert status[1]["step"] == "6" and "not finite" in status[1]["reason"]
    from ase.io import read

    frames = [len(read(tmp_path / "md" / f"replica_{r:03d}.extxyz", index=":")) for r in range(3)]
    assert frames == [STEPS + 1, 6, STEPS + 1]  # steps 0-5 of the stopped replica are kept
    with open(tmp_path / "md" / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * (STEPS + 1) + 6
    assert all(np.isfinite(float(row["total_energy_eV"])) for row in rows)
