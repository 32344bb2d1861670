"""`python -m benchmarks stream-sweep`: every (R, K) is tracked and scored at every threshold."""

from __future__ import annotations

import json

import torch

from benchmarks.__main__ import main
from rt_edge.video import sample_clip_path

from ..conftest import SMALL, lively_small_model


def test_sweep_scores_each_setting_and_threshold(tmp_path, one_torch_thread):
    ckpt = tmp_path / "small.pth"
    torch.save({"model": lively_small_model(vis_conf_bias=0.2).state_dict(), "config": SMALL.to_dict()}, ckpt)
    out = tmp_path / "sweep.json"
    rc = main(["stream-sweep", "--videos", str(sample_clip_path()), "--checkpoint", str(ckpt), "--sequences", "1",
               "--refine", "1", "3", "--stream-iters", "1", "--thresholds", "0.2", "0.7", "--image-size", "64", "64",
               "--out", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    assert [(x["refine"], x["stream_iters"]) for x in r["results"]] == [(1, 1), (3, 1)]
    for x in r["results"]:
        assert set(x["thresholds"]) == {"0.2", "0.7"}
        for m in x["thresholds"].values():
            assert 0.0 <= m["average_jaccard"] <= 1.0 and 0.0 <= m["occlusion_accuracy"] <= 1.0
        # positions do not depend on the threshold; occlusion calls do
        a, b = x["thresholds"]["0.2"], x["thresholds"]["0.7"]
        assert a["average_pts_within_thresh"] == b["average_pts_within_thresh"]
    one, three = (x["thresholds"]["0.2"]["average_pts_within_thresh"] for x in r["results"])
    assert one != three, "refining three frames must change the tracks"


def test_sweep_refuses_a_zone_as_long_as_the_window(tmp_path, capsys):
    rc = main(["stream-sweep", "--videos", str(sample_clip_path()), "--sequences", "1", "--refine", "2", "16",
               "--image-size", "64", "64", "--out", str(tmp_path / "x.json")])
    assert rc != 0 and "below the window length 16" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
