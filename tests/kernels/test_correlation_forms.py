"""corr4d_patches (the exported graphs' correlation: row gathers of whole-pixel patches, bilinear weights on the
correlations) against the float64 oracle and the grid_sample form the torch backend runs."""

from __future__ import annotations

import pytest
import torch

from rt_edge.model.correlation import corr4d, corr4d_patches

from .test_kernels import inputs, oracle, rel_err


@pytest.mark.parametrize("radius,C,H,W", [(3, 16, 9, 12), (1, 8, 5, 7), (2, 24, 6, 6), (3, 8, 1, 1), (4, 16, 11, 4)])
def test_patches_equal_the_oracle_and_grid_sample(radius, C, H, W):
    fmap, coords, query = inputs(2, 3, 5, C, H, W, radius, seed=radius * 10 + C)
    got = corr4d_patches(fmap, coords, query, radius)
    assert got.shape == (2, 3, 5, (2 * radius + 1) ** 4)
    assert rel_err(got, oracle(fmap, coords, query, radius)) < 1e-5
    assert rel_err(got, corr4d(fmap, coords, query, radius).double().numpy()) < 1e-5


def test_patches_at_integer_positions_read_pixels_exactly():
    # on whole pixels the weights are 0/1: each tap is one feature row, dotted with one support row
    fmap, _, query = inputs(1, 2, 3, 8, 7, 9, 1, seed=3)
    coords = torch.tensor([[[0.0, 0.0], [4.0, 3.0], [8.0, 6.0]]]).expand(1, 2, 3, 2).contiguous()
    got = corr4d_patches(fmap, coords, query, 1).double().numpy()
    want = oracle(fmap, coords, query, 1)
    assert abs(got - want).max() < 1e-5
    # tap (a=0, b=0) of point 1 is pixel (x=3, y=2); query tap (0, 0) is query[0, 1, 0, 0]
    direct = (fmap[0, 0, :, 2, 3].double() * query[0, 1, 0, 0].double()).sum().item()
    assert abs(got[0, 0, 1, 0] - direct) < 1e-5
