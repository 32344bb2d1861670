"""`python -m benchmarks latency`: figures consistent with the per-frame series and the schedule,
ratios to the reference, the PNG, errors, and the default command CI runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from benchmarks.__main__ import main
from rt_edge.model import CoTracker3
from rt_edge.model.cost import count_flops

from ..conftest import REPO, SMALL

TINY = ["--image-size", "32", "48", "--iters", "1", "--threads", "1"]
S, STEP = SMALL.window_len, SMALL.window_step  # 8, 4: defaults warm-up 8 frames, 8 measured


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    torch.save({"model": CoTracker3(SMALL).state_dict(), "config": SMALL.to_dict()}, path)
    return path


def _cli(*args, cwd=REPO, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", "latency", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _check_series(lat: dict, series) -> None:
    s = np.asarray(series, np.float64)
    assert lat["p95_ms"] >= lat["p50_ms"] >= 0 and lat["max_ms"] >= lat["p95_ms"]
    assert lat["p50_ms"] == pytest.approx(np.percentile(s, 50)) and lat["p95_ms"] == pytest.approx(np.percentile(s, 95))
    assert lat["max_ms"] == pytest.approx(s.max()) and lat["mean_ms"] == pytest.approx(s.mean())
    assert lat["frames_per_s"] == pytest.approx(1e3 / lat["mean_ms"], rel=1e-9)


def check_result(res: dict, points, measured: int, warmup: int, step: int, window_len: int, reference=True) -> None:
    """Every figure consistent with the series it summarises and with the schedule's arithmetic."""
    assert res["kind"] == "latency" and res["schedule"] == "published"
    assert {"cpu", "torch", "torch_threads", "platform"} <= set(res["environment"])
    assert res["warmup_frames"] == warmup and res["measured_frames"] == measured
    assert [r["points"] for r in res["results"]] == list(points)
    # windows complete at frames window_len - 1 + k * step; those in the measured frames, by hand
    windows = [f for f in range(warmup, warmup + measured) if f >= window_len - 1 and (f - window_len + 1) % step == 0]
    for r in res["results"]:
        run = r["runtime"]
        assert len(run["per_frame_ms"]) == measured
        _check_series(run["latency"], run["per_frame_ms"])
        assert run["latency"]["p50_ms"] > 0
        assert run["encoder_calls"] == measured  # every frame encoded exactly once
        assert run["window_frames"] == windows and run["window_step_calls"] == len(windows)
        for f, w in zip(windows, run["window_step_ms_each"], strict=True):  # that push contains that window
            assert run["per_frame_ms"][f - warmup] >= w > 0
        assert run["window_step_ms"] == pytest.approx(np.mean(run["window_step_ms_each"]))
        assert run["memory"]["peak_mb"] > 0 and run["memory"]["increase_mb"] >= 0
        fl = r["flops"]
        assert fl["runtime_per_frame"] == pytest.approx(fl["encoder_per_frame"] + fl["window_step"] / step)
        assert fl["reference_per_frame"] == pytest.approx((window_len * fl["encoder_per_frame"] + fl["window_step"])
                                                          / step)
        if not reference:
            assert r["reference"] is None
            continue
        ref = r["reference"]
        _check_series(ref["latency"], ref["per_frame_ms"])
        # the reference works only on frames where a window completes, the runtime's window frames
        assert [warmup + i for i, v in enumerate(ref["per_frame_ms"]) if v > 0] == windows
        assert ref["window_step_calls"] == len(windows)
        ratio = r["ratio_vs_reference"]
        assert ratio["mean"] == pytest.approx(ref["latency"]["mean_ms"] / run["latency"]["mean_ms"], rel=1e-9)
        assert ratio["max"] == pytest.approx(ref["latency"]["max_ms"] / run["latency"]["max_ms"], rel=1e-9)
        assert ratio["window_step"] == pytest.approx(ref["window_step_ms"] / run["window_step_ms"], rel=1e-9)


def check_png(path) -> None:
    img = cv2.imread(str(path))
    assert img is not None and img.shape == (500, 800, 3)  # figsize 8 x 5 in at 100 dpi


def test_tiny_run_writes_consistent_json_and_png(tmp_path, ckpt):
    out = tmp_path / "lat.json"
    r = _cli("--backend", "torch", "--points", 16, 64, "--checkpoint", ckpt, *TINY, "--out", out)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    check_result(res, [16, 64], measured=2 * STEP, warmup=S, step=STEP, window_len=S)
    assert res["image_size"] == [32, 48] and res["iters"] == 1 and res["weights"] == str(ckpt)
    model = CoTracker3(SMALL)
    for row in res["results"]:  # FLOPs are the project's counter's
        c = count_flops(model, (32, 48), row["points"], 1)
        assert row["flops"]["encoder_per_frame"] == c.encoder_per_frame
        assert row["flops"]["window_step"] == c.window_step
    check_png(out.with_suffix(".png"))
    assert "p95" in r.stdout and "x ref" in r.stdout

    # several results merged into one PNG: the second run's colour (matplotlib's orange) appears
    other = dict(res, backend="onnxruntime")
    (tmp_path / "b.json").write_text(json.dumps(other))
    r = _cli("--plot-only", out, tmp_path / "b.json", "--out", tmp_path / "merged.png")
    assert r.returncode == 0, r.stderr
    check_png(tmp_path / "merged.png")

    def orange_pixels(path):
        img = cv2.imread(str(path)).astype(int)
        return int((np.abs(img - np.array([14, 127, 255])).sum(axis=2) < 40).sum())  # BGR of #ff7f0e

    assert orange_pixels(out.with_suffix(".png")) == 0 and orange_pixels(tmp_path / "merged.png") > 100


def test_bad_inputs_one_line_exit_2(tmp_path, ckpt, capsys):
    small = ["--checkpoint", str(ckpt), "--image-size", "32", "48", "--iters", "1"]
    cases = [
        (["--backend", "torch", *small, "--frames", "5"], "multiple of the window step 4"),
        (["--backend", "torch", *small, "--warmup", "2"], "--warmup 2"),
        (["--backend", "onnxruntime"], "needs --model-dir"),
        (["--backend", "onnxruntime", "--published", "--model-dir", str(tmp_path)], "--published is for the torch"),
        (["--plot-only", str(tmp_path / "missing.json")], "not found"),
        (["--backend", "torch", "--checkpoint", str(tmp_path / "none.pth")], "not found"),
        (["--points", "16"], "--backend is required"),
    ]
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        cases.append((["--backend", "tensorrt", "--model-dir", str(tmp_path)], "needs TensorRT"))
    for args, msg in cases:
        assert main(["latency", *args, "--out", str(tmp_path / "x.json")]) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("benchmarks: error: ") and msg in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_default_command_ci_runs(tmp_path):
    """Exactly `python -m benchmarks latency --backend torch --points 16 64` (the default model at its own
    384x384, iters 6, reference on), run on a throwaway copy of the benchmarks package so its default output lands there."""
    shutil.copytree(REPO / "benchmarks", tmp_path / "benchmarks",
                    ignore=shutil.ignore_patterns("results", "__pycache__"))
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}")
    r = _cli("--backend", "torch", "--points", 16, 64, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "benchmarks" / "results" / "latency_torch_cpu.json"
    res = json.loads(out.read_text())
    check_result(res, [16, 64], measured=16, warmup=16, step=8, window_len=16)
    assert res["image_size"] == [384, 384] and res["iters"] == 6 and "the package's default model" in res["weights"]
    check_png(out.with_suffix(".png"))
