"""``md run`` through a test-only parser: the lead wires add_run_parser into `chemnoether md`."""

import argparse
import csv

import pytest

from chemnoether.md.cli import add_run_parser


def _main(argv):
    parser = argparse.ArgumentParser(prog="chemnoether md")
    add_run_parser(parser.add_subparsers(dest="md_command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


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


def test_md_run_refuses_nvt_without_a_temperature(tmp_path, md_run):
    from chemnoether.errors import ConfigError

    with pytest.raises(ConfigError, match="needs temperature_K"):
        _main(["run", str(md_run), "--start", "test:0", "--steps", "2", "--ensemble", "nvt", "-o", str(tmp_path / "md"), "-q"])


def test_md_run_rejects_a_bad_step_count(tmp_path, md_run, capsys):
    with pytest.raises(SystemExit):
        _main(["run", str(md_run), "--start", "test:0", "--steps", "0", "-o", str(tmp_path / "md")])
    assert "must be a whole number >= 1" in capsys.readouterr().err
