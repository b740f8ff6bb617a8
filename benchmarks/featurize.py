"""Featurizer throughput against DGL-LifeSci, same process, same machine, same SMILES.

Peer: DGL-LifeSci's ``smiles_to_bigraph`` with ``CanonicalAtomFeaturizer`` (74 columns) and
``CanonicalBondFeaturizer`` (12), the tool pipelines use today. Ours: ``featurize_smiles`` on one
process, then ``batched()`` (graphs ready for a model or for ``save_graphs``), in three settings:

* ``atoms+bonds+rings``: the comparable setting (86 atom and 15 bond columns, plus ring nodes);
* ``+functional groups``: and the SMARTS catalogue's subgraph nodes;
* ``default``: and BRICS fragments (what ``smiles_to_graph`` does by default);
* and, for reference, ``smiles_to_graph`` called once per SMILES in the comparable setting.

Data: the 5,000 SMILES RDKit ships (``rdkit/Data/NCI/first_5K.smi``). Rates are molecules per
second over all input rows (failed rows included, for both tools). The runs are interleaved and
repeated after a warm-up; medians are reported. Run: ``make bench`` or ``python benchmarks/featurize.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

from rdkit import RDConfig, rdBase

import chemnoether  # noqa: F401 - before dgl/dgllife: makes DGL importable on this torch
from chemnoether.featurize import featurize_smiles, smiles_to_graph


def nci_smiles() -> list[str]:
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def dgllife_run(smiles: list[str]) -> float:
    try:
        from dgllife.utils import (
            CanonicalAtomFeaturizer,
            CanonicalBondFeaturizer,
            smiles_to_bigraph,
        )
    except ImportError as err:
        raise SystemExit("DGL-LifeSci is the peer of this benchmark: pip install -e '.[bench]'") from err
    atom, bond = CanonicalAtomFeaturizer(), CanonicalBondFeaturizer()
    start = time.perf_counter()
    with rdBase.BlockLogs():
        graphs = [smiles_to_bigraph(s, node_featurizer=atom, edge_featurizer=bond) for s in smiles]
    elapsed = time.perf_counter() - start
    assert len(graphs) == len(smiles)
    return len(smiles) / elapsed


def ours_run(smiles: list[str], **options) -> float:
    start = time.perf_counter()
    result = featurize_smiles(smiles, unknown_elements="other", **options)
    result.batched()
    elapsed = time.perf_counter() - start
    assert len(result.status) == len(smiles)
    return len(smiles) / elapsed


def ours_one_at_a_time(smiles: list[str]) -> float:
    """``smiles_to_graph`` per SMILES, as DGL-LifeSci is used: one DGL graph per molecule."""
    from chemnoether.errors import ChemNoetherError  # noqa: PLC0415

    start = time.perf_counter()
    for s in smiles:
        try:
            smiles_to_graph(s, unknown_elements="other", subgraphs=())
        except ChemNoetherError:
            pass
    return len(smiles) / (time.perf_counter() - start)


SETTINGS = {
    "atoms+bonds+rings": dict(subgraphs=()),
    "+functional groups": dict(subgraphs=("functional_groups",)),
    "default (+BRICS)": dict(),
    "atoms+bonds+rings, smiles_to_graph one molecule at a time": None,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    smiles = nci_smiles()
    rates: dict[str, list[float]] = {"DGL-LifeSci": []} | {name: [] for name in SETTINGS}
    ratios: dict[str, list[float]] = {name: [] for name in SETTINGS}
    # warm-up: imports, RDKit's lazy tables and DGL's graph template are paid once, not in repeat 1
    dgllife_run(smiles[:200])
    for options in SETTINGS.values():
        ours_one_at_a_time(smiles[:200]) if options is None else ours_run(smiles[:200], **options)
    for repeat in range(args.repeats):
        peer = dgllife_run(smiles)
        rates["DGL-LifeSci"].append(peer)
        for name, options in SETTINGS.items():
            rate = ours_one_at_a_time(smiles) if options is None else ours_run(smiles, **options)
            rates[name].append(rate)
            ratios[name].append(rate / peer)  # against the peer of the same repeat
        print(f"repeat {repeat + 1}/{args.repeats}: DGL-LifeSci {peer:.0f} mol/s", flush=True)

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"\n{len(smiles)} SMILES (first_5K.smi), one process, {machine}, {date.today()}")
    print("| featurizer | mol/s (median) | ratio to DGL-LifeSci (median of per-repeat ratios) |")
    print("|---|---|---|")
    print(f"| DGL-LifeSci smiles_to_bigraph, canonical featurizers | {statistics.median(rates['DGL-LifeSci']):.0f} | 1.00 |")
    for name in SETTINGS:
        print(f"| chemnoether, {name} | {statistics.median(rates[name]):.0f} | {statistics.median(ratios[name]):.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rates": rates, "ratios": ratios, "machine": machine}, indent=2))


if __name__ == "__main__":
    main()
