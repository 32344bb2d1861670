# Snapshot helpers of the training recipes (sourced, not run). Run directories do not survive a move to a new
# machine. So every sitting of a stage ends by writing its weights to a snapshot (kept outside the repository,
# recorded with sha256, step and scores in training/recipes/snapshots/MANIFEST.json); a stage carries on from its own snapshot when cut short, and starts from the previous stage's run
# directory when this machine still has it, else from that stage's (finished) snapshot. A stage NAME runs in
# RUN/NAME and is snapshotted as SNAP/NAME.pth.
# Needs: PY (python), RUN (run root), COMMON (the trainer's shared arguments; train_stage only);
# SNAP (snapshot folder, default $RT_EDGE_SNAPSHOTS or ../snapshots beside the checkout).
SNAP=${SNAP:-${RT_EDGE_SNAPSHOTS:-../snapshots}}

# snapshot_state NAME: prints "STEP END" of SNAP/NAME.pth: the step it was taken at, the step its stage ends at
snapshot_state() {
  "$PY" -c 'import sys; from training.checkpoints import load; c = load(sys.argv[1]); card = c.get("card", {})
print(int(c["step"]), int(card.get("stage_end", card["stage_steps"])))' "$SNAP/$1.pth" \
      || { echo "cannot read the training step and stage end of $SNAP/$1.pth" >&2; return 2; }
}

# stage_done NAME: true when SNAP/NAME.pth exists and was taken at the end its card records, or later
stage_done() {
  [ -f "$SNAP/$1.pth" ] || return 1
  local state
  state=$(snapshot_state "$1") || return 2
  [ "${state% *}" -ge "${state#* }" ]
}

# init_from NAME: prints the weights a stage starts from, RUN/NAME/last.pth or else SNAP/NAME.pth, which must
# be finished (a stage does not start from one cut short)
init_from() {
  if [ -f "$RUN/$1/last.pth" ]; then echo "$RUN/$1/last.pth"
  elif [ -f "$SNAP/$1.pth" ]; then
    stage_done "$1" || { echo "$SNAP/$1.pth is at step $(snapshot_state "$1" | tr ' ' /) of its stage:" \
        "run that stage to its end first" >&2; return 2; }
    echo "$SNAP/$1.pth"
  else echo "neither $RUN/$1/last.pth nor $SNAP/$1.pth exists: run the stage before first" >&2; return 2; fi
}

# snapshot NAME STEPS [END]: RUN/NAME/last.pth as SNAP/NAME.pth (fp16, config, training step; `training
# package`), its card naming the recipe, the stage, the steps of its schedule and the step it ends at
snapshot() {
  "$PY" -m training package "$RUN/$1/last.pth" --out "$SNAP/$1.pth" \
      --card "{\"recipe\": \"$0\", \"stage\": \"$1\", \"stage_steps\": $2, \"stage_end\": ${3:-$2}}"
}

# continue_from NAME: sets the array FROM to the arguments that carry a stage's own run on: none when
# RUN/NAME/last.pth exists (--resume takes it up, optimizer and all) or when SNAP/NAME.pth does not (a fresh
# start); else --init SNAP/NAME.pth --start-step STEP, the step the snapshot was taken at
continue_from() {
  FROM=()
  if [ ! -f "$RUN/$1/last.pth" ] && [ -f "$SNAP/$1.pth" ]; then
    local state
    state=$(snapshot_state "$1") || return 2
    FROM=(--init "$SNAP/$1.pth" --start-step "${state% *}")
  fi
}

# train_stage NAME PREV STEPS END ARGS...: one sitting of stage NAME on a STEPS-step schedule ending at step
# END: skipped when its snapshot reached END and its run directory is gone, else carried on (continue_from) or
# started from stage PREV (init_from; PREV "-": a fresh model, which ARGS describe), trained with COMMON plus
# ARGS, and snapshotted
train_stage() {
  local name=$1 prev=$2 steps=$3 end=$4 init
  shift 4
  continue_from "$name" || return 2
  if [ ${#FROM[@]} -gt 0 ] && [ "${FROM[3]}" -ge "$end" ]; then  # FROM: --init SNAPSHOT --start-step STEP
    echo "stage $name: finished (snapshot $SNAP/$name.pth), skipped" >&2; return 0
  fi
  if [ ${#FROM[@]} = 0 ] && [ "$prev" != - ]; then init=$(init_from "$prev") || return 2; FROM=(--init "$init"); fi
  "$PY" -m training kubric "${COMMON[@]}" --steps "$steps" --out "$RUN/$name" "${FROM[@]}" "$@" || return 2
  snapshot "$name" "$steps" "$end"
}
