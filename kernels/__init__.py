"""Fused 4D-correlation kernel: CUDA source, PyTorch op, TensorRT plugin, CPU reference."""
