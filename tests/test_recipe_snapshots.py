"""training/recipes/snapshots.sh: a stage starts from the run directory when the machine still has it,
else from the committed snapshot; a snapshot is the run's weights in fp16 with its step and a card."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from rt_edge.model import load_checkpoint
from training import checkpoints

from .conftest import REPO, SMALL, lively_small_model


def _sh(script: str, run, snap) -> subprocess.CompletedProcess:
    env = {**os.environ, "PY": sys.executable, "RUN": str(run), "SNAP": str(snap)}
    return subprocess.run(["bash", "-c", f". training/recipes/snapshots.sh; {script}"], cwd=REPO, env=env,
                          capture_output=True, text=True)


def test_init_from_prefers_the_run_directory_then_the_snapshot(tmp_path):
    run, snap = tmp_path / "run", tmp_path / "snap"
    missing = _sh("init_from train stage1", run, snap)
    assert missing.returncode == 2 and "run the stage before first" in missing.stderr
    snap.mkdir()
    (snap / "stage1.pth").write_bytes(b"x")
    assert _sh("init_from train stage1", run, snap).stdout.strip() == str(snap / "stage1.pth")
    (run / "train").mkdir(parents=True)
    (run / "train" / "last.pth").write_bytes(b"x")
    assert _sh("init_from train stage1", run, snap).stdout.strip() == str(run / "train" / "last.pth")


def test_snapshot_writes_fp16_weights_with_step_and_card(tmp_path):
    run, snap = tmp_path / "run", tmp_path / "snap"
    model = lively_small_model()
    checkpoints.save(run / "train" / "last.pth", model, torch.optim.AdamW(model.parameters()), step=37)
    done = _sh("snapshot train stage1 2000", run, snap)
    assert done.returncode == 0, done.stderr
    raw = torch.load(snap / "stage1.pth", weights_only=True)
    assert raw["step"] == 37 and "optimizer" not in raw
    assert raw["card"]["stage"] == "stage1" and raw["card"]["stage_steps"] == 2000
    assert all(v.dtype == torch.float16 for v in raw["model"].values() if v.is_floating_point())
    again = load_checkpoint(snap / "stage1.pth")
    assert again.cfg == SMALL
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v.half().float() if v.is_floating_point() else v)
