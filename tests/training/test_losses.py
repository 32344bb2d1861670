"""training.losses against values worked out by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from rt_edge.model import WindowPrediction
from training.losses import confidence_loss, huber, sequence_losses, track_loss, visibility_loss


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_huber_is_quadratic_then_linear_at_6():
    d = _t([0.0, 3.0, 6.0, 10.0, -10.0])
    # 0.5 d^2 for |d| <= 6; 6 (|d| - 3) beyond: 0, 4.5, 18, 42, 42
    assert huber(d, torch.zeros_like(d)).tolist() == [0.0, 4.5, 18.0, 42.0, 42.0]


def test_track_loss_weights_occluded_points_by_a_fifth_and_iterations_by_gamma():
    gt = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    visible = torch.tensor([[[True, False]]])
    valid = torch.ones(1, 1, 2, dtype=torch.bool)
    # iteration 1: point 0 off by (2, 0) -> huber mean over x,y = (2 + 0)/2 = 1; point 1 off by (0, 10) -> 42/2 = 21
    it1 = _t([[[[2.0, 0.0], [0.0, 10.0]]]])
    # iteration 2: point 0 off by (1, 1) -> 0.5; point 1 exact -> 0
    it2 = _t([[[[1.0, 1.0], [0.0, 0.0]]]])
    w_vis, w_occ = 1.0, 0.2
    iter1 = (w_vis * 1.0 + w_occ * 21.0) / (w_vis + w_occ)
    iter2 = (w_vis * 0.5 + w_occ * 0.0) / (w_vis + w_occ)
    expected = 0.8 * iter1 + 1.0 * iter2
    assert track_loss([it1, it2], gt, visible, valid).item() == pytest.approx(expected, rel=1e-12)
    # a pair outside `valid` does not count at all
    valid2 = torch.tensor([[[True, False]]])
    assert track_loss([it1, it2], gt, visible, valid2).item() == pytest.approx(0.8 * 1.0 + 0.5, rel=1e-12)


def test_confidence_target_is_within_12_px_of_ground_truth():
    gt = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    coords = _t([[[[11.9, 0.0], [0.0, 12.1]]]])  # first inside 12 px, second outside
    logits = _t([[[0.0, 2.0]]])
    valid = torch.ones(1, 1, 2, dtype=torch.bool)
    sig = 1 / (1 + math.exp(-2.0))
    expected = (-math.log(0.5) + -math.log(1 - sig)) / 2  # targets 1 and 0
    assert confidence_loss([coords], [logits], gt, valid).item() == pytest.approx(expected, rel=1e-12)


def test_visibility_bce_per_iteration():
    visible = torch.tensor([[[True, False]]])
    valid = torch.ones(1, 1, 2, dtype=torch.bool)
    l1, l2 = _t([[[1.0, -1.0]]]), _t([[[0.0, 0.0]]])
    s = 1 / (1 + math.exp(-1.0))
    it1 = (-math.log(s) - math.log(1 - (1 - s))) / 2  # both right with p = sigmoid(1)
    it2 = -math.log(0.5)
    assert visibility_loss([l1, l2], visible, valid).item() == pytest.approx(0.8 * it1 + it2, rel=1e-12)


def test_online_windows_count_each_point_from_its_query_frame():
    """Two windows of 4 frames (starts 0, 2); point 1 is queried at frame 3. Window 0 only scores point 1
    on frame 3; perturbing point 1 on frames 0..2 must not change the loss."""
    T, N = 6, 2
    gt = torch.zeros(1, T, N, 2, dtype=torch.float64)
    visible = torch.ones(1, T, N, dtype=torch.bool)
    q = torch.tensor([[0, 3]])

    def windows(early_err):
        c0 = torch.zeros(1, 4, N, 2, dtype=torch.float64)
        c0[0, :3, 1] = early_err
        zeros = torch.zeros(1, 4, N, dtype=torch.float64)
        c1 = torch.full((1, 4, N, 2), 1.0, dtype=torch.float64)
        return [WindowPrediction(0, [c0], [zeros], [zeros]), WindowPrediction(2, [c1], [zeros], [zeros])]

    a = sequence_losses(windows(0.0), gt, visible, q, online=True)
    b = sequence_losses(windows(50.0), gt, visible, q, online=True)
    assert a["track"].item() == b["track"].item()
    # window 0 exact (0), window 1 off by (1,1) everywhere -> huber 0.5; mean over windows = 0.25
    assert a["track"].item() == pytest.approx(0.25, rel=1e-12)
    off = sequence_losses(windows(50.0), gt, visible, q, online=False)  # offline-style: every frame counts
    assert off["track"].item() > a["track"].item()
    assert a["total"].item() == pytest.approx(sum(a[k].item() for k in ("track", "confidence", "visibility")))


def test_sequence_losses_pass_the_huber_threshold_to_the_track_loss():
    """One window, one visible point off by (3, 0): Huber mean over x, y is 0.5*9/2 = 2.25 at the paper's
    6 px threshold, and 1*(3 - 0.5)/2 = 1.25 at a 1 px threshold."""
    gt = torch.zeros(1, 1, 1, 2, dtype=torch.float64)
    visible = torch.ones(1, 1, 1, dtype=torch.bool)
    zeros = torch.zeros(1, 1, 1, dtype=torch.float64)
    w = [WindowPrediction(0, [_t([[[[3.0, 0.0]]]])], [zeros], [zeros])]
    q = torch.tensor([[0]])
    assert sequence_losses(w, gt, visible, q, online=True)["track"].item() == pytest.approx(2.25, rel=1e-12)
    assert sequence_losses(w, gt, visible, q, online=True, delta=1.0)["track"].item() == pytest.approx(1.25, rel=1e-12)
