"""benchmarks.error_breakdown: samples sorted by kind, checked by hand and against the TAP-Vid metrics."""

import math

import numpy as np
import pytest

from benchmarks.error_breakdown import KINDS, NEAR_OCCLUDER_PX, format_breakdown, sample_table, summarize
from benchmarks.realtex import generate, score
from rt_edge.evaluation.lk import track_lk
from rt_edge.video import sample_clip_path

T, H, W = 5, 64, 64  # raster 256: one video px is 4 raster px


def _clip():
    """Three points by hand: 0 always visible, 1 hidden on frame 2, 2 queried on frame 2 next to the left edge."""
    gt = np.zeros((3, T, 2))
    gt[0] = [30.0, 30.0]
    gt[1] = [10.0, 50.0]
    gt[2] = [1.0, 20.0]
    occ = np.zeros((3, T), bool)
    occ[1, 2] = True
    occ[2, :2] = True
    q = np.array([0, 0, 2])
    masks = np.zeros((T, H, W), bool)
    masks[1, 28:33, 33:36] = True  # 3 px right of point 0 on frame 1 (12 raster px)
    pred = gt.copy()
    pred[0, :, 0] += 0.1  # 0.4 raster px
    pred[1, 3:, 1] += 5.0  # 20 raster px after it re-appears
    pred[2, 3:, 0] += 0.3  # 1.2 raster px
    called = np.zeros((3, T), bool)
    called[1, 4] = True
    return gt, occ, q, masks, pred, called


def test_samples_sorted_by_hand():
    gt, occ, q, masks, pred, called = _clip()
    tab = sample_table(gt, occ, q, masks, pred, called, near_px=16.0)
    # scored: point 0 frames 1-4, point 1 frames 1, 3, 4, point 2 frames 3, 4
    assert len(tab["error"]) == 9
    np.testing.assert_allclose(np.sort(tab["error"]), [0.0] + [0.4] * 4 + [1.2, 1.2, 20.0, 20.0], atol=1e-9)
    assert tab["re-appeared"].sum() == 2 and (tab["error"][tab["re-appeared"]] == pytest.approx(20.0))
    assert tab["never occluded"].sum() == 7
    assert tab["late query"].sum() == 2 and tab["near border"].sum() == 2  # point 2: x = 1 px = 4 raster px
    assert tab["near occluder"].sum() == 1  # point 0 on frame 1 only, 12 raster px < 16
    assert tab["called_occluded"].sum() == 1

    s = summarize([tab])
    assert s["all"]["share"] == 1.0
    assert s["re-appeared"]["share"] == pytest.approx(2 / 9)
    assert s["re-appeared"]["beyond_16"] == 1.0 and s["re-appeared"]["called_occluded"] == 0.5
    assert s["late query"]["within_1"] == 0.0 and s["late query"]["within_2"] == 1.0
    assert s["all"]["within_1"] == pytest.approx(5 / 9) and s["all"]["median_error"] == pytest.approx(0.4)
    assert s["near occluder"]["median_error"] == pytest.approx(0.4)


def test_near_occluder_matches_brute_force_distance():
    rng = np.random.default_rng(3)
    gt = rng.uniform(0, W - 1, (40, T, 2))
    masks = np.zeros((T, H, W), bool)
    for f in range(T):
        x0, y0 = rng.integers(5, 50, 2)
        masks[f, y0 : y0 + 9, x0 : x0 + 6] = True
    masks[0] = False  # a frame with no occluder: nothing is near
    tab = sample_table(gt, np.zeros((40, T), bool), np.zeros(40, int), masks, gt, np.zeros((40, T), bool))
    want = []
    for n in range(40):
        for f in range(1, T):
            ys, xs = np.nonzero(masks[f])
            p = np.round(gt[n, f])
            want.append(np.sqrt(((xs - p[0]) ** 2 + (ys - p[1]) ** 2).min()) * 4 < NEAR_OCCLUDER_PX)
    np.testing.assert_array_equal(tab["near occluder"], want)
    assert 0 < np.sum(want) < len(want)


def test_all_kind_agrees_with_tapvid_metrics_on_a_realtex_clip():
    seq = generate(sample_clip_path(), seed=4, count=1, size=(64, 64), frames=10, points=24)[0]
    tracks, occluded = track_lk(seq.video, seq.queries)
    metrics = score(seq, tracks, occluded)
    s = summarize([sample_table(seq.tracks, seq.occluded, seq.query_frames, seq.occluder_masks, tracks, occluded)])
    for k in (1, 2, 4):
        assert s["all"][f"within_{k}"] == pytest.approx(metrics[f"pts_within_{k}"])
    assert s["all"]["within_1"] < 1.0  # LK at 64x64 is not perfect: the check compares real numbers

    exact = summarize([sample_table(seq.tracks, seq.occluded, seq.query_frames, seq.occluder_masks, seq.tracks,
                                    seq.occluded)])
    assert exact["all"]["within_1"] == 1.0 and exact["all"]["median_error"] == 0.0


def test_empty_kind_and_bad_shapes():
    gt, occ, q, masks, pred, called = _clip()
    s = summarize([sample_table(gt, occ, np.zeros(3, int), np.zeros_like(masks), pred, called)])
    assert s["near occluder"]["share"] == 0.0 and math.isnan(s["near occluder"]["within_1"])
    text = format_breakdown({"a": s})
    assert all(kind in text for kind in KINDS)
    with pytest.raises(ValueError, match="pred"):
        sample_table(gt, occ, q, masks, pred[:, :2], called)
    with pytest.raises(ValueError, match="occluder_masks"):
        sample_table(gt, occ, q, masks[:2], pred, called)
    with pytest.raises(ValueError, match="at least one"):
        summarize([])
