"""Export fidelity by replay: every graph call the torch backend makes while tracking a clip is run
again, on the very same inputs, by a second executor (onnxruntime on an export), and the outputs compared.

A closed-loop comparison (each backend tracking the clip from its own previous windows) measures the
export *and* how much the model amplifies rounding from window to window; two torch schedules of the
same maths already disagree that way (docs/experiments/default_model_recipe.md). The replay measures the export
alone: each shadow call sees exactly what the torch call saw, as Polygraphy compares two runtimes
on one input. It needs no torch itself (arrays are converted by duck typing), so any executor can
shadow any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from rt_edge.backends import Executor


def host(x: Any) -> np.ndarray:
    """A torch tensor or array as a float32 numpy array (what host-input executors take)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


@dataclass
class ReplayGaps:
    """Largest output gaps per graph call. Coordinates in model pixels; vis / conf as probabilities;
    features as absolute values (they are L2-normalised per pixel)."""

    encoder: list[float] = field(default_factory=list)  # per frame
    query: list[float] = field(default_factory=list)  # per query batch
    coords_xy: list[np.ndarray] = field(default_factory=list)  # per window, (2,) largest |dx|, |dy| of active points
    vis: list[float] = field(default_factory=list)
    conf: list[float] = field(default_factory=list)


class MirrorExecutor:
    """Acts as `primary` (its outputs drive the session); runs `shadow` on the same inputs of each
    call and records the gaps. zero_queries / concat_queries are bookkeeping and not compared."""

    def __init__(self, primary: Executor, shadow: Executor):
        if tuple(primary.image_size) != tuple(shadow.image_size) or primary.iters != shadow.iters:
            raise ValueError(f"the executors must run the same graphs: image size {primary.image_size} vs "
                             f"{shadow.image_size}, iters {primary.iters} vs {shadow.iters}")
        self.primary, self.shadow = primary, shadow
        self.name, self.cfg = primary.name, primary.cfg
        self.image_size, self.iters = primary.image_size, primary.iters
        self.gaps = ReplayGaps()

    def encode(self, image: np.ndarray):
        a = self.primary.encode(image)
        b = self.shadow.encode(image)
        self.gaps.encoder.append(max(float(np.abs(host(x) - host(y)).max()) for x, y in zip(a, b)))
        return a

    def query_features(self, frame, xy: np.ndarray):
        a = self.primary.query_features(frame, xy)
        b = self.shadow.query_features([host(level) for level in frame], xy)
        if len(xy):
            self.gaps.query.append(float(np.abs(host(a) - host(b)).max()))
        return a

    def zero_queries(self, count: int):
        return self.primary.zero_queries(count)

    def concat_queries(self, parts: Sequence[Any]):
        return self.primary.concat_queries(parts)

    def window_step(self, frames, coords, vis, conf, query_feats, active):
        a = self.primary.window_step(frames, coords, vis, conf, query_feats, active)
        b = self.shadow.window_step([[host(level) for level in f] for f in frames], coords, vis, conf,
                                    host(query_feats), active)
        on = np.asarray(active, bool)  # (N,) points the window tracks; the others are placeholders
        if on.any():
            dxy = np.abs(a[0] - b[0])[:, on]  # (S, n, 2)
            self.gaps.coords_xy.append(dxy.reshape(-1, 2).max(0))
            self.gaps.vis.append(float(np.abs(_sigmoid(a[1]) - _sigmoid(b[1]))[:, on].max()))
            self.gaps.conf.append(float(np.abs(_sigmoid(a[2]) - _sigmoid(b[2]))[:, on].max()))
        return a


def summarize(gaps: ReplayGaps, scale: np.ndarray) -> dict:
    """The report of `python -m benchmarks online`: maxima over the run, coordinates also in caller
    pixels (scale (sx, sy) maps caller pixels to model pixels, as rt_edge.image.pixel_scale)."""
    if not gaps.coords_xy:
        raise ValueError("no window ran with an active point: nothing was replayed")
    caller = [float((d / scale).max()) for d in gaps.coords_xy]
    return {
        "windows": len(gaps.coords_xy), "frames_encoded": len(gaps.encoder), "query_batches": len(gaps.query),
        "coords_max_px": max(caller), "coords_max_model_px": float(max(d.max() for d in gaps.coords_xy)),
        "per_window_coords_max_px": caller,
        "vis_max": max(gaps.vis), "conf_max": max(gaps.conf),
        "encoder_max_abs": max(gaps.encoder, default=float("nan")),
        "query_max_abs": max(gaps.query, default=float("nan")),
    }
