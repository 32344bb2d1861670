#!/usr/bin/env bash
# The default model's training recipe (issue 8), resumable: run it again to continue where it stopped.
#
#   training/recipes/default_model.sh [STOP_AT]        # STOP_AT: end this sitting after that step
#
# Data: procedural clips (training.synthetic) with real backgrounds from the TRAINING videos only
# (apple, backpack, paragliding of ../shared/videos); `python -m benchmarks realtex` evaluates on the
# others (bear, pillow, teddy), so no evaluated frame is ever trained on.
# Model: training/recipes/default_model.json (a smaller member of the CoTracker3 family, 4.4M params:
# correlation radius 2 over 3 levels, run at 128x128, the size it trains at; a step costs half what radius 3
# over 4 levels at 256x256 did on the CPU).
# Env: PY (python, default .venv/bin/python), RUN (output root, default runs/default), THREADS.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/default}
STEPS=${STEPS:-40000}
SEED=0
mkdir -p "$RUN/backgrounds"
for v in apple backpack paragliding; do ln -sf "$(cd ../shared/videos && pwd)/$v.mp4" "$RUN/backgrounds/$v.mp4"; done
[ -f "$RUN/data/synthetic.json" ] || "$PY" -m training synthetic --out "$RUN/data" --sequences 400 --frames 32 \
    --size 192 192 --seed 1 --points 512 --backgrounds "$RUN/backgrounds"
[ -f "$RUN/heldout/synthetic.json" ] || "$PY" -m training synthetic --out "$RUN/heldout" --sequences 8 --frames 32 \
    --size 192 192 --seed 2 --points 256 --backgrounds "$RUN/backgrounds"
OMP_NUM_THREADS=${THREADS:-2} "$PY" -m training kubric --data "$RUN/data" --variant online \
    --model-config training/recipes/default_model.json --size 128 128 --frames 24 --points 64 --iters 4 \
    --steps "$STEPS" --warmup 200 --lr 5e-4 --seed "$SEED" --save-every 100 --eval-data "$RUN/heldout" \
    --eval-every 500 --out "$RUN/train" --resume ${1:+--stop-at "$1"}
