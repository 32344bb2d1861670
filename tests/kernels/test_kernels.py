"""kernels/: the rt_edge::corr4d op (CPU reference vs the model and a float64 oracle), the CMake/nvcc build of the
CUDA sources and its C++ test, the CUDA path (GPU only), and the --corr4d-plugin ONNX export."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from kernels.build import LIB_NAME, TEST_NAME, build, missing_tools
from kernels.op import corr4d, corr4d_op
from rt_edge.model.correlation import corr4d as model_corr4d

from ..conftest import REPO, SMALL, run_command
from ..conftest import BLOCK_TORCH


def oracle(fmap, coords, query, radius: int) -> np.ndarray:
    """float64 numpy from the semantics: tap (a, b) at (x + a - r, y + b - r) clamped into the map, bilinear with
    pixel centres at integers, dotted with query tap (a', b'); output index (a K + b) K^2 + a' K + b'."""
    f = np.asarray(fmap, np.float64).transpose(0, 1, 3, 4, 2)  # B T H W C
    xy, q = np.asarray(coords, np.float64), np.asarray(query, np.float64)
    B, T, H, W, C = f.shape
    N, K = xy.shape[2], 2 * radius + 1
    d = np.arange(-radius, radius + 1, dtype=np.float64)
    x = np.clip(np.broadcast_to(xy[..., 0, None, None] + d[:, None], (B, T, N, K, K)), 0, W - 1)
    y = np.clip(np.broadcast_to(xy[..., 1, None, None] + d[None, :], (B, T, N, K, K)), 0, H - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]
    b = np.arange(B)[:, None, None, None, None]
    t = np.arange(T)[None, :, None, None, None]
    s = (1 - wy) * ((1 - wx) * f[b, t, y0, x0] + wx * f[b, t, y0, x1]) \
        + wy * ((1 - wx) * f[b, t, y1, x0] + wx * f[b, t, y1, x1])
    out = np.einsum("btnic,bnjc->btnij", s.reshape(B, T, N, K * K, C), q.reshape(B, N, K * K, C))
    return out.reshape(B, T, N, K**4)


def rel_err(got, want: np.ndarray) -> float:
    """max |got - want| / max |want|."""
    return float(np.abs(np.asarray(got, np.float64) - want).max() / np.abs(want).max())


def inputs(B, T, N, C, H, W, radius, seed=0, dtype=torch.float32):
    """Random fmap / query; coords sub-pixel, inside, just outside and far outside the map."""
    g = torch.Generator().manual_seed(seed)
    K = 2 * radius + 1
    fmap = torch.randn(B, T, C, H, W, generator=g)
    query = torch.randn(B, N, K, K, C, generator=g)
    coords = torch.rand(B, T, N, 2, generator=g) * torch.tensor([W + 6.0, H + 6.0]) - 3.0
    coords[:, :, 0] = torch.tensor([-25.3, H + 40.7])  # far outside: every tap reads the border
    return fmap.to(dtype), coords, query.to(dtype)


# ---------------------------------------------------------------------------------------------- CPU op
@pytest.mark.parametrize("radius,C,H,W", [(3, 16, 9, 12), (1, 8, 5, 7), (2, 24, 6, 6), (3, 8, 1, 1), (4, 16, 11, 4)])
def test_cpu_op_equals_model_path_and_float64_oracle(radius, C, H, W):
    fmap, coords, query = inputs(2, 3, 5, C, H, W, radius, seed=radius * 100 + C)
    got = corr4d(fmap, coords, query, radius)
    assert got.shape == (2, 3, 5, (2 * radius + 1) ** 4) and got.dtype == torch.float32
    assert torch.allclose(got, model_corr4d(fmap, coords, query, radius), rtol=0, atol=1e-6)
    assert rel_err(got, oracle(fmap, coords, query, radius)) < 1e-5


def test_layout_on_a_ramp_by_hand():
    """Channel 0 holds x and channel 1 holds y: bilinear sampling reproduces them exactly, clamped at the border,
    so with one-hot query rows the output spells out each tap's clamped position in the documented order."""
    H, W, r, K = 6, 9, 1, 3
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32),
                            indexing="ij")
    fmap = torch.zeros(1, 1, 8, H, W)
    fmap[0, 0, 0], fmap[0, 0, 1] = xx, yy
    query = torch.zeros(1, 2, K, K, 8)
    query[:, :, 0, 0, 0] = 1.0  # query tap j = 0 reads channel 0 (x)
    query[:, :, 0, 1, 1] = 1.0  # query tap j = 1 reads channel 1 (y)
    coords = torch.tensor([[[[2.25, 3.5], [0.5, 5.75]]]])
    out = corr4d(fmap, coords, query, r).reshape(2, K * K, K * K)
    for n, (x, y) in enumerate(coords[0, 0].tolist()):
        for a in range(K):
            for b in range(K):
                i = a * K + b  # first index steps x
                assert out[n, i, 0].item() == pytest.approx(min(max(x + a - r, 0), W - 1), abs=1e-6)
                assert out[n, i, 1].item() == pytest.approx(min(max(y + b - r, 0), H - 1), abs=1e-6)


def test_cpu_op_keeps_gradients_of_the_reference():
    fmap, coords, query = inputs(1, 2, 3, 8, 5, 6, 1, seed=3)
    grads = []
    for fn in (corr4d, model_corr4d):
        f, q = fmap.clone().requires_grad_(), query.clone().requires_grad_()
        (fn(f, coords, q, 1) ** 2).sum().backward()
        grads.append((f.grad, q.grad))
    assert torch.allclose(grads[0][0], grads[1][0]) and torch.allclose(grads[0][1], grads[1][1])
    assert grads[0][0].abs().sum() > 0 and grads[0][1].abs().sum() > 0


def test_op_registration_passes_opcheck():
    fmap, coords, query = inputs(1, 2, 3, 8, 5, 6, 1, seed=4)
    torch.library.opcheck(corr4d_op, (fmap, coords, query, 1))


@pytest.mark.parametrize("case,match", [
    (dict(C=12), "multiple of 8"),
    (dict(query_shape=(1, 3, 5, 5, 8)), "query_feats must be"),
    (dict(coords_shape=(1, 2, 3, 3)), "coords must be"),
    (dict(fmap_shape=(2, 5, 6, 8)), "fmap must be"),
    (dict(query_dtype=torch.float64), "dtype"),
    (dict(radius=-1), "radius"),
])
def test_bad_inputs_are_value_errors(case, match):
    C = case.get("C", 8)
    fmap = torch.zeros(case.get("fmap_shape", (1, 2, C, 5, 6)))
    coords = torch.zeros(case.get("coords_shape", (1, 2, 3, 2)))
    query = torch.zeros(case.get("query_shape", (1, 3, 3, 3, C)), dtype=case.get("query_dtype", torch.float32))
    with pytest.raises(ValueError, match=match):
        corr4d(fmap, coords, query, case.get("radius", 1))


def test_kernels_build_helpers_do_not_import_torch():
    code = BLOCK_TORCH + "import kernels, kernels.build; kernels.build.missing_tools()"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------------------------------------- CMake build
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The CMake project built for one architecture to keep CI time down (sm_90 without a GPU, else the GPU's);
    the project's default is 87;89;90."""
    missing = missing_tools()
    if missing:
        msg = f"cannot build the CUDA sources: {', '.join(missing)} not installed"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    arch = "".join(map(str, torch.cuda.get_device_capability())) if torch.cuda.is_available() else "90"
    return build(tmp_path_factory.mktemp("kernels_build"), archs=arch, jobs=2)


def test_cmake_build_and_cpp_test(built):
    assert (built / LIB_NAME).is_file()
    r = subprocess.run([str(built / TEST_NAME)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    if not torch.cuda.is_available():
        assert r.stdout.strip() == "no CUDA device: skipped"
    else:
        assert " 0 of " in r.stdout and "FAIL" not in r.stdout


def test_library_c_api_checks_arguments_without_a_device(built):
    lib = ctypes.CDLL(str(built / LIB_NAME))
    lib.rt_edge_corr4d.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int32] * 7 + [ctypes.c_int64] * 2 + \
        [ctypes.c_int32] * 4 + [ctypes.c_void_p]
    lib.rt_edge_corr4d_status_string.restype = ctypes.c_char_p
    assert lib.rt_edge_corr4d_abi_version() == 1
    call = lambda C, radius, dtype, coords_dtype: lib.rt_edge_corr4d(  # noqa: E731
        None, None, None, None, 1, 2, 3, C, 4, 5, radius, 0, 0, dtype, coords_dtype, 0, -1, None)
    assert call(12, 3, 0, 0) == 1  # C not a multiple of 8
    assert call(16, -1, 0, 0) == 1  # negative radius
    assert call(16, 3, 1, 2) == 2  # coords neither float32 nor the feature type
    assert b"multiple of 8" in lib.rt_edge_corr4d_status_string(1)


# ---------------------------------------------------------------------------------------------- CUDA op
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float16, 1e-2), (torch.bfloat16, 1e-2)])
def test_cuda_op_matches_oracle(built, monkeypatch, dtype, tol):
    from kernels.op import ALGOS, launch

    monkeypatch.setenv("RT_EDGE_KERNELS_LIB", str(built / LIB_NAME))
    for radius, C in [(3, 128), (1, 40), (4, 16), (5, 8)]:
        fmap, coords, query = inputs(2, 5, 37, C, 13, 17, radius, seed=C + radius)
        fmap, query = fmap.to(dtype), query.to(dtype)
        want = oracle(fmap.float(), coords, query.float(), radius)
        dev = [t.cuda() for t in (fmap, coords, query)]
        assert rel_err(corr4d(*dev, radius).float().cpu(), want) < tol
        for algo in ALGOS:
            if algo == "mma" and (dtype == torch.float32 or torch.cuda.get_device_capability()[0] < 8):
                continue
            if algo in ("simt", "mma") and not 1 <= radius <= 4:
                continue
            out = torch.full((2, 5, 37, (2 * radius + 1) ** 4), float("nan"), dtype=dtype, device="cuda")
            launch(*dev, radius, out, algo=algo)
            assert torch.isfinite(out).all(), algo
            assert rel_err(out.float().cpu(), want) < tol, algo


# ---------------------------------------------------------------------------------------------- ONNX export
@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A tiny model exported without (in-process) and with --corr4d-plugin (through the CLI)."""
    pytest.importorskip("onnx")
    from export.to_onnx import export_onnx
    from rt_edge.model import CoTracker3

    tmp = tmp_path_factory.mktemp("corr4d_onnx")
    torch.manual_seed(0)
    model = CoTracker3(SMALL).eval()
    ckpt = tmp / "small.pth"
    torch.save({"model": model.state_dict(), "config": SMALL.to_dict()}, ckpt)
    export_onnx(model, tmp / "plain", image_size=(64, 64), iters=2, max_points=8)
    r = run_command("export", "onnx", "--checkpoint", str(ckpt), "--out", str(tmp / "plugin"),
                        "--image-size", "64", "64", "--iters", "2", "--max-points", "8", "--corr4d-plugin")
    assert r.returncode == 0, r.stderr[-3000:]
    return tmp / "plain", tmp / "plugin"


def _custom_nodes(path) -> list:
    import onnx

    return [n for n in onnx.load(str(path)).graph.node if n.domain not in ("", "ai.onnx")]


def test_plugin_export_has_corr4d_nodes_and_passes_the_audit(exports):
    import json

    from export.trt_audit import audit_export

    plain, plugin = exports
    nodes = _custom_nodes(plugin / "window_step.onnx")
    assert len(nodes) == 2 * SMALL.corr_levels  # one per level and iteration
    assert all(n.domain == "rt_edge" and n.op_type == "Corr4D" for n in nodes)
    attrs = {a.name: (a.i if a.type == a.INT else a.s.decode()) for a in nodes[0].attribute}
    assert attrs == {"radius": SMALL.corr_radius, "plugin_version": "1", "plugin_namespace": "rt_edge"}
    assert not _custom_nodes(plugin / "encoder.onnx") and not _custom_nodes(plugin / "query.onnx")
    assert json.loads((plugin / "meta.json").read_text())["corr4d_plugin"] is True
    assert audit_export(plugin) == {"encoder": [], "query": [], "window_step": [], "frame_step": []}
    for graph in ("encoder", "query", "window_step"):
        assert not _custom_nodes(plain / f"{graph}.onnx")


def test_plugin_graph_with_the_oracle_as_corr4d_equals_the_standard_graph(exports):
    """Evaluating the plugin graph with Corr4D implemented by the float64 oracle reproduces the standard-ops graph
    (run by onnxruntime): the node's inputs, attribute and output layout are what the op's contract says."""
    import json

    import onnx
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    class Corr4D(OpRun):
        op_domain = "rt_edge"

        def _run(self, fmap, coords, query, radius=None, plugin_version=None, plugin_namespace=None):
            return (oracle(fmap, coords, query, radius).astype(fmap.dtype),)

    plain, plugin = exports
    spec = json.loads((plain / "meta.json").read_text())["graphs"]["window_step"]["inputs"]
    rng = np.random.default_rng(0)
    feeds = {k: rng.standard_normal([5 if isinstance(d, str) else d for d in s]).astype(np.float32)
             for k, s in spec.items()}
    feeds["coords"] = (rng.random(feeds["coords"].shape) * 70 - 3).astype(np.float32)
    feeds["active"] = np.ones_like(feeds["active"])
    want = ort.InferenceSession(str(plain / "window_step.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = ReferenceEvaluator(onnx.load(str(plugin / "window_step.onnx")), new_ops=[Corr4D]).run(None, feeds)
    for w, g in zip(want, got, strict=True):
        assert np.abs(w - g).max() <= 1e-4 * max(1.0, np.abs(w).max())
