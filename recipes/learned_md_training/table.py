"""The stabiliser table of ``run.sh``: one row per variant, plus the R^2 of each g against MMFF94.

Usage: python table.py OUT_DIR. Reads ``OUT_DIR/<run>/metrics_<label>.json`` (``chemnoether
evaluate`` output, copied by run.sh) and rebuilds each test-time g exactly as the evaluation did
(same seed, same pre-training) to measure ``noether.readout.g_energy_r2`` on the run's test split.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

RUNS = {  # run directory -> (label of its metrics file, variant row to take, name in the table)
    "plain": [("energy_oracle", "untailored", "untailored"), ("energy_oracle", "oracle_energy", "MMFF energy oracle (reference)"),
              ("learned_g", "learned_g", "learned g (contrast pre-training)"),
              ("anchored_g", "anchored_g", "anchored g (kinetic + learned V, no labels)")],
    "learned_energy": [("learned_energy_g", "untailored", "energy head, untailored"),
                       ("learned_energy_g", "learned_energy_g", "energy head, tailored by K + learned V")],
    "time_reversal": [("plain", None, "time-reversed windows")],
    "rollout_loss": [("plain", None, "2-step rollout loss")],
    "learned_energy_f1": [("learned_energy_g", "untailored", "energy head (forces weight 1), untailored"),
                          ("learned_energy_g", "learned_energy_g", "energy head (forces weight 1), tailored by K + learned V")],
    "input_noise": [("plain", None, "input noise")],
}


def rows(out: Path) -> list[dict]:
    table = []
    for run, entries in RUNS.items():
        for label, variant, name in entries:
            path = out / run / f"metrics_{label}.json"
            if not path.is_file():
                table.append({"variant": name, "note": f"missing {path}"})
                continue
            metrics = json.loads(path.read_text())
            roll = metrics["rollout"]
            if variant is None:
                row = {"single_step_pos_mse": metrics["single_step"]["model"]["pos_mse"], "rollout_final_mse": roll["final_mse"], "fraction_completed": roll["stability"]["fraction_completed"],
                       "final_energy_drift": roll["energy"]["final_drift"], "cost_vs_untailored": 1.0}
            else:
                row = next(v for v in metrics["tailoring"]["variants"] if v["variant"] == variant)
            table.append({
                "variant": name,
                "5-fs MSE (Å²)": row["single_step_pos_mse"],
                "100-fs MSE (Å², finite rollouts)": row["rollout_final_mse"],
                "physical": f"{row['fraction_completed'] * roll['n_rollouts']:.0f}/{roll['n_rollouts']}",
                "drift (eV)": row["final_energy_drift"],
                # untailored runs only: the comparison rows of tailored variants do not carry it
                "mean steps physical": roll["stability"]["mean_steps_until_unphysical"] if variant in (None, "untailored") else None,
                "cost": row["cost_vs_untailored"],
            })
    return table


def g_r2(out: Path) -> list[dict]:
    """R^2 of each g against the MMFF94 energy on the test split (g rebuilt as the evaluation built it)."""
    from chemnoether.evaluate._run import open_run  # noqa: PLC0415
    from chemnoether.evaluate.tailoring import TestTimeTailoring, tailoring_variants  # noqa: PLC0415
    from chemnoether.noether.readout import g_energy_r2  # noqa: PLC0415

    results = []
    for run, g_name in (("plain", "learned"), ("plain", "anchored"), ("learned_energy", "learned_energy"),
                        ("learned_energy_f1", "learned_energy"), ("plain", "energy")):
        if not (out / run / "best.pt").is_file():
            continue
        opened = open_run(out / run)
        test_time = TestTimeTailoring(g_name)
        g = tailoring_variants(opened, test_time)[test_time.variant].g
        r2 = g_energy_r2(g, opened.windows)
        results.append({"run": run, "g": g_name, "R2 at rest vs potential": r2["potential"],
                        "R2 vs total (velocities x U(0.5,1.5))": r2["total"], "test states": r2["n_states"]})
    return results


def force_errors(out: Path, run: str) -> dict | None:
    """RMS force error (eV/Å) of the energy head on the test split, beside the RMS force itself."""
    import torch  # noqa: PLC0415

    from chemnoether import keys  # noqa: PLC0415
    from chemnoether.data.windows import window_loader  # noqa: PLC0415
    from chemnoether.evaluate._run import open_run  # noqa: PLC0415

    if not (out / run / "best.pt").is_file():
        return None
    opened = open_run(out / run)
    squared = reference = count = 0.0
    for batch in window_loader(opened.windows, 64):
        _, forces = opened.model.energy_and_forces(batch)
        squared += float((forces - batch.atom[keys.FORCES]).pow(2).sum())
        reference += float(batch.atom[keys.FORCES].pow(2).sum())
        count += forces.numel()
    return {"rms_force_error": (squared / count) ** 0.5, "rms_force": (reference / count) ** 0.5,
            "components": int(count), "windows": len(opened.windows)}


def main(out: str) -> None:
    out = Path(out)
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows(out)).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    print(pd.DataFrame(g_r2(out)).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print()
    for run in ("learned_energy", "learned_energy_f1"):
        print(f"energy head of {run} on the test split:", force_errors(out, run))


if __name__ == "__main__":
    main(sys.argv[1])
