"""rt_edge.track_io: tracks to/from .npz/.csv/.json, and query points from a user CSV."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rt_edge.track_io import read_points_csv, read_tracks, write_tracks


def make_tracks(F: int = 5, K: int = 4) -> dict[str, np.ndarray]:
    """Tracks with NaN holes: id 20 unknown in frame 11, frame 13 unknown for ids 10 and 40."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 300, (F, K, 2)).astype(np.float32)
    xy[1, 1] = np.nan
    xy[3, [0, 3]] = np.nan
    return {
        "frames": np.arange(10, 10 + F),
        "ids": np.array([10, 20, 30, 40]),
        "xy": xy,
        "visible": rng.random((F, K)) > 0.3,
        "confidence": rng.random((F, K)).astype(np.float32),
    }


def test_npz_roundtrip_is_exact(tmp_path):
    t = make_tracks()
    path = write_tracks(tmp_path / "out" / "tracks.npz", **t)  # parent directory created
    assert path.is_file()
    got = read_tracks(path)
    assert sorted(got) == sorted(t)
    for k in t:
        assert got[k].dtype == t[k].dtype, k
        np.testing.assert_array_equal(got[k], t[k])  # NaN == NaN here


@pytest.mark.parametrize("ext", [".csv", ".json"])
def test_text_roundtrip_with_nan(tmp_path, ext):
    t = make_tracks()
    got = read_tracks(write_tracks(tmp_path / f"tracks{ext}", **t))
    np.testing.assert_array_equal(got["frames"], t["frames"])
    np.testing.assert_array_equal(got["ids"], t["ids"])
    known = np.isfinite(t["xy"]).all(-1)
    assert np.array_equal(np.isfinite(got["xy"]).all(-1), known)  # NaN exactly where it was
    np.testing.assert_allclose(got["xy"][known], t["xy"][known], atol=6e-4)  # 3 decimals
    np.testing.assert_array_equal(got["visible"][known], t["visible"][known])
    np.testing.assert_allclose(got["confidence"][known], t["confidence"][known], atol=6e-5)  # 4 decimals
    assert not got["visible"][~known].any() and (got["confidence"][~known] == 0).all()


def test_csv_layout(tmp_path):
    t = make_tracks()
    path = write_tracks(tmp_path / "tracks.csv", **t)
    lines = path.read_text().splitlines()
    assert lines[0] == "frame,id,x,y,visible,confidence"
    assert len(lines) == 1 + 5 * 4 - 3  # one row per (frame, id), NaN rows skipped
    f, i, x, y, v, c = lines[1].split(",")
    assert (f, i) == ("10", "10") and v in ("0", "1")
    assert len(x.split(".")[1]) == 3 and len(y.split(".")[1]) == 3 and len(c.split(".")[1]) == 4
    assert float(x) == pytest.approx(float(t["xy"][0, 0, 0]), abs=6e-4)
    assert not any(line.startswith("11,20,") for line in lines)  # the NaN point of frame 11


def test_json_layout_and_nan_confidence(tmp_path):
    t = make_tracks()
    t["confidence"][0, 1] = np.nan  # NaN is not valid JSON: written as null
    path = write_tracks(tmp_path / "tracks.json", **t)
    assert "NaN" not in path.read_text()
    rows = json.loads(path.read_text())
    assert isinstance(rows, list) and len(rows) == 5 * 4 - 3
    assert set(rows[0]) == {"frame", "id", "x", "y", "visible", "confidence"}
    assert (rows[0]["frame"], rows[0]["id"]) == (10, 10) and isinstance(rows[0]["visible"], bool)
    assert rows[1]["id"] == 20 and rows[1]["confidence"] is None
    assert np.isnan(read_tracks(path)["confidence"][0, 1])


def test_bad_extension_and_shapes(tmp_path):
    t = make_tracks()
    with pytest.raises(ValueError, match=r"'\.txt'.*\.npz, \.csv, \.json"):
        write_tracks(tmp_path / "tracks.txt", **t)
    with pytest.raises(ValueError, match=r"\.parquet"):
        read_tracks(tmp_path / "tracks.parquet")
    with pytest.raises(ValueError, match=r"visible must have shape \(F, K\) = \(5, 4\)"):
        write_tracks(tmp_path / "t.npz", **{**t, "visible": t["visible"][:, :3]})
    with pytest.raises(FileNotFoundError, match="not found: .*missing.csv"):
        read_tracks(tmp_path / "missing.csv")


def test_malformed_tracks_csv_names_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("frame,id,x,y,visible,confidence\n0,1,2.0,3.0,1,0.5\n0,2,abc,3.0,1,0.5\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: malformed"):
        read_tracks(path)


def test_points_csv_with_and_without_header(tmp_path):
    expected = np.array([[0, 10.5, 20.0], [3, 100.0, 7.25]])
    with_header = tmp_path / "with.csv"
    with_header.write_text("t,x,y\n0,10.5,20\n3, 100, 7.25\n")
    without = tmp_path / "without.csv"
    without.write_text("0,10.5,20\n\n3,100,7.25\n")  # a blank line is skipped
    for path in (with_header, without):
        pts = read_points_csv(path)
        assert pts.shape == (2, 3) and pts.dtype == np.float64
        np.testing.assert_array_equal(pts, expected)


def test_points_csv_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("t,x,y\n0,1,2\n1,2\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: expected 't,x,y'.*'1,2'"):
        read_points_csv(bad)
    bad.write_text("0,1,2\n2.5,1,2\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: t must be a frame index"):
        read_points_csv(bad)
    bad.write_text("x,y,t\n0,1,2\n")  # a header other than t,x,y is malformed line 1
    with pytest.raises(ValueError, match=r"bad\.csv:1:"):
        read_points_csv(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("t,x,y\n")
    with pytest.raises(ValueError, match="no points"):
        read_points_csv(empty)
    with pytest.raises(FileNotFoundError, match="not found: .*nope.csv"):
        read_points_csv(tmp_path / "nope.csv")
