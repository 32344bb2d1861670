"""rt_edge.evaluation.tapvid.compute_metrics against the benchmark's own reference outputs."""

from __future__ import annotations

import numpy as np
import pytest

from rt_edge.evaluation.tapvid import compute_metrics

from ..conftest import CONFORMANCE, require


@pytest.fixture(scope="module")
def case():
    return dict(np.load(require(CONFORMANCE / "tapvid_metrics_case.npz")))


@pytest.mark.parametrize("mode", ["first", "strided"])
def test_metrics_equal_the_reference(case, mode):
    got = compute_metrics(*(case[f"{mode}_{k}"] for k in ("query_points_tyx", "gt_occluded", "gt_tracks",
                                                          "pred_occluded", "pred_tracks")), query_mode=mode)
    expected = {k[len(f"{mode}_expected_"):]: v for k, v in case.items() if k.startswith(f"{mode}_expected_")}
    assert sorted(got) == sorted(expected)
    for key, want in expected.items():
        np.testing.assert_allclose(got[key], want, rtol=0, atol=1e-6, err_msg=key)


def test_query_mode_changes_which_frames_count(case):
    """The same predictions score differently under the two modes (first drops frames before the query)."""
    args = [case[f"first_{k}"] for k in ("query_points_tyx", "gt_occluded", "gt_tracks", "pred_occluded",
                                         "pred_tracks")]
    first, strided = compute_metrics(*args, query_mode="first"), compute_metrics(*args, query_mode="strided")
    assert not np.allclose(first["average_jaccard"], strided["average_jaccard"])


def test_perfect_prediction_scores_one():
    rng = np.random.default_rng(0)
    tracks = rng.uniform(0, 256, (2, 5, 8, 2))
    occ = rng.random((2, 5, 8)) < 0.3
    q = np.stack([np.zeros((2, 5)), tracks[:, :, 0, 1], tracks[:, :, 0, 0]], -1)
    occ[:, :, 0] = False
    m = compute_metrics(q, occ, tracks, occ, tracks + 0.5, "first")  # 0.5 px off: inside every threshold
    for k in ("occlusion_accuracy", "average_jaccard", "average_pts_within_thresh", "jaccard_1"):
        np.testing.assert_array_equal(m[k], 1.0)
    m = compute_metrics(q, occ, tracks, occ, tracks + 1.5, "first")  # 2.1 px off: fails 1 and 2 px
    np.testing.assert_array_equal(m["pts_within_2"], 0.0)
    np.testing.assert_array_equal(m["pts_within_4"], 1.0)


def test_bad_shapes_and_modes_are_refused():
    t = np.zeros((1, 2, 3, 2))
    o = np.zeros((1, 2, 3), bool)
    q = np.zeros((1, 2, 3))
    with pytest.raises(ValueError, match="query_mode"):
        compute_metrics(q, o, t, o, t, "last")
    with pytest.raises(ValueError, match=r"pred_occluded must be \(B, N, T\)"):
        compute_metrics(q, o, t, o[..., :2], t, "first")
    with pytest.raises(ValueError, match="tracks must both be"):
        compute_metrics(q, o, t, o, t[..., :1], "first")
