"""Frame sources and a video writer: everything is RGB uint8 (H, W, 3), C-contiguous.

Torch-free (numpy + OpenCV only) so the runtime reads cameras and files on a robot without
PyTorch. OpenCV works in BGR; the conversion happens here, once, at the boundary.

    with open_source("clip.mp4") as src:      # or a folder of images, or a camera index
        for rgb in src:                       # rgb: (H, W, 3) uint8
            ...
"""

from __future__ import annotations

import abc

import math
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")  # what every command takes as a video file
VIDEO_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}
DEFAULT_FPS = 30.0

PathLike = str | os.PathLike


def sample_clip_path() -> Path:
    """The shipped sample clip: 48 frames of bear.mp4 at 384 px wide (see assets/README.md)."""
    path = Path(__file__).resolve().parent / "assets" / "sample.mp4"
    if not path.is_file():
        raise FileNotFoundError(f"sample clip not found: {path} (regenerate it with rt_edge/assets/make_sample.py)")
    return path


def is_image_folder(path: Path) -> bool:
    """A directory holding at least one image (IMAGE_EXTENSIONS): one clip, as open_source reads it."""
    return path.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())


def list_clips(videos: PathLike | list[PathLike] | tuple[PathLike, ...], image_folders: bool = False) -> list[Path]:
    """The clips a command was given. A folder: its video files (VIDEO_EXTENSIONS), with image_folders=True also
    its subfolders of images, sorted by name (other entries, e.g. a label cache, are ignored); a file: itself;
    a list: each of its paths, which must be files. FileNotFoundError / ValueError name what is missing."""
    if isinstance(videos, (str, os.PathLike)):
        folder = Path(videos)
        if not folder.exists():
            raise FileNotFoundError(f"videos folder not found: {folder}")
        if folder.is_file():
            return [folder]
        found = sorted(p for p in folder.iterdir() if (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
                       or (image_folders and is_image_folder(p)))
        if not found:
            raise ValueError(f"no videos in {folder}: expected files ending in {', '.join(VIDEO_EXTENSIONS)}"
                             + (" or folders of images" if image_folders else ""))
        return found
    paths = [Path(p) for p in videos]
    if not paths:
        raise ValueError("no videos given")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"video not found: {p}")
    return paths


def _to_rgb(img: np.ndarray) -> np.ndarray:
    """An OpenCV image (BGR, BGRA or gray) as a new C-contiguous RGB uint8 (H, W, 3) array."""
    if img.dtype != np.uint8:  # e.g. 16-bit images: keep the top 8 bits
        img = (img >> 8).astype(np.uint8) if img.dtype == np.uint16 else img.astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _fps_or_default(cap: cv2.VideoCapture) -> float:
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    return fps if math.isfinite(fps) and 0.0 < fps <= 1000.0 else DEFAULT_FPS


class _Closing:
    """Context manager and finaliser that call `close()` (which must be idempotent)."""

    def close(self) -> None:  # overridden
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class FrameSource(_Closing, abc.ABC):
    """An iterable of RGB uint8 frames (H, W, 3) with its metadata.

    Attributes: `fps` (30.0 when unknown), `frame_size` as (H, W), `num_frames` (None for
    cameras or when unknown), `name`. The first frame is read when the source is opened (so a
    bad source fails at once) and kept, so iteration still starts with it. Files and folders
    restart from their first frame on each new iteration; a camera continues its live stream.
    Use one iterator at a time. Create with `open_source`.
    """

    def __init__(self, name: str, fps: float, first_frame: np.ndarray, num_frames: int | None) -> None:
        self.name = name
        self.fps = float(fps)
        self.frame_size: tuple[int, int] = (int(first_frame.shape[0]), int(first_frame.shape[1]))
        self.num_frames = num_frames
        self._first: np.ndarray | None = first_frame  # not yet yielded
        self._closed = False

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._closed:
            raise ValueError(f"frame source is closed: {self.name}")
        return self._frames()

    @abc.abstractmethod
    def _frames(self) -> Iterator[np.ndarray]:
        """Yield the frames, starting with the kept first frame."""

    def _release(self) -> None:
        pass

    def close(self) -> None:
        """Release the file or camera; further iteration raises ValueError."""
        if not self._closed:
            self._closed = True
            self._first = None
            self._release()


    def __repr__(self) -> str:
        h, w = self.frame_size
        return f"{type(self).__name__}({self.name!r}, {h}x{w}, fps={self.fps:g}, num_frames={self.num_frames})"


class _CaptureSource(FrameSource):
    """A video file or a camera read through cv2.VideoCapture."""

    def __init__(self, name: str, cap: cv2.VideoCapture, first_bgr: np.ndarray, num_frames: int | None,
                 restartable: bool, reopen: object = None) -> None:
        super().__init__(name, _fps_or_default(cap), _to_rgb(first_bgr), num_frames)
        self._cap = cap
        self._restartable = restartable
        self._reopen = reopen  # () -> cv2.VideoCapture, for files

    def _frames(self) -> Iterator[np.ndarray]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        elif self._restartable:  # a second pass over a file: start again from frame 0
            self._cap.release()
            self._cap = self._reopen()  # type: ignore[operator]
        while not self._closed:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                return
            yield _to_rgb(bgr)

    def _release(self) -> None:
        self._cap.release()


class _ImageListSource(FrameSource):
    """A sorted list of image files (a folder, or a single image)."""

    def __init__(self, name: str, files: list[Path]) -> None:
        self._files = files
        super().__init__(name, DEFAULT_FPS, self._read(files[0]), len(files))

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"cannot read image: {path}")
        return _to_rgb(img)

    def _frames(self) -> Iterator[np.ndarray]:
        for i, path in enumerate(self._files):
            if self._closed:
                return
            if i == 0 and self._first is not None:
                frame, self._first = self._first, None
            else:
                frame = self._read(path)
            if frame.shape[:2] != self.frame_size:
                h, w = self.frame_size
                raise ValueError(
                    f"image {path} is {frame.shape[0]}x{frame.shape[1]} but the first image of {self.name} "
                    f"is {h}x{w}: all images in a folder must share one size"
                )
            yield frame


def _open_video_file(path: Path) -> FrameSource:
    def reopen() -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ValueError(f"cannot read video: {path}")
        return cap

    cap = cv2.VideoCapture(str(path))
    ok, bgr = (cap.read() if cap.isOpened() else (False, None))
    if not ok or bgr is None:
        cap.release()
        raise ValueError(f"cannot read video: {path}")
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)  # container's count; may be approximate
    return _CaptureSource(str(path), cap, bgr, count if count > 0 else None, restartable=True, reopen=reopen)


def _open_folder(path: Path) -> FrameSource:
    files = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
                   key=lambda p: p.name)
    if not files:
        raise ValueError(f"no images ({' '.join(IMAGE_EXTENSIONS)}) in folder: {path}")
    return _ImageListSource(str(path), files)


def _open_camera(index: int) -> FrameSource:
    if index < 0:
        raise ValueError(f"camera index must be >= 0, got {index}")
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        raise ValueError(f"cannot open camera {index}")
    ok, bgr = cap.read()
    if not ok or bgr is None:
        cap.release()
        raise ValueError(f"camera {index} opened but returned no frame")
    return _CaptureSource(f"camera {index}", cap, bgr, None, restartable=False)


def open_source(source: PathLike | int) -> FrameSource:
    """Open a video file, a folder of images (sorted by name), a single image, or a camera index.

    A string of digits that is not an existing path is taken as a camera index ("0" -> camera 0),
    so a command-line argument can be passed straight through. Folder images must share one size
    (checked as each is read: a mismatch raises ValueError naming the file); zero-pad numbered
    file names so that name order is frame order.
    """
    if isinstance(source, bool):
        raise ValueError(f"source must be a path or a camera index, got {source!r}")
    if isinstance(source, (int, np.integer)):
        return _open_camera(int(source))
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"source must be a path or a camera index, got {type(source).__name__} {source!r}")
    path = Path(source)
    if not path.exists():
        if isinstance(source, str) and source.strip().isdigit():
            return _open_camera(int(source))
        raise FileNotFoundError(f"video source not found: {path}")
    if path.is_dir():
        return _open_folder(path)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return _ImageListSource(str(path), [path])
    return _open_video_file(path)


def read_frames(source: PathLike | int | FrameSource, max_frames: int | None = None) -> np.ndarray:
    """All frames (or the first `max_frames`) of a source as one array (T, H, W, 3) uint8.

    A FrameSource passed in is read but not closed; a path or index is opened and closed here.
    """
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer))
                                   or max_frames < 1):
        raise ValueError(f"max_frames must be a positive integer or None, got {max_frames!r}")
    own = not isinstance(source, FrameSource)
    src = open_source(source) if own else source
    try:
        frames: list[np.ndarray] = []
        for frame in src:
            frames.append(frame)
            if max_frames is not None and len(frames) >= max_frames:
                break
    finally:
        if own:
            src.close()
    if not frames:
        raise ValueError(f"no frames read from {src.name}")
    return np.stack(frames)


class VideoWriter(_Closing):
    """Writes RGB uint8 frames (H, W, 3) to .mp4 (fourcc mp4v) or .avi (MJPG) through OpenCV.

    The size is fixed at creation as (H, W); a frame of another size raises ValueError instead of
    OpenCV's silent drop. The parent directory is created.
    """

    def __init__(self, path: PathLike, fps: float, frame_size_hw: tuple[int, int]) -> None:
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in VIDEO_FOURCC:
            raise ValueError(f"unsupported video extension {ext or '(none)'!r} for {self.path}: "
                             f"expected one of {', '.join(VIDEO_FOURCC)}")
        fps = float(fps)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        if len(frame_size_hw) != 2 or any(int(v) != v or v < 1 for v in frame_size_hw):
            raise ValueError(f"frame_size_hw must be two positive integers (H, W), got {tuple(frame_size_hw)}")
        self.fps = fps
        self.frame_size: tuple[int, int] = (int(frame_size_hw[0]), int(frame_size_hw[1]))
        self.frames_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        h, w = self.frame_size
        self._writer: cv2.VideoWriter | None = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter_fourcc(*VIDEO_FOURCC[ext]), fps, (w, h))
        if not self._writer.isOpened():
            self._writer.release()
            self._writer = None
            raise ValueError(f"cannot open video writer for {self.path} (fourcc {VIDEO_FOURCC[ext]}, {h}x{w})")

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB uint8 frame (H, W, 3) of the writer's size."""
        if self._writer is None:
            raise ValueError(f"video writer is closed: {self.path}")
        frame = np.asarray(frame)
        h, w = self.frame_size
        if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 of shape ({h}, {w}, 3) for {self.path}, "
                             f"got {frame.dtype} {frame.shape}")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (idempotent)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

