"""Shared test fixtures: where ../shared lives and the seeded published-layout weights."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from rt_edge.model import CoTracker3, ModelConfig

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"


FIXTURE = CONFORMANCE / "fixture_bear_seed0.npz"


def require(path: Path) -> Path:
    """The shared file `path`: CI (which always has ../shared) fails without it; elsewhere the test skips."""
    if not path.exists():
        msg = f"shared conformance data not found: {path} (clone the project with ../shared beside it)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def fixture_npz() -> dict:
    """fixture_bear_seed0.npz: the reference implementation's outputs on 40 frames of bear.mp4."""
    return dict(np.load(require(FIXTURE)))


@pytest.fixture(scope="session")
def seeded_weights():
    """make_state_dict(variant, seed) from the conformance folder (numpy arrays, published layout)."""
    require(CONFORMANCE / "seeded_weights.py")
    sys.path.insert(0, str(CONFORMANCE))
    try:
        from seeded_weights import make_state_dict
    finally:
        sys.path.remove(str(CONFORMANCE))
    return make_state_dict


# A tiny model of the same family for fast runtime tests (window 8, step 4).
SMALL = ModelConfig(
    window_len=8, hidden_size=64, num_heads=4, time_depth=1, space_depth=1, num_virtual_tracks=4,
    latent_dim=32, encoder_dims=(16, 16, 32, 32), encoder_hidden=32, corr_hidden=32, corr_dim=16,
)


def lively_small_model(vis_conf_bias: float | None = None) -> CoTracker3:
    """SMALL with seed-0 weights and output heads large enough that tracks move several pixels (a
    runtime that returned the queries would fail). vis_conf_bias: fill the visibility/confidence
    head's bias with it (0.2 makes about two thirds of the samples visible)."""
    torch.manual_seed(0)
    model = CoTracker3(SMALL).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for head in (model.updateformer.flow_head, model.updateformer.vis_conf_head):
            head.weight.copy_(torch.randn(head.weight.shape, generator=g) * 0.01)
        if vis_conf_bias is not None:
            model.updateformer.vis_conf_head.bias.fill_(vis_conf_bias)
    return model


@pytest.fixture(scope="module")
def one_torch_thread():
    """2 cores shared with other jobs: torch's intra-op threads spin against each other there
    (measured 220 ms vs 3 ms per small frame); one thread keeps timing steady."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# A prelude for `python -c` that makes any import of torch fail: proves a path is torch-free.
BLOCK_TORCH = textwrap.dedent(
    """
    import sys
    class _NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")
            return None
    sys.meta_path.insert(0, _NoTorch())
    """
)


def run_without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def run_command(*args) -> subprocess.CompletedProcess:
    """`python -m PACKAGE ARGS...` run in this process (no interpreter start-up), its output captured.

    For CLI tests where a subprocess would prove nothing more; torch's thread count is restored afterwards, as
    a command's --threads changes it for the process."""
    import contextlib
    import importlib
    import io

    package, *rest = map(str, args)
    main = importlib.import_module(f"{package}.__main__").main
    out, err = io.StringIO(), io.StringIO()
    threads, argv = torch.get_num_threads(), sys.argv
    sys.argv = [str(REPO / package / "__main__.py"), *rest]  # as `python -m` sets it: results record the command
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(rest)
            except SystemExit as e:  # argparse's usage errors and --help
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        torch.set_num_threads(threads)
        sys.argv = argv
    return subprocess.CompletedProcess([package, *rest], code, out.getvalue(), err.getvalue())
