"""Export option `--corr4d-plugin`: each correlation becomes one custom-domain ONNX node rt_edge::Corr4D.

The node is what the TensorRT plugin in kernels/csrc/plugin implements (name Corr4D, version 1, namespace
rt_edge; the ONNX parser reads plugin_version / plugin_namespace from the node's attributes and hands `radius`
to the plugin creator). Inputs fmap (B, T, C, H, W), coords (B, T, N, 2), query_feats (B, N, K, K, C); output
(B, T, N, K^4). Such graphs run only where the plugin is loaded (TensorRT), not on onnxruntime; without the
option the export stays standard-ops-only.

Mechanism (legacy TorchScript exporter, dynamo=False): while tracing, window_step's correlation is routed through
the PyTorch custom op torch.ops.rt_edge.corr4d (whose CPU implementation is the reference path, so traced values
are unchanged), and a symbolic registered for that op emits the custom node.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from unittest import mock

import torch

DOMAIN = "rt_edge"
OP_TYPE = "Corr4D"
PLUGIN_VERSION = "1"
_TORCH_OP = "rt_edge::corr4d"


def _symbolic(g, fmap, coords, query_feats, radius):
    """TorchScript -> ONNX: one rt_edge::Corr4D node with output type (B, T, N, K^4) in fmap's element type."""
    from torch.onnx import symbolic_helper

    r = symbolic_helper._maybe_get_const(radius, "i")
    if not isinstance(r, int):
        raise ValueError(f"rt_edge::Corr4D needs a constant radius, got {radius}")
    out = g.op(f"{DOMAIN}::{OP_TYPE}", fmap, coords, query_feats, radius_i=r, plugin_version_s=PLUGIN_VERSION,
               plugin_namespace_s=DOMAIN)
    f_sizes, c_sizes = symbolic_helper._get_tensor_sizes(fmap), symbolic_helper._get_tensor_sizes(coords)
    if f_sizes and c_sizes:
        out.setType(fmap.type().with_sizes([f_sizes[0], f_sizes[1], c_sizes[2], (2 * r + 1) ** 4]))
    return out


def _traced_corr4d(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    return torch.ops.rt_edge.corr4d(fmap, coords, query_feats, radius)


@contextlib.contextmanager
def corr4d_as_custom_node(opset: int) -> Iterator[None]:
    """Inside: models traced for ONNX (opset `opset`) emit rt_edge::Corr4D nodes for their correlations."""
    import kernels.op  # noqa: F401  (registers torch.ops.rt_edge.corr4d)
    import rt_edge.model.cotracker3 as cotracker3

    torch.onnx.register_custom_op_symbolic(_TORCH_OP, _symbolic, opset)
    try:
        with mock.patch.object(cotracker3, "corr4d_auto", _traced_corr4d):
            yield
    finally:
        torch.onnx.unregister_custom_op_symbolic(_TORCH_OP, opset)


def count_corr4d_nodes(model) -> int:
    """Number of rt_edge::Corr4D nodes in an onnx.ModelProto's main graph."""
    return sum(1 for n in model.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE)
