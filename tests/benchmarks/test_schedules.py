"""benchmarks.schedules: the reference online loop and `compare` (what `python -m benchmarks online` reports).

A small random-weight model (window 8, step 4) with output heads large enough that tracks move:
the runtime (each frame encoded once) and the reference schedule (every window re-encoded) must
agree to the runtime's coordinate tolerance, and onnxruntime on an export of the same model must
agree with the torch runtime; the visible-only maximum is checked on a hand-made case and, in
`compare`, to lie within the overall maximum. The replay (onnxruntime re-running each torch graph
call on the same inputs) must cover every frame and window, agree on a faithful export, and point
at the window graph, not the encoder, when only the window graph's weights differ.
"""


from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from benchmarks.schedules import _visible_max, compare, replay_export
from rt_edge.model import CoTracker3, window_starts

from ..conftest import lively_small_model

pytest.importorskip("onnxruntime")
SIZE = (64, 64)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def model() -> CoTracker3:
    return lively_small_model(vis_conf_bias=0.2)  # visible and occluded samples both occur


def _clip(T: int = 14, H: int = 48, W: int = 64):
    """A textured frame sliding 1 px right per frame, and 9 queries (some after frame 0)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (H, W + T, 3), dtype=np.uint8)
    frames = np.stack([base[:, T - t : T - t + W] for t in range(T)])
    xy = np.stack(np.meshgrid(np.linspace(10, W - 10, 3), np.linspace(8, H - 8, 3)), -1).reshape(-1, 2)
    t = np.array([0, 0, 0, 2, 2, 5, 5, 9, 0], np.float64)
    return frames, np.concatenate([t[:, None], xy], axis=1)


def test_visible_max_takes_only_visible_samples():
    diff = np.array([[0.5, -3.0], [0.1, 0.2]])
    seen = np.array([[True, False], [False, True]])
    assert _visible_max(diff, seen) == 0.5
    assert np.isnan(_visible_max(diff, np.zeros_like(seen)))


def test_compare_runtime_reference_and_onnxruntime_agree(model, tmp_path):
    from export.to_onnx import export_onnx

    frames, queries = _clip()
    export_onnx(model, tmp_path / "onnx", image_size=SIZE, iters=3, max_points=16)
    out = compare(model, frames, queries, SIZE, iters=3, low_latency=False, onnx_dir=str(tmp_path / "onnx"))
    assert out["frames"] == len(frames) and out["points"] == len(queries)
    assert out["runtime_vs_reference_max_px"] <= 2e-3  # the runtime's coordinate tolerance (tests/runtime/test_session.py)
    assert out["onnxruntime_vs_torch_max_px"] <= 5e-3
    for name in ("runtime_vs_reference", "onnxruntime_vs_torch"):
        assert 0 <= out[f"{name}_visible_max_px"] <= out[f"{name}_max_px"]
        assert out[f"{name}_p99_px"] <= out[f"{name}_max_px"]
    assert out["reference_s_per_frame"] > 0 and out["onnxruntime_s_per_frame"] > 0
    rep = out["onnxruntime_replay"]
    assert rep["frames_encoded"] == len(frames)
    windows = window_starts(len(frames), model.cfg.window_len, model.cfg.window_step)
    assert rep["windows"] == len(rep["per_window_coords_max_px"]) == len(windows)
    assert rep["query_batches"] >= 1
    assert rep["coords_max_px"] <= 5e-3 and rep["vis_max"] <= 1e-4 and rep["conf_max"] <= 1e-4
    assert rep["encoder_max_abs"] <= 1e-4 and rep["query_max_abs"] <= 1e-4


def test_replay_finds_a_wrong_window_graph(model, tmp_path):
    """An export whose flow head is off by 0.05 px per iteration: the replay must see it in the
    window graph's coordinates while the encoder and query graphs still agree."""
    from export.to_onnx import export_onnx

    wrong = copy.deepcopy(model)
    with torch.no_grad():
        wrong.updateformer.flow_head.bias.add_(0.05)
    export_onnx(wrong, tmp_path / "onnx", image_size=SIZE, iters=3, max_points=16)
    frames, queries = _clip()
    rep = replay_export(model, str(tmp_path / "onnx"), frames, queries, SIZE, iters=3)
    assert rep["coords_max_model_px"] > 0.05
    assert rep["encoder_max_abs"] <= 1e-4 and rep["query_max_abs"] <= 1e-4
