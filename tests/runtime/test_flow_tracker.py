"""rt_edge.evaluation.flow_tracker against motion known in closed form (warpAffine translations)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rt_edge.evaluation.flow_tracker import flow_predictor, track_flow
from training.teachers import load_teacher, parse_spec

STEP = np.array([1.3, -0.7])  # px per frame


def _translated_clip(T: int = 8, hw=(96, 128)) -> np.ndarray:
    """Frame t is a smooth random texture moved by t * STEP (bilinear warp): content at x in frame 0
    is at x + t * STEP in frame t."""
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur(rng.uniform(0, 255, (hw[0] + 40, hw[1] + 40, 3)).astype(np.float32), (0, 0), 2.5)
    tex = ((tex - tex.min()) / np.ptp(tex) * 255).astype(np.float32)
    frames = []
    for t in range(T):
        m = np.float32([[1, 0, t * STEP[0] - 20], [0, 1, t * STEP[1] - 20]])
        frames.append(cv2.warpAffine(tex, m, (hw[1], hw[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return np.clip(np.stack(frames), 0, 255).round().astype(np.uint8)


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_chained_flow_follows_a_known_translation_both_ways(method):
    video = _translated_clip()
    rng = np.random.default_rng(1)
    n = 30
    queries = np.column_stack([rng.integers(0, 8, n), rng.uniform(30, 98, n), rng.uniform(30, 66, n)])
    tracks, occluded = track_flow(video, queries, method=method)
    truth = queries[:, None, 1:] + (np.arange(8)[None, :, None] - queries[:, None, :1]) * STEP
    err = np.linalg.norm(tracks - truth, axis=-1)
    print(f"\n{method}: median {np.median(err):.3f} px, max {err.max():.3f} px, occluded {occluded.mean():.3f}")
    assert np.median(err) < 0.2 and err.max() < 1.0
    assert occluded.mean() < 0.05
    # the query frame holds the query exactly, and the shifted truth is not what it reports
    assert np.allclose(tracks[np.arange(n), queries[:, 0].astype(int)], queries[:, 1:])
    assert np.linalg.norm(tracks - (truth + 2.0), axis=-1).min() > 1.5


def test_inconsistent_content_is_flagged_and_leaving_the_image_is_occluded():
    video = _translated_clip()
    video[5:] = np.random.default_rng(2).integers(0, 256, video[5:].shape, dtype=np.uint8)  # a cut to noise
    q = np.array([[0.0, 64.0, 48.0], [0.0, 126.5, 48.0]])  # the second drifts +x out of the 128 px frame
    tracks, occluded = track_flow(video, q, method="dis")
    assert not occluded[0, 1:5].any() and occluded[0, 5:].mean() > 0.5
    assert occluded[1, 1:].all() and (tracks[1, 1:5, 0] == 127).all()  # clipped at the border (before the cut)


def test_flow_teacher_spec_and_bad_values():
    assert parse_spec("flow:method=farneback,fb=2") == ("flow", None, {"method": "farneback", "fb": 2.0})
    video = _translated_clip(T=4)
    tracks, occ = load_teacher("flow")(video, np.array([[1.0, 60.0, 40.0]]))
    assert tracks.shape == (1, 4, 2) and occ.shape == (1, 4)
    with pytest.raises(ValueError, match="method"):
        flow_predictor("raft")
    with pytest.raises(ValueError, match="unknown option"):
        parse_spec("flow:win=3")
