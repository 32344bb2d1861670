"""Can TensorRT 10 parse these graphs? What can be checked without TensorRT installed.

- every op is in the TensorRT 10 ONNX parser's support list (op names from onnx-tensorrt's
  docs/operators.md for the 10.x parser),
- no float64 tensors (the parser casts them down, silently losing the reason they existed),
- graph inputs/outputs dynamic only on the points axis (the optimisation profile's axis),
- with fp16, every floating initialiser fits float16's range.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

# ONNX ops the TensorRT 10 ONNX parser supports (standard domain), opsets 9-20.
TRT10_SUPPORTED_OPS = frozenset("""
Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast Ceil Celu Clip
Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DepthToSpace DequantizeLinear Div Dropout
Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool
GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample GroupNormalization GRU HardSigmoid HardSwish
Identity If ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log
LogSoftmax Loop LRN LSTM LpNormalization LpPool MatMul Max MaxPool Mean MeanVarianceNormalization Min Mod Mul
Neg NonMaxSuppression NonZero Not OneHot Or Pad ParametricSoftplus Pow PRelu QuantizeLinear RandomNormal
RandomNormalLike RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp
ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RNN
RoiAlign Round ScaledTanh Scan Scatter ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size
Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK
Transpose Trilu Unsqueeze Upsample Where Xor
""".split())

FP16_MAX = float(np.finfo(np.float16).max)
CUSTOM_DOMAIN = "rt_edge"


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def audit_graph(path: str | Path, fp16: bool = False, dynamic_ok: tuple[str, ...] = ("points",)) -> list[str]:
    """Problems that would stop or distort a TensorRT 10 build of this graph (empty: none found)."""
    model = onnx.load(str(path))
    g = onnx.shape_inference.infer_shapes(model).graph
    problems = []
    for node in g.node:
        if node.domain == CUSTOM_DOMAIN:
            continue  # implemented by the rt-edge TensorRT plugin
        if node.domain not in ("", "ai.onnx") or node.op_type not in TRT10_SUPPORTED_OPS:
            problems.append(f"op {node.domain + '::' if node.domain else ''}{node.op_type} ({node.name}) "
                            "is not supported by the TensorRT 10 ONNX parser")
    tensors = list(g.input) + list(g.output) + list(g.value_info)
    for t in tensors:
        if t.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE:
            problems.append(f"tensor {t.name} is float64")
    for t in g.initializer:
        if t.data_type == onnx.TensorProto.DOUBLE:
            problems.append(f"initializer {t.name} is float64")
        elif fp16 and t.data_type == onnx.TensorProto.FLOAT:
            a = numpy_helper.to_array(t)
            if a.size and np.abs(a).max() > FP16_MAX:
                problems.append(f"initializer {t.name} exceeds the float16 range (max |x| = {np.abs(a).max():.3g})")
    for t in list(g.input) + list(g.output):
        for d in _dims(t):
            if isinstance(d, str) and d not in dynamic_ok:
                problems.append(f"{t.name} has a dynamic axis {d!r}; only {dynamic_ok} may vary")
            if d == 0:
                problems.append(f"{t.name} has an unknown dimension")
    return problems


def audit_export(model_dir: str | Path, fp16: bool = False) -> dict[str, list[str]]:
    from rt_edge.backends.onnx_meta import read_meta

    meta = read_meta(model_dir)
    return {name: audit_graph(Path(model_dir) / g["file"], fp16=fp16) for name, g in meta["graphs"].items()}
