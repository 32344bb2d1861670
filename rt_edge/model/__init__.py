"""The PyTorch CoTracker3 (needs torch): model pieces, whole-clip tracking, checkpoint loading."""

from ..config import ModelConfig
from .checkpoint import load_checkpoint
from .correlation import corr4d
from .cotracker3 import CoTracker3
from .tracking import WindowPrediction, track, window_starts

__all__ = ["CoTracker3", "ModelConfig", "WindowPrediction", "corr4d", "load_checkpoint", "track", "window_starts"]
