#!/usr/bin/env bash
# Score a default-model snapshot the way the README's tables do, writing benchmarks/results/*_rerun_TAG_*:
#
#   training/recipes/score_snapshot.sh SNAPSHOT TAG PREV_TAG FIRST_TAG [RUN_DIR ...]
#
# realtex at 384x384 on the held-out videos, seeds 0 and 1 (8 sequences each), paired against the re-run's
# PREV_TAG result and the first run's FIRST_TAG result (realtex_rerun_PREV_TAG_img384_seed*.json,
# realtex_default_recipe_FIRST_TAG_img384_seed*.json); ONNX export and `benchmarks online` (replay, closed loop,
# speed) at 384x384 on 48 frames of bear with 100 points; cycle error on the six real clips at 384x384; and,
# given RUN_DIRs, their training curves. Env: PY (python, default .venv/bin/python), THREADS (default 2).
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,10p "$0" >&2; exit 2; }
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
CKPT=$1 TAG=$2 PREV=$3 FIRST=$4
shift 4
[ -f "$CKPT" ] || { echo "no snapshot at $CKPT" >&2; exit 2; }
R=benchmarks/results
T=${THREADS:-2}
export OMP_NUM_THREADS=$T
ONNX=$(mktemp -d)
trap 'rm -rf "$ONNX"' EXIT
[ $# -eq 0 ] || "$PY" -m training curves "$@" --out "$R/train_rerun_${TAG}_cpu.png" --json "$R/train_rerun_${TAG}_cpu.json"
for s in 0 1; do
  out=$R/realtex_rerun_${TAG}_img384_seed$s.json
  "$PY" -m benchmarks realtex --videos ../shared/videos/{bear,pillow,teddy}.mp4 --checkpoint "$CKPT" \
      --image-size 384 384 --seed "$s" --sequences 8 --threads "$T" --out "$out"
  "$PY" -m benchmarks paired "$R/realtex_rerun_${PREV}_img384_seed$s.json" "$out" \
      --out "$R/paired_rerun_${TAG}_vs_${PREV}_img384_seed$s.json"
  "$PY" -m benchmarks paired "$R/realtex_default_recipe_${FIRST}_img384_seed$s.json" "$out" \
      --out "$R/paired_rerun_${TAG}_vs_first_run_${FIRST}_img384_seed$s.json"
done
"$PY" -m export onnx --checkpoint "$CKPT" --out "$ONNX" --image-size 384 384
"$PY" -m benchmarks online --video ../shared/videos/bear.mp4 --checkpoint "$CKPT" --onnx-dir "$ONNX" \
    --image-size 384 384 --points 100 --frames 48 --threads "$T" --no-low-latency \
    --out "$R/online_rerun_${TAG}_img384_cpu_n100.json"
"$PY" -m benchmarks cycle --videos ../shared/videos --checkpoint "$CKPT" --image-size 384 384 \
    --out "$R/cycle_rerun_${TAG}_img384_real_24f.json"
