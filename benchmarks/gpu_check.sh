#!/usr/bin/env bash
# Every GPU check in one run (DESIGN.md section 10; issue 8): GPU-marked tests, training and rollout
# throughput against the EGNN peer, the MD17 recipe's accuracy for both on the device, speed-ups
# (torch.compile, TF32, autocast, batch size, edge slices), the cost of tailoring and the
# large-system curve; everything lands in $OUT/gpu_check.tar.gz, with summary.txt beside it.
#
# The lent image has torch + CUDA, e3nn, gpytorch, pandas, scipy, matplotlib but no dgl, rdkit or
# ase: download their cp312 wheels here first (once; `.whl/` is git-ignored and carried):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux1_x86_64 \
#     -d .whl dgl==2.1.0 rdkit==2026.9.1 ase==3.29.0
# then, through the device tool: run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=600).
# Each step has its own time limit and log, so one failure does not hide the others; the limits add
# up to about the device tool's 10 minutes (most end well inside theirs). Dry run on CPU: DEVICE=cpu QUICK=1 bash benchmarks/gpu_check.sh.
set -u
OUT=${OUT:-out/gpu_check}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:-}          # set: tiny sizes, for a dry run of the script itself
RESULTS="$OUT/gpu_check"  # bundled at the end: the device tool returns at most 8 files
mkdir -p "$RESULTS"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        > "$RESULTS/install.log" 2>&1 || echo "wheel install failed: see install.log" >> "$OUT/summary.txt"
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1
PY=${PY:-python3}
began_all=$(date +%s)

step() {  # step NAME SECONDS COMMAND...: run it, keep its output and exit status
    local name=$1 limit=$2
    shift 2
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi  # ONLY="a b": a rerun of some steps
    local began=$(date +%s)
    timeout "$limit" "$@" > "$RESULTS/$name.log" 2>&1
    local rc=$?
    echo "$name: exit $rc in $(( $(date +%s) - began )) s" | tee -a "$OUT/summary.txt"
}

{ nvidia-smi; $PY -c "import torch, e3nn; print(torch.__version__, torch.version.cuda, e3nn.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"; } \
    > "$RESULTS/device.txt" 2>&1
if [ -n "$QUICK" ]; then
    steps=2; md17_set=(--epochs 1); sizes=(300 1000); box=2000
else
    steps=20; md17_set=(); sizes=(1000 10000 30000 100000); box=100000
fi
step gpu_tests 75 $PY -m pytest -q -m gpu -p no:cacheprovider tests/models/test_gpu.py tests/models/test_compile.py \
    tests/core/test_tensors.py tests/simulation/test_torch_mmff.py
step throughput 90 $PY benchmarks/throughput.py --device "$DEVICE" --steps "$steps" --batch-size 64 --json "$RESULTS/throughput.json"
step throughput_compiled 120 $PY benchmarks/throughput.py --device "$DEVICE" --steps "$steps" --batch-size 64 \
    --data aspirin_md17 --compile reduce-overhead --json "$RESULTS/throughput_compiled.json"
step md17_compare 130 $PY recipes/md17/compare.py --preset quick "${md17_set[@]}" --set train.device="$DEVICE" -o "$RESULTS/md17"
step tailoring_overhead 50 $PY benchmarks/tailoring_overhead.py --device "$DEVICE" --repeats 3 --steps 5 --json "$RESULTS/tailoring_overhead.json"
step scaling 100 $PY benchmarks/scaling.py --device "$DEVICE" --sizes "${sizes[@]}" -o "$RESULTS/scaling"
step speedups 150 $PY benchmarks/speedups.py --device "$DEVICE" --steps "$steps" --box-atoms "$box" --json "$RESULTS/speedups.json"
echo "all: $(( $(date +%s) - began_all )) s" >> "$OUT/summary.txt"
# the runs' checkpoints are large and not needed back
find "$RESULTS/md17" -name "*.pt" -delete 2>/dev/null
tar -czf "$OUT/gpu_check.tar.gz" -C "$OUT" gpu_check && rm -rf "$RESULTS"
cat "$OUT/summary.txt"
