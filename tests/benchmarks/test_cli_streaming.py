"""`python -m benchmarks streaming` with both backends: every backend x schedule run is timed and compared."""

from __future__ import annotations

import json

import torch

from benchmarks.__main__ import main
from export.to_onnx import export_onnx

from ..conftest import SMALL, lively_small_model

SIZE = (64, 96)


def test_streaming_times_each_backend_and_schedule(tmp_path, one_torch_thread):
    ckpt = tmp_path / "small.pth"
    torch.save({"model": lively_small_model().state_dict(), "config": SMALL.to_dict()}, ckpt)
    export_onnx(str(ckpt), tmp_path / "onnx", image_size=SIZE, iters=2, max_points=16)
    out = tmp_path / "r.json"
    rc = main(["streaming", "--checkpoint", str(ckpt), "--onnx-dir", str(tmp_path / "onnx"), "--image-size",
               *map(str, SIZE), "--iters", "2", "--points", "4", "--frames", str(3 * SMALL.window_len),
               "--repeats", "1", "--threads", "1", "--backend", "torch", "onnxruntime",
               "--schedule", "published", "stream", "--out", str(out)])
    assert rc == 0
    r = json.loads(out.read_text())
    assert set(r["schedules"]) == {"torch:published", "torch:stream", "onnxruntime:published", "onnxruntime:stream"}
    for key, s in r["schedules"].items():
        assert s["p50_ms"] > 0 and s["frames_per_s"] > 0
        assert abs(s["mean_vs_published"] * r["schedules"][key.split(":")[0] + ":published"]["mean_ms"]
                   - s["mean_ms"]) < 1e-6
    ort = r["schedules"]["onnxruntime:stream"]
    assert abs(ort["mean_vs_torch"] - ort["mean_ms"] / r["schedules"]["torch:stream"]["mean_ms"]) < 1e-9
    assert r["backends"]["onnxruntime"] == str(tmp_path / "onnx")
