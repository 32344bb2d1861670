"""rt_edge.evaluation.trackers.rt_edge_predictor: a torch checkpoint path is loaded once, not per clip."""

from __future__ import annotations

import numpy as np
import torch

import rt_edge.model
from rt_edge.evaluation.trackers import rt_edge_predictor
from rt_edge.model import CoTracker3
from training import checkpoints

from ..conftest import SMALL


def test_a_checkpoint_path_is_loaded_once_for_every_clip(tmp_path, monkeypatch, one_torch_thread):
    torch.manual_seed(0)
    path = tmp_path / "small.pth"
    checkpoints.save(path, CoTracker3(SMALL), None, 0)
    loads = []
    real = rt_edge.model.load_checkpoint

    def counting(src, *a, **kw):
        loads.append(str(src))
        return real(src, *a, **kw)

    monkeypatch.setattr(rt_edge.model, "load_checkpoint", counting)
    predict = rt_edge_predictor(str(path), iters=1, image_size=(32, 32), backward=False)
    video = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    queries = np.array([[0, 10.0, 12.0], [2, 20.0, 5.0]])
    first, _ = predict(video, queries)
    second, _ = predict(video, queries)
    assert loads == [str(path)]  # loaded when the predictor was made, reused by both clips
    assert first.shape == (2, 8, 2) and np.array_equal(first, second)
