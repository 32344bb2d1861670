"""benchmarks.pseudo_quality: teachers and their combinations scored as trackers, teachers run once per clip."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.pseudo_quality import label_predictors
from training.teachers import register_teacher, unregister_teacher


@pytest.fixture
def fake_teachers():
    calls = {"a": 0, "b": 0}

    def make(name, offset):
        def teacher(video, queries):
            calls[name] += 1
            T, N = len(video), len(queries)
            tracks = np.broadcast_to(queries[:, None, 1:], (N, T, 2)) + offset
            occluded = np.zeros((N, T), bool)
            occluded[:, -1] = name == "a"  # the two teachers disagree on the last frame only
            return tracks.astype(np.float32), occluded
        return teacher

    register_teacher("fake_a", make("a", 1.0))
    register_teacher("fake_b", make("b", 3.0))
    yield calls
    unregister_teacher("fake_a")
    unregister_teacher("fake_b")


def test_teachers_alone_and_combined(fake_teachers):
    video = np.zeros((4, 16, 16, 3), np.uint8)
    queries = np.array([[0, 5.0, 6.0], [1, 2.0, 3.0]])
    preds = label_predictors(["fake_a", "fake_b"], ["mean", "median", "random"], seed=0)
    assert sorted(preds) == ["select:mean", "select:median", "select:random", "teacher:fake_a", "teacher:fake_b"]
    a_tracks, a_occ = preds["teacher:fake_a"](video, queries)
    np.testing.assert_array_equal(a_tracks[:, 0], queries[:, 1:] + 1.0)
    mean_tracks, mean_occ = preds["select:mean"](video, queries)
    np.testing.assert_allclose(mean_tracks, np.broadcast_to(queries[:, None, 1:] + 2.0, (2, 4, 2)))
    assert mean_occ[:, -1].all() and not mean_occ[:, :-1].any()  # visible needs a strict majority: a tie is occluded
    rnd, _ = preds["select:random"](video, queries)
    assert any(np.array_equal(rnd, np.broadcast_to(queries[:, None, 1:] + o, (2, 4, 2))) for o in (1.0, 3.0))
    preds["select:median"](video, queries)
    assert fake_teachers == {"a": 1, "b": 1}  # every predictor above shared one run of each teacher


def test_verifier_selection_needs_a_checkpoint(fake_teachers):
    with pytest.raises(ValueError, match="--verifier"):
        label_predictors(["fake_a", "fake_b"], ["verifier"])
    with pytest.raises(ValueError, match="--selections must be among"):
        label_predictors(["fake_a"], ["best"])
