"""rt_edge.video: frame sources (files, folders, cameras) and VideoWriter, RGB end to end."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from rt_edge.video import FrameSource, VideoWriter, open_source, read_frames, sample_clip_path

H, W = 48, 64


def smooth_frames(n: int) -> np.ndarray:
    """(n, H, W, 3) uint8 gradients that drift over time; the three channels differ, so a BGR/RGB
    swap gives a large error."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    out = np.empty((n, H, W, 3), np.uint8)
    for t in range(n):
        out[t, ..., 0] = np.clip(40 + 2.5 * x + 3 * t, 0, 255)
        out[t, ..., 1] = np.clip(30 + 3.0 * y, 0, 255)
        out[t, ..., 2] = 200
    return out


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_video_roundtrip(tmp_path, ext):
    frames = smooth_frames(10)
    path = tmp_path / "sub" / f"clip{ext}"  # parent created by the writer
    with VideoWriter(path, 15.0, (H, W)) as w:
        for f in frames:
            w.write(f)
    assert w.frames_written == 10 and path.is_file()

    with open_source(str(path)) as src:
        assert isinstance(src, FrameSource)
        assert src.frame_size == (H, W)
        assert src.num_frames == 10
        assert src.fps == pytest.approx(15.0, abs=0.01)
        got = list(src)
    assert len(got) == 10  # the first frame, read at open time, is not lost
    assert all(g.shape == (H, W, 3) and g.dtype == np.uint8 and g.flags.c_contiguous for g in got)
    mad = np.abs(np.stack(got).astype(np.float32) - frames).mean(axis=(1, 2, 3))
    assert mad.max() < 6.0, mad
    swapped = np.abs(np.stack(got)[..., ::-1].astype(np.float32) - frames).mean()
    assert swapped > 30.0  # the channel check above really distinguishes RGB from BGR


def test_video_pure_red_stays_red(tmp_path):
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = 255
    path = tmp_path / "red.mp4"
    with VideoWriter(path, 30.0, (H, W)) as w:
        for _ in range(3):
            w.write(red)
    got = read_frames(path)
    mean = got.reshape(-1, 3).mean(axis=0)
    assert mean[0] > 200 and mean[1] < 40 and mean[2] < 40, mean


def test_second_iteration_restarts_a_file(tmp_path):
    path = tmp_path / "clip.avi"
    with VideoWriter(path, 30.0, (H, W)) as w:
        for f in smooth_frames(5):
            w.write(f)
    src = open_source(path)
    a, b = np.stack(list(src)), np.stack(list(src))
    src.close()
    assert a.shape[0] == b.shape[0] == 5 and np.array_equal(a, b)
    with pytest.raises(ValueError, match="closed"):
        iter(src)


def test_read_frames_max_frames(tmp_path):
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, 30.0, (H, W)) as w:
        for f in smooth_frames(6):
            w.write(f)
    assert read_frames(path, max_frames=3).shape == (3, H, W, 3)
    with pytest.raises(ValueError, match="max_frames"):
        read_frames(path, max_frames=0)


def test_writer_rejects_bad_extension_and_wrong_frame(tmp_path):
    with pytest.raises(ValueError, match=r"\.gif.*\.mp4, \.avi"):
        VideoWriter(tmp_path / "x.gif", 30.0, (H, W))
    with VideoWriter(tmp_path / "x.mp4", 30.0, (H, W)) as w:
        with pytest.raises(ValueError, match=r"\(48, 64, 3\).*\(64, 48, 3\)"):
            w.write(np.zeros((W, H, 3), np.uint8))
        with pytest.raises(ValueError, match="float32"):
            w.write(np.zeros((H, W, 3), np.float32))
        assert w.frames_written == 0
    with pytest.raises(ValueError, match="closed"):
        w.write(np.zeros((H, W, 3), np.uint8))


def _write_png_rgb(path, rgb: np.ndarray) -> None:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def test_folder_of_pngs_sorted_by_name_and_rgb(tmp_path):
    # written out of order; a non-image file is ignored
    for t in (2, 0, 1):
        _write_png_rgb(tmp_path / f"frame_{t:03d}.png", np.full((H, W, 3), 50 * (t + 1), np.uint8))
    (tmp_path / "notes.txt").write_text("not a frame")
    red_bgr = np.zeros((H, W, 3), np.uint8)
    red_bgr[..., 2] = 255  # red, in OpenCV's BGR order
    assert cv2.imwrite(str(tmp_path / "frame_003.png"), red_bgr)

    src = open_source(tmp_path)
    assert src.num_frames == 4 and src.fps == 30.0 and src.frame_size == (H, W)
    frames = read_frames(src)
    src.close()
    assert frames.shape == (4, H, W, 3)
    assert [int(f[0, 0, 0]) for f in frames[:3]] == [50, 100, 150]  # PNG is lossless: exact
    assert frames[3, 0, 0].tolist() == [255, 0, 0]  # red comes back in channel 0 (RGB)


def test_mixed_size_folder_names_the_file(tmp_path):
    _write_png_rgb(tmp_path / "a.png", np.zeros((H, W, 3), np.uint8))
    _write_png_rgb(tmp_path / "b.png", np.zeros((H + 2, W, 3), np.uint8))
    with pytest.raises(ValueError, match=r"b\.png.*50x64.*48x64"):
        read_frames(tmp_path)


def test_errors_missing_garbage_empty(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match="not found: .*nope.mp4"):
        open_source(str(missing))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="cannot read video: .*garbage.mp4"):
        open_source(garbage)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        open_source(empty)
    with pytest.raises(ValueError, match="camera index"):
        open_source(True)


def test_missing_camera_fails_with_value_error():
    result: dict = {}

    def attempt():
        for key, source in (("int", 99), ("str", "99")):  # a digit string that is no path is an index too
            try:
                open_source(source).close()
                result[key] = "opened"
            except Exception as e:  # noqa: BLE001 - the assertions below check the type
                result[key] = e

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(timeout=2.0)
    if t.is_alive():
        pytest.skip("opening camera 99 takes more than 2 s on this machine")
    for key in ("int", "str"):
        assert isinstance(result[key], ValueError), result[key]
        assert "camera 99" in str(result[key])


def test_sample_clip():
    path = sample_clip_path()
    assert path.is_file() and path.stat().st_size < 1_500_000
    with open_source(path) as src:
        assert src.fps == pytest.approx(30.0)
        frames = read_frames(src)
    assert frames.shape == (48, 216, 384, 3)
    assert 40 < frames.mean() < 200  # a real picture, not black or white


def test_io_modules_do_not_import_torch():
    from ..conftest import run_without_torch as _run

    r = _run(
        """
        import sys
        import rt_edge.video, rt_edge.draw, rt_edge.track_io
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
