"""The default-weights path: `python -m training package` and loaders that fall back to its output.

Every test here points rt_edge.default_model.WEIGHTS at a file it packaged itself from a small random
model, so the mechanism is tested apart from the shipped weights (those: tests/runtime/test_shipped_model.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import rt_edge.default_model as default_model
from rt_edge import OnlineTracker
from rt_edge.model import CoTracker3, ModelConfig, load_checkpoint
from training.__main__ import main
from training.checkpoints import save
from training.package import package, read_card

from ..conftest import SMALL, lively_small_model

SIZE = (64, 96)  # the packaged default input, different from SMALL's model_resolution 384x512


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A training checkpoint (weights, optimizer state, step) of a small model whose tracks move."""
    model = lively_small_model()
    opt = torch.optim.AdamW(model.parameters())
    sum((p * p).sum() for p in model.parameters()).backward()
    opt.step()  # optimizer state now holds moments, as a real training checkpoint does
    path = save(tmp_path_factory.mktemp("ckpt") / "last.pth", model, opt, step=123)
    return model, path


def _stream(tracker: OnlineTracker, video: np.ndarray, xy: np.ndarray):
    tracker.add_queries(xy, frame=0)
    parts = [tracker.push(f) for f in video] + [tracker.flush()]
    return np.concatenate([p.xy for p in parts if len(p.frames)])


def test_package_is_fp16_with_config_size_and_card(trained, tmp_path):
    model, src = trained
    out = tmp_path / "default.pth"
    summary = package(src, out, image_size=SIZE, card={"trained_on": "unit test", "steps": 123})
    raw = torch.load(out, weights_only=True)
    assert set(raw) == {"model", "config", "card", "step"}  # optimizer state and RNG dropped
    assert raw["step"] == summary["step"] == 123  # where the training run stood
    floats = [v for v in raw["model"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert raw["config"]["default_image_size"] == list(SIZE)
    assert ModelConfig.from_dict(raw["config"]).replace(default_image_size=None) == SMALL
    assert read_card(out) == {"trained_on": "unit test", "steps": 123}
    assert out.stat().st_size < src.stat().st_size / 2  # fp16 and no Adam moments
    worst = max(float((raw["model"][k].float() - v).abs().max()) for k, v in model.state_dict().items())
    assert summary["max_fp16_rounding"] == pytest.approx(worst) and 0 < worst < 1e-2
    assert summary["image_size"] == list(SIZE)


def test_training_starts_in_fp32_from_a_packaged_snapshot(trained, tmp_path):
    """The recipe's stages start from committed fp16 snapshots when a machine lost the run directory."""
    from training.trainer import TrainConfig, build_model

    model, src = trained
    snap = tmp_path / "stage.pth"
    package(src, snap)
    start = build_model(TrainConfig(data=str(tmp_path), init=str(snap)))
    half = torch.load(snap, weights_only=True)["model"]
    for k, v in start.state_dict().items():
        assert v.dtype == model.state_dict()[k].dtype  # fp32 weights again, not fp16
        assert torch.equal(v, half[k].to(v.dtype))


def test_package_refuses_weights_beyond_fp16(trained, tmp_path):
    model, _ = trained
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["updateformer.flow_head.bias"][0] = 1e6
    with pytest.raises(ValueError, match="fp16"):
        package({"model": state, "config": SMALL.to_dict()}, tmp_path / "x.pth")
    assert not (tmp_path / "x.pth").exists()


def test_load_without_checkpoint_uses_the_packaged_weights(trained, tmp_path, monkeypatch):
    model, src = trained
    out = tmp_path / "default.pth"
    package(src, out, image_size=SIZE)
    monkeypatch.setattr(default_model, "WEIGHTS", out)
    monkeypatch.setattr(default_model, "ONNX_DIR", tmp_path / "no_onnx")  # these weights alone: the torch backend
    tracker = OnlineTracker.load()
    assert tracker.image_size == SIZE
    assert load_checkpoint(out).cfg.image_size == SIZE

    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (10, 48, 72, 3), dtype=np.uint8)
    xy = np.array([[10.0, 12.0], [40.5, 30.25], [60.0, 5.0]], np.float32)
    got = _stream(tracker, video, xy)
    # The same float32 computation on the fp16-rounded weights gives the same tracks bit for bit ...
    rounded = CoTracker3(SMALL).eval()
    rounded.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    assert np.array_equal(got, _stream(OnlineTracker.load(rounded, image_size=SIZE), video, xy))
    # ... and the full-precision weights nearly the same; the tracks really move off their queries.
    full = _stream(OnlineTracker.load(model, image_size=SIZE), video, xy)
    assert np.abs(got - full).max() < 0.05
    assert np.abs(full - xy).max() > 1.0


def test_no_default_weights_is_a_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "absent.pth"
    monkeypatch.setattr(default_model, "WEIGHTS", missing)
    monkeypatch.setattr(default_model, "ONNX_DIR", tmp_path / "no_onnx")
    with pytest.raises(ValueError, match="absent.pth.*pass a CoTracker3 checkpoint"):
        OnlineTracker.load()
    with pytest.raises(ValueError, match="python -m export onnx"):
        OnlineTracker.load(backend="onnxruntime")


def test_config_default_image_size(trained):
    assert "default_image_size" not in SMALL.to_dict()  # configs written before the field read the same
    assert SMALL.image_size == SMALL.model_resolution
    cfg = SMALL.replace(default_image_size=[64, 96])
    assert cfg.image_size == (64, 96) and cfg.model_resolution == SMALL.model_resolution
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    for bad in ([64], [0, 96]):
        with pytest.raises(ValueError, match="default_image_size"):
            SMALL.replace(default_image_size=bad)


def test_cli(trained, tmp_path, capsys):
    _, src = trained
    out = tmp_path / "d.pth"
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"steps": 123}))
    assert main(["package", str(src), "--out", str(out), "--image-size", "64", "96", "--card", str(card)]) == 0
    assert "64x96" in capsys.readouterr().out
    assert read_card(out) == {"steps": 123}
    assert main(["package", str(src), "--out", str(out), "--card", "[1, 2]"]) == 2
    assert "JSON object" in capsys.readouterr().err
    assert main(["package", str(src), "--out", str(out), "--image-size", "30", "30"]) == 2
    assert "image_size 30x30" in capsys.readouterr().err
