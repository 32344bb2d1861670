"""Per-window ONNX graphs and TensorRT engines (`python -m export onnx|trt`); depends on rt_edge."""
