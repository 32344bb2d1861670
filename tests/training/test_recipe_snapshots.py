"""training/recipes/snapshots.sh: a stage starts from the run directory when the machine still has it,
else from the committed snapshot; a snapshot is the run's weights in fp16 with its step and a card."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from rt_edge.model import load_checkpoint
from training import checkpoints

from ..conftest import REPO, SMALL, lively_small_model


def _sh(script: str, run, snap) -> subprocess.CompletedProcess:
    env = {**os.environ, "PY": sys.executable, "RUN": str(run), "SNAP": str(snap)}
    return subprocess.run(["bash", "-c", f". training/recipes/snapshots.sh; {script}"], cwd=REPO, env=env,
                          capture_output=True, text=True)


def _snapshot_at(run, snap, name: str, step: int, steps: int, end: int | None = None) -> None:
    """SNAP/name.pth taken at `step` of a `steps`-step stage ending at `end`, through the recipe's own helper."""
    model = lively_small_model()
    checkpoints.save(run / name / "last.pth", model, torch.optim.AdamW(model.parameters()), step=step)
    done = _sh(f"snapshot {name} {steps} {end or ''}", run, snap)
    assert done.returncode == 0, done.stderr
    (run / name / "last.pth").unlink()


def test_init_from_prefers_the_run_directory_then_a_finished_snapshot(tmp_path):
    run, snap = tmp_path / "run", tmp_path / "snap"
    missing = _sh("init_from stage2a", run, snap)
    assert missing.returncode == 2 and "run the stage before first" in missing.stderr
    _snapshot_at(run, snap, "stage2a", 120, 300)
    short = _sh("init_from stage2a", run, snap)
    assert short.returncode == 2 and "at step 120/300 of its stage" in short.stderr and not short.stdout
    _snapshot_at(run, snap, "stage2a", 300, 300)
    assert _sh("init_from stage2a", run, snap).stdout.strip() == str(snap / "stage2a.pth")
    (run / "stage2a").mkdir(parents=True, exist_ok=True)
    (run / "stage2a" / "last.pth").write_bytes(b"x")
    assert _sh("init_from stage2a", run, snap).stdout.strip() == str(run / "stage2a" / "last.pth")


def test_stage_done_compares_the_step_with_the_stage_end_not_its_schedule(tmp_path):
    """Stage 5a runs 900 steps of a 2000-step cosine: finished at 900, while 2000 is its schedule's length."""
    run, snap = tmp_path / "run", tmp_path / "snap"
    done = 'if stage_done stage5a; then echo yes; else echo no; fi'
    assert _sh(done, run, snap).stdout.strip() == "no"
    _snapshot_at(run, snap, "stage5a", 899, 2000, 900)
    assert _sh(done, run, snap).stdout.strip() == "no"
    _snapshot_at(run, snap, "stage5a", 900, 2000, 900)
    assert _sh(done, run, snap).stdout.strip() == "yes"
    assert _sh("snapshot_state stage5a", run, snap).stdout.strip() == "900 900"
    _snapshot_at(run, snap, "stage5a", 900, 2000)
    assert _sh(done, run, snap).stdout.strip() == "no"


def test_snapshot_writes_fp16_weights_with_step_and_card(tmp_path):
    run, snap = tmp_path / "run", tmp_path / "snap"
    model = lively_small_model()
    checkpoints.save(run / "stage1" / "last.pth", model, torch.optim.AdamW(model.parameters()), step=37)
    done = _sh("snapshot stage1 2000", run, snap)
    assert done.returncode == 0, done.stderr
    raw = torch.load(snap / "stage1.pth", weights_only=True)
    assert raw["step"] == 37 and "optimizer" not in raw
    assert raw["card"]["stage"] == "stage1" and raw["card"]["stage_steps"] == raw["card"]["stage_end"] == 2000
    assert all(v.dtype == torch.float16 for v in raw["model"].values() if v.is_floating_point())
    again = load_checkpoint(snap / "stage1.pth")
    assert again.cfg == SMALL
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v.half().float() if v.is_floating_point() else v)


def test_continue_from_gives_the_snapshot_and_its_step_only_when_the_run_is_gone(tmp_path):
    """Stage 1 starts a fresh model, so on a machine without its run directory it must be told to continue
    the committed snapshot at the step it was taken (--init ... --start-step ...); else nothing is added."""
    run, snap = tmp_path / "run", tmp_path / "snap"
    show = 'continue_from stage1; echo "${#FROM[@]}:${FROM[*]}"'
    assert _sh(show, run, snap).stdout.strip() == "0:"  # neither: a fresh start
    model = lively_small_model()
    checkpoints.save(run / "stage1" / "last.pth", model, torch.optim.AdamW(model.parameters()), step=37)
    assert _sh("snapshot stage1 2000", run, snap).returncode == 0
    assert _sh(show, run, snap).stdout.strip() == "0:"  # the run directory is here: --resume continues it
    (run / "stage1" / "last.pth").unlink()
    assert _sh(show, run, snap).stdout.strip() == f"4:--init {snap / 'stage1.pth'} --start-step 37"
    (snap / "stage1.pth").write_bytes(b"not a checkpoint")
    bad = _sh(f"set -e; {show}", run, snap)
    assert bad.returncode == 2 and "cannot read the training step and stage end of" in bad.stderr and not bad.stdout


def _recording_python(tmp_path, calls):
    """A python for the recipe that records each `-m ...` call in `calls` instead of running it (making the
    dataset marker `synthetic` would), and runs `-c` snippets (the snapshot helpers) for real."""
    fake = tmp_path / "py"
    fake.write_text(f"""#!/usr/bin/env bash
if [ "$1" = -c ]; then exec {sys.executable} "$@"; fi
echo "$*" >> {calls}
if [ "$3" = synthetic ]; then mkdir -p "$5" && touch "$5/synthetic.json"; fi
""")
    fake.chmod(0o755)
    return fake


def test_stage1_of_the_recipe_passes_the_snapshot_on(tmp_path):
    """The recipe itself, with a python that records each `-m training` call instead of training: stage 1 on
    a machine with only the snapshot trains from it at its step; with the run directory, it resumes that."""
    run, snap, calls = tmp_path / "run", tmp_path / "snap", tmp_path / "calls.txt"
    fake = _recording_python(tmp_path, calls)
    model = lively_small_model()
    checkpoints.save(run / "stage1" / "last.pth", model, torch.optim.AdamW(model.parameters()), step=37)
    env = {**os.environ, "PY": str(fake), "RUN": str(run), "SNAP": str(snap), "STEPS": "100"}
    recipe = [str(REPO / "training/recipes/default_model.sh"), "50"]
    assert _sh("snapshot stage1 100", run, snap).returncode == 0
    for present in (True, False):
        if not present:
            (run / "stage1" / "last.pth").unlink()
        calls.unlink(missing_ok=True)
        done = subprocess.run(recipe, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        kubric = [c for c in calls.read_text().splitlines() if c.startswith("-m training kubric")]
        assert len(kubric) == 1 and "--resume" in kubric[0] and "--stop-at 50" in kubric[0]
        cont = f"--init {snap / 'stage1.pth'} --start-step 37"
        assert (cont in kubric[0]) is not present, kubric[0]


def test_stage2_of_the_recipe_skips_carries_on_or_starts_each_part(tmp_path):
    """Stage 2's two parts on a machine without run directories: stage2a, finished, is skipped; stage2b, cut
    short at step 700, carries on from its own snapshot; with no stage2b snapshot it starts from stage2a's."""
    run, snap, calls = tmp_path / "run", tmp_path / "snap", tmp_path / "calls.txt"
    fake = _recording_python(tmp_path, calls)
    _snapshot_at(run, snap, "stage2a", 300, 300)
    _snapshot_at(run, snap, "stage2b", 700, 2400)
    env = {**os.environ, "PY": str(fake), "RUN": str(run), "SNAP": str(snap), "STAGE": "2"}
    recipe = [str(REPO / "training/recipes/default_model.sh"), "1000"]

    def kubric_calls() -> list[str]:
        calls.unlink(missing_ok=True)
        done = subprocess.run(recipe, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return [c for c in calls.read_text().splitlines() if c.startswith("-m training kubric")]

    (only,) = kubric_calls()
    assert f"--out {run / 'stage2b'}" in only and f"--init {snap / 'stage2b.pth'} --start-step 700" in only
    assert "--steps 2400" in only and "--stop-at 1000" in only
    (snap / "stage2b.pth").unlink()
    (only,) = kubric_calls()
    assert f"--init {snap / 'stage2a.pth'}" in only and "--start-step" not in only


def test_score_snapshot_runs_each_scoring_command_on_the_snapshot(tmp_path):
    """training/recipes/score_snapshot.sh, with a python that records its calls: realtex at 384x384 for seeds 0
    and 1, each paired against the previous and the first run's result; export, online and cycle on the same
    snapshot; a missing argument is a usage error, a missing snapshot an error naming it."""
    calls = tmp_path / "calls.txt"
    fake = _recording_python(tmp_path, calls)
    script = str(REPO / "training/recipes/score_snapshot.sh")
    env = {**os.environ, "PY": str(fake)}
    usage = subprocess.run([script, "a.pth", "t"], env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "SNAPSHOT TAG PREV_TAG FIRST_TAG" in usage.stderr
    gone = subprocess.run([script, str(tmp_path / "none.pth"), "t", "p", "f"], env=env, capture_output=True, text=True)
    assert gone.returncode == 2 and "none.pth" in gone.stderr and not calls.exists()
    snap = tmp_path / "s.pth"
    snap.write_bytes(b"x")
    done = subprocess.run([script, str(snap), "new", "old", "first"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    tools = [line.split()[2] for line in lines]
    assert tools == ["realtex", "paired", "paired"] * 2 + ["onnx", "online", "cycle"], tools
    for seed in (0, 1):
        (realtex,) = [c for c in lines if f"realtex_rerun_new_img384_seed{seed}.json" in c and " realtex " in c]
        assert f"--checkpoint {snap}" in realtex and "--image-size 384 384" in realtex and f"--seed {seed}" in realtex
        assert any(f"realtex_rerun_old_img384_seed{seed}.json" in c and "paired_rerun_new_vs_old" in c for c in lines)
        assert any(f"realtex_default_recipe_first_img384_seed{seed}.json" in c
                   and "paired_rerun_new_vs_first_run_first" in c for c in lines)
    assert all(f"--checkpoint {snap}" in c for c in lines[6:])
