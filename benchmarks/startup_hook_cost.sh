#!/bin/bash
# Start-up cost of chemnoether-dgl.pth: site's cumulative import time (python -X importtime -c pass)
# with and without the .pth, N interleaved pairs, medians in microseconds; and the hook module's own
# import line. Moves the installed .pth aside for the "without" runs (restored on exit): run it
# when nothing else uses the environment. Usage: benchmarks/startup_hook_cost.sh [python] [N]
set -eu
PY=${1:-.venv/bin/python}; N=${2:-40}
SP=$($PY -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
PTH=$SP/chemnoether-dgl.pth; ASIDE=$(mktemp -d)/chemnoether-dgl.pth
test -f "$PTH" || { echo "no $PTH: install chemnoether first (make env)"; exit 1; }
trap 'test -f "$ASIDE" && mv "$ASIDE" "$PTH"' EXIT
# users' Pythons cache bytecode; some machines turn that off, which would time compilation instead
unset PYTHONDONTWRITEBYTECODE
$PY -c "import chemnoether_dgl_hook"
line() { $PY -X importtime -c pass 2>&1 | grep -E "\| +$1\$" | awk -F'|' '{print $2+0}'; }
for i in $(seq "$N"); do
  mv "$PTH" "$ASIDE"; echo "site_without_pth $(line site)"
  mv "$ASIDE" "$PTH"; echo "site_with_pth $(line site)"; echo "hook_module $(line chemnoether_dgl_hook)"
done | $PY -c "
import collections, statistics, sys
runs = collections.defaultdict(list)
for row in sys.stdin:
    name, value = row.split()
    runs[name].append(int(value))
for name, values in runs.items():
    print(f'{name}: median {statistics.median(values):.0f} us over {len(values)} runs')
"
