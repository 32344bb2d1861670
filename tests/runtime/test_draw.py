"""rt_edge.draw: stable track colours and the TrailDrawer overlay."""

from __future__ import annotations

import numpy as np
import pytest

from rt_edge.draw import TrailDrawer, track_colors

H, W = 40, 60


def blank(value: int = 0) -> np.ndarray:
    return np.full((H, W, 3), value, np.uint8)


def test_track_colors_stable_and_distinct():
    a = track_colors(np.array([0, 1, 2, 3, 42]))
    b = track_colors(np.array([42, 3, 100]))  # other call, other order, other K
    assert a.shape == (5, 3) and a.dtype == np.uint8
    assert np.array_equal(a[4], b[0]) and np.array_equal(a[3], b[1])
    c = track_colors(np.arange(20))
    assert len({tuple(row) for row in c.tolist()}) == 20  # 20 ids, 20 different colours
    assert (c.max(axis=1).astype(int) - c.min(axis=1) > 100).all()  # saturated, not grey
    with pytest.raises(ValueError, match="integer"):
        track_colors(np.array([0.5, 1.5]))


def test_visible_and_occluded_points_drawn_in_track_colour():
    frame = blank()
    before = frame.copy()
    ids = np.array([3, 7])
    xy = np.array([[10.2, 12.7], [40.0, 20.0]])
    out = TrailDrawer(radius=3).draw(frame, ids, xy, np.array([True, False]))
    colors = track_colors(ids)

    assert np.array_equal(frame, before)  # input not modified
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert out[13, 10].tolist() == colors[0].tolist()  # filled circle: the centre has the colour
    assert out[20, 40].tolist() == [0, 0, 0]  # hollow circle: centre untouched ...
    assert out[20, 43].tolist() == colors[1].tolist()  # ... ring at the radius in the colour

    changed = np.argwhere((out != frame).any(axis=-1))  # (N, 2) rows (y, x)
    d = np.min(np.hypot(changed[:, None, 0] - xy[None, :, 1], changed[:, None, 1] - xy[None, :, 0]), axis=1)
    assert changed.shape[0] > 10 and d.max() <= 3 + 1  # only around the points


def test_nan_points_leave_frame_unchanged():
    frame = blank(77)
    d = TrailDrawer()
    for _ in range(3):  # also no trail appears from NaN history
        out = d.draw(frame, np.array([1, 2]), np.full((2, 2), np.nan), np.array([True, True]))
    assert out is not frame and np.array_equal(out, frame)
    assert len(d._trails) == 0


def test_trail_fades_with_age():
    d = TrailDrawer(trail_len=12, radius=2)
    ids = np.array([5])
    for x in (5.0, 15.0, 25.0, 35.0):
        out = d.draw(blank(), ids, np.array([[x, 20.0]]), np.array([True]))
    color = track_colors(ids)[0].astype(int)
    c = int(np.argmax(color))  # the brightest channel
    old, mid, new = (int(out[20, x, c]) for x in (10, 20, 29))  # on segments of age 2, 1, 0
    assert 0 < old < mid < new < color[c]  # blended, the oldest faintest
    assert out[20, 35].tolist() == color.tolist()  # the current point is opaque


def test_trail_breaks_at_a_gap():
    d = TrailDrawer(trail_len=12, radius=1)
    ids = np.array([0])
    d.draw(blank(), ids, np.array([[5.0, 20.0]]), np.array([True]))
    d.draw(blank(), ids, np.array([[np.nan, np.nan]]), np.array([True]))
    out = d.draw(blank(), ids, np.array([[45.0, 20.0]]), np.array([True]))
    assert not out[20, 10:40].any()  # no segment joins the positions around the gap


def test_trail_memory_is_bounded():
    d = TrailDrawer(trail_len=4)
    rng = np.random.default_rng(0)
    for t in range(200):
        ids = t * 5 + np.arange(5)  # new ids every frame, each seen once
        d.draw(blank(), ids, rng.uniform(0, [W, H], (5, 2)), np.ones(5, bool))
        assert len(d._trails) <= 4 * 5
    assert min(d._trails) >= 196 * 5  # only the ids of the last 4 frames remain
    # a long-lived id keeps at most trail_len positions
    for _ in range(50):
        d.draw(blank(), np.array([-1]), np.array([[10.0, 10.0]]), np.array([True]))
    assert list(d._trails) == [-1] and len(d._trails[-1]) == 4


def test_points_outside_the_frame_do_not_crash():
    frame = blank()
    ids = np.arange(6)
    xy = np.array([[-100.0, 5.0], [1e12, 1e12], [-1e12, 3.0], [np.inf, 0.0], [80.0, -30.0], [-1.0, 10.0]])
    d = TrailDrawer()
    for _ in range(3):  # trails between far-away points too
        out = d.draw(frame, ids, xy, np.ones(6, bool))
    changed = np.argwhere((out != frame).any(axis=-1))
    assert changed.shape[0] > 0 and changed[:, 1].max() <= 2  # only the circle at (-1, 10), clipped


def test_draw_rejects_mismatched_shapes():
    d = TrailDrawer()
    with pytest.raises(ValueError, match=r"xy must have shape \(2, 2\)"):
        d.draw(blank(), np.array([0, 1]), np.zeros((3, 2)), np.ones(2, bool))
    with pytest.raises(ValueError, match="uint8"):
        d.draw(blank().astype(np.float32), np.array([0]), np.zeros((1, 2)), np.ones(1, bool))
    with pytest.raises(ValueError, match="unique"):
        d.draw(blank(), np.array([4, 4]), np.zeros((2, 2)), np.ones(2, bool))
    with pytest.raises(ValueError, match="trail_len"):
        TrailDrawer(trail_len=0)
