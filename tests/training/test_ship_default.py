"""`rt-edge train ship` (training/ship_default.py) refuses snapshots that miss issue 8's bar, judged from committed results."""

from __future__ import annotations

import pytest

from training import ship_default
from training.__main__ import main


def test_refuses_a_realtex_miss():
    # stage 5 finished: delta_avg 0.9180 on seed 0 against LK 0.8198 + 0.1; replay 3.0e-3 px passes
    with pytest.raises(ValueError, match=r"seed 0 average_pts_within_thresh 0\.9180") as e:
        ship_default.build_card("training/recipes/snapshots/stage5b.pth", "stage5b")
    assert "seed 1" not in str(e.value) and "replay" not in str(e.value)


def test_refuses_a_replay_miss():
    # stage 5 at step 400 cleared realtex on both seeds but replayed 8.0e-3 px from torch
    with pytest.raises(ValueError, match=r"replay 8\.02e-03 px") as e:
        ship_default.build_card("training/recipes/snapshots/stage5b.pth", "stage5b_step400")
    assert "realtex" not in str(e.value)


def test_refuses_results_of_another_snapshot():
    with pytest.raises(ValueError, match=r"realtex_rerun_stage6_img384_seed0.json scored .*stage6.pth, not x.pth"):
        ship_default.build_card("x.pth", "stage6")


def test_names_missing_results():
    with pytest.raises(FileNotFoundError, match="no results file.*score_snapshot"):
        ship_default.build_card("x.pth", "no_such_tag")


def test_the_cli_reports_a_refusal_in_one_line(capsys):
    assert main(["ship", "x.pth", "no_such_tag"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("training: error: no results file")
