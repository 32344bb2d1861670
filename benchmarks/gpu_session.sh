#!/usr/bin/env bash
# Everything a session with a GPU measures, in one call (the device machine's `run`):
#   OUT=$OUT PY=python3 bash benchmarks/gpu_session.sh
# 1. the fused corr4d kernel: build, C++ test, sanitizer, oracle checks, timings (benchmarks/gpu_corr4d.py)
# 2. runtime latency of the torch backend on CUDA vs the reference schedule (+ PNG)
# 3. training throughput and peak memory, online and offline, 384x512 with 384 / 512 points, bf16
# Results land in $OUT (default benchmarks/results) named with the device.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
PY=${PY:-python3}
mkdir -p "$OUT"
DEV=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0).replace(' ', '_'))")
WORK=$(mktemp -d)
echo "device: $DEV, scratch: $WORK"

PYTHONUNBUFFERED=1 "$PY" -m benchmarks.gpu_corr4d --out "$OUT"

"$PY" -m benchmarks latency --backend torch --device cuda --points 64 256 1024 4096 \
    --out "$OUT/latency_torch_cuda_$DEV.json"

"$PY" -m training synthetic --out "$WORK/data" --sequences 8 --frames 64 --size 384 512 --seed 0 --points 1024 --quiet
"$PY" -m training kubric --data "$WORK/data" --variant online --steps 25 --warmup 5 --size 384 512 --points 384 \
    --bf16 --device cuda --out "$WORK/online" --quiet
"$PY" -m training kubric --data "$WORK/data" --variant offline --steps 25 --warmup 5 --size 384 512 --points 512 \
    --frames 60 --bf16 --device cuda --out "$WORK/offline" --quiet
"$PY" -m benchmarks.train_throughput "$WORK/online" "$WORK/offline" --machine "$DEV" \
    --out "$OUT/train_throughput_$DEV.json"
echo "results in $OUT"
