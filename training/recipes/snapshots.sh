# Snapshot helpers of the training recipes (sourced, not run). Run directories do not survive a move to a new
# machine; the repository does. So a stage ends by writing its weights to a committed snapshot, and the next
# stage starts from the run directory when this machine still has it, else from that snapshot.
# Needs: PY (python), RUN (run root); SNAP (snapshot folder, default training/recipes/snapshots).
SNAP=${SNAP:-training/recipes/snapshots}

# init_from DIR NAME: prints the weights a stage starts from, RUN/DIR/last.pth or else SNAP/NAME.pth
init_from() {
  if [ -f "$RUN/$1/last.pth" ]; then echo "$RUN/$1/last.pth"
  elif [ -f "$SNAP/$2.pth" ]; then echo "$SNAP/$2.pth"
  else echo "neither $RUN/$1/last.pth nor $SNAP/$2.pth exists: run the stage before first" >&2; return 2; fi
}

# snapshot DIR NAME STEPS: RUN/DIR/last.pth as SNAP/NAME.pth (fp16, config, training step; `training package`),
# its card naming the recipe, the stage and the steps of the stage's schedule
snapshot() {
  "$PY" -m training package "$RUN/$1/last.pth" --out "$SNAP/$2.pth" \
      --card "{\"recipe\": \"$0\", \"stage\": \"$2\", \"stage_steps\": $3}"
}

# continue_from DIR NAME: sets the array FROM to the arguments that carry a stage's own run on: none when
# RUN/DIR/last.pth exists (--resume takes it up, optimizer and all) or when SNAP/NAME.pth does not (a fresh
# start); else --init SNAP/NAME.pth --start-step STEP, the step the snapshot was taken at
continue_from() {
  FROM=()
  if [ ! -f "$RUN/$1/last.pth" ] && [ -f "$SNAP/$2.pth" ]; then
    local step
    step=$("$PY" -c 'import sys; from training.checkpoints import load; print(int(load(sys.argv[1])["step"]))' \
        "$SNAP/$2.pth") || { echo "cannot read the training step of $SNAP/$2.pth" >&2; return 2; }
    FROM=(--init "$SNAP/$2.pth" --start-step "$step")
  fi
}
