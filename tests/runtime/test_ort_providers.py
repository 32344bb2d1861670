"""--device on the onnxruntime backend: the execution providers it selects, and the CPU fallback that says why."""

from __future__ import annotations

import pytest

from rt_edge.backends.onnxruntime_backend import device_providers

CPU = "CPUExecutionProvider"


def test_cpu_is_the_cpu_provider():
    assert device_providers("cpu", [CPU, "CUDAExecutionProvider"]) == [CPU]


def test_cuda_prefers_tensorrt_then_cuda_on_the_named_device():
    got = device_providers("cuda:1", [CPU, "CUDAExecutionProvider", "TensorrtExecutionProvider"])
    assert got == [("TensorrtExecutionProvider", {"device_id": "1"}), ("CUDAExecutionProvider", {"device_id": "1"}),
                   CPU]
    assert device_providers("cuda", [CPU, "CUDAExecutionProvider"]) == [("CUDAExecutionProvider",
                                                                         {"device_id": "0"}), CPU]


def test_cuda_without_a_gpu_provider_falls_back_with_one_line(capsys):
    assert device_providers("cuda", [CPU]) == [CPU]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA execution provider" in err[0] and "rt-edge[gpu]" in err[0]


def test_bad_device_is_named():
    with pytest.raises(ValueError, match="'tpu'"):
        device_providers("tpu", [CPU])
