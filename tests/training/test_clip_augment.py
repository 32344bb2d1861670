"""training.clip_augment: pixels and labels move together under every transform combination."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from training.clip_augment import TRANSFORMS, apply, augment, random_transforms

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)


def _dot_clip(hw: tuple[int, int], T: int = 6, seed: int = 0) -> dict:
    """Black frames with one coloured pixel per point at its (integer) track position; queries on the track."""
    rng = np.random.default_rng(seed)
    H, W = hw
    N = len(COLOURS)
    tracks = np.stack([rng.permutation(W)[:N], rng.permutation(H)[:N]], -1)[:, None].repeat(T, 1).astype(np.float32)
    tracks += np.stack([np.arange(T) % 2, np.arange(T) % 3 == 0], -1)[None].astype(np.float32)  # moves a little
    tracks = np.minimum(tracks, [W - 1, H - 1]).astype(np.float32)
    frames = np.zeros((T, H, W, 3), np.uint8)
    for n in range(N):
        for t in range(T):
            frames[t, int(tracks[n, t, 1]), int(tracks[n, t, 0])] = COLOURS[n]
    qt = np.array([0, 2, T - 1])
    queries = np.concatenate([qt[:, None], tracks[np.arange(N), qt]], 1).astype(np.float32)
    occluded = np.zeros((N, T), bool)
    occluded[1, 3] = True
    return {"frames": frames, "queries": queries, "tracks": tracks, "occluded": occluded, "video": "dots"}


def _combos(square: bool):
    names = [n for n in TRANSFORMS if square or n != "transpose"]
    for k in range(len(names) + 1):
        yield from itertools.combinations(names, k)


@pytest.mark.parametrize("hw", [(12, 12), (10, 14)])
def test_each_point_stays_on_its_pixel_under_every_combination(hw):
    clip = _dot_clip(hw)
    for names in _combos(hw[0] == hw[1]):
        out = apply(clip, names)
        T = out["frames"].shape[0]
        for n, colour in enumerate(COLOURS):
            for t in range(T):
                x, y = out["tracks"][n, t]
                assert x == int(x) and y == int(y), names
                assert (out["frames"][t, int(y), int(x)] == colour).all(), (names, n, t)
            qt, qx, qy = out["queries"][n]
            assert (qx, qy) == tuple(out["tracks"][n, int(qt)]), names  # the query still sits on its track
        # the one occluded sample moves with its frame
        expected_t = T - 1 - 3 if "reverse" in names else 3
        assert np.argwhere(out["occluded"]).tolist() == [[1, expected_t]], names
        assert out["video"] == "dots"


def test_every_transform_undoes_itself_and_the_input_is_untouched():
    clip = _dot_clip((12, 12))
    saved = {k: np.copy(v) for k, v in clip.items()}
    for name in TRANSFORMS:
        once, twice = apply(clip, [name]), apply(apply(clip, [name]), [name])
        assert not np.array_equal(once["frames"], clip["frames"]), name
        for key in ("frames", "queries", "tracks", "occluded"):
            np.testing.assert_array_equal(twice[key], clip[key], err_msg=name)
    for key, value in saved.items():
        np.testing.assert_array_equal(clip[key], value)


def test_random_transforms_are_fair_coins_and_never_transpose_a_non_square_clip():
    rng = np.random.default_rng(0)
    square = [tuple(random_transforms(rng, True)) for _ in range(4000)]
    assert len(set(square)) == 16
    for name in TRANSFORMS:
        share = np.mean([name in d for d in square])
        assert abs(share - 0.5) < 0.03, (name, share)
    wide = [random_transforms(rng, False) for _ in range(500)]
    assert not any("transpose" in d for d in wide)
    assert len({tuple(d) for d in wide}) == 8
    a, names_a = augment(_dot_clip((12, 12)), np.random.default_rng(5))
    b, names_b = augment(_dot_clip((12, 12)), np.random.default_rng(5))
    assert names_a == names_b and np.array_equal(a["frames"], b["frames"])


def test_bad_requests_fail_with_the_offending_value():
    with pytest.raises(ValueError, match="transpose needs a square clip, got 10x14"):
        apply(_dot_clip((10, 14)), ["transpose"])
    with pytest.raises(ValueError, match="unknown transform 'rotate'"):
        apply(_dot_clip((12, 12)), ["rotate"])
    clip = _dot_clip((12, 12))
    with pytest.raises(ValueError, match=r"tracks \(N, T, 2\)"):
        apply({**clip, "tracks": clip["tracks"][:, :-1]}, [])
