"""``chemnoether md run``: the learned-MD command, through the package's own entry point."""

import csv

import pytest

from chemnoether.cli import main


def _main(argv):
    return main(["md", *argv])


def test_md_run_writes_replicas_log_and_status(tmp_path, md_run, capsys):
    out = tmp_path / "md"
    argv = ["run", str(md_run), "--start", "test:0", "--steps", "2", "--replicas", "2", "--ensemble", "nvt",
            "--thermostat", "csvr", "--temperature", "300", "-o", str(out), "-q"]
    assert _main(argv) == 0
    printed = capsys.readouterr().out
    assert "of 2 replicas ran to step 2" in printed and "ps/day" in printed
    with open(out / "status.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["replica"] for row in rows] == ["0", "1"]
    with open(out / "log.csv") as handle:
        log = list(csv.DictReader(handle))
    assert {row["step"] for row in log} >= {"0"} and all(row["temperature_K"] for row in log)
    assert (out / "replica_000.extxyz").exists() and (out / "manifest.json").exists()


def test_md_run_refuses_nvt_without_a_temperature(tmp_path, md_run, capsys):
    code = _main(["run", str(md_run), "--start", "test:0", "--steps", "2", "--ensemble", "nvt", "-o", str(tmp_path / "md"), "-q"])
    assert code == 2
    assert "needs temperature_K" in capsys.readouterr().err


def test_md_run_rejects_a_bad_step_count(tmp_path, md_run, capsys):
    with pytest.raises(SystemExit):
        _main(["run", str(md_run), "--start", "test:0", "--steps", "0", "-o", str(tmp_path / "md")])
    assert "must be a whole number >= 1" in capsys.readouterr().err


def test_md_run_refuses_a_projection_without_a_potential(tmp_path, md_run, capsys):
    code = _main(["run", str(md_run), "--start", "test:0", "--steps", "2", "--project", "-o", str(tmp_path / "md"), "-q"])
    assert code == 2
    assert "--project needs --rescale" in capsys.readouterr().err
    assert not (tmp_path / "md").exists()  # refused before any work


def test_md_run_offers_every_test_time_g():
    from chemnoether.evaluate.tailoring import TEST_TIME_GS
    from chemnoether.learned_md.cli import TAILOR_CHOICES

    assert sorted(TAILOR_CHOICES) == sorted(TEST_TIME_GS)
