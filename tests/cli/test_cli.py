"""`python -m rt_edge info`: layout and cost of the model."""

from __future__ import annotations

import json
import subprocess

from ..conftest import run_command


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_command("rt_edge", *args)


def test_info_reports_published_layout_and_cost(tmp_path):
    out = tmp_path / "info.json"
    r = _cli("info", "--published", "--points", "256", "1024", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "random weights of the published configuration" in r.stdout
    assert report_size(out) == [384, 512]
    report = json.loads(out.read_text())
    assert report["parameters"]["total"] == 25_385_700  # 25.4 M as published
    cost = {c["points"]: c for c in report["cost"]}
    # the design brief's counts for the reference at 384x512, iters 6: encoder 51.8 GFLOP/frame,
    # a window 1.85 TFLOP (N=256) and 4.31 TFLOP (N=1024) including the 16-frame re-encode
    enc = cost[256]["encoder_flops_per_frame"]
    assert abs(enc / 1e9 - 51.8) < 0.05
    for n, ref in ((256, 1.85), (1024, 4.31)):
        assert abs((cost[n]["window_step_flops"] + 16 * enc) / 1e12 - ref) < 0.01


def report_size(path) -> list[int]:
    return json.loads(path.read_text())["image_size"]


def test_info_defaults_to_the_shipped_model_at_its_own_size(tmp_path):
    from rt_edge.default_model import shipped
    from rt_edge.model import load_checkpoint

    out = tmp_path / "info.json"
    r = _cli("info", "--points", "8", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "the package's default model" in r.stdout
    cfg = load_checkpoint(shipped("torch")).cfg
    assert report_size(out) == list(cfg.default_image_size)
    assert json.loads(out.read_text())["config"] == cfg.to_dict()
    r = _cli("info", "--published", "--checkpoint", "x.pth")
    assert r.returncode == 2 and "not allowed with" in r.stderr


def test_info_with_checkpoint(tmp_path, seeded_weights):
    import torch

    ckpt = tmp_path / "w.pth"
    torch.save({"model": {k: torch.from_numpy(v) for k, v in seeded_weights("online", 0).items()}}, ckpt)
    r = _cli("info", "--checkpoint", str(ckpt), "--image-size", "96", "128", "--points", "8")
    assert r.returncode == 0, r.stderr
    assert f"checkpoint {ckpt}" in r.stdout and "window 16" in r.stdout


def test_info_bad_arguments_fail_in_one_line(tmp_path):
    r = _cli("info", "--published", "--image-size", "100", "130")
    assert r.returncode == 2 and "multiples of the stride 4" in r.stderr and "Traceback" not in r.stderr
    r = _cli("info", "--checkpoint", str(tmp_path / "nope.pth"))
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    r = _cli("info", "--checkpoint", str(bad))
    assert r.returncode == 2 and "not a readable" in r.stderr and "Traceback" not in r.stderr
