#!/usr/bin/env bash
# Every GPU check in one run (DESIGN.md section 10; issue 8): GPU-marked tests, training and rollout
# throughput, the cost of tailoring and the large-system curve on the device, results under $OUT.
#
# The lent image has torch + CUDA, e3nn, gpytorch, pandas, scipy, matplotlib but no dgl, rdkit or
# ase: download their cp312 wheels here first (once; `.whl/` is git-ignored and carried):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl dgl==2.1.0 rdkit ase networkx psutil
# then, through the device tool: run(command="bash benchmarks/gpu_check.sh", carry=[".whl"]).
# Each step has its own time limit and its own log, so one failure does not hide the others.
set -u
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        > "$OUT/install.log" 2>&1 || echo "wheel install failed: see install.log" >> "$OUT/summary.txt"
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
PY=${PY:-python3}

step() {  # step NAME SECONDS COMMAND...: run it, keep its output and exit status
    local name=$1 limit=$2
    shift 2
    local began=$(date +%s)
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name: exit $rc in $(( $(date +%s) - began )) s" | tee -a "$OUT/summary.txt"
}

{ nvidia-smi; $PY -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())"; } \
    > "$OUT/device.txt" 2>&1
step gpu_tests 240 $PY -m pytest -q -m gpu -p no:cacheprovider tests/models/test_gpu.py tests/data/test_tensors.py tests/data/test_torch_mmff.py
step throughput 240 $PY benchmarks/throughput.py --device cuda --steps 20 --batch-size 64 --json "$OUT/throughput.json"
step tailoring_overhead 180 $PY benchmarks/tailoring_overhead.py --device cuda --repeats 5 --steps 10 --json "$OUT/tailoring_overhead.json"
step scaling 240 $PY benchmarks/scaling.py --device cuda -o "$OUT/scaling"
cat "$OUT/summary.txt"
