"""rt-edge: real-time any-point tracking (CoTracker3) for robots and edge devices.

Importing this package never imports torch: the PyTorch model lives in `rt_edge.model`.
"""

from .config import ModelConfig
from .context import ContextConfig
from .session import OnlineTracker
from .tracks import Tracks

__version__ = "0.1.0"

__all__ = ["ContextConfig", "ModelConfig", "OnlineTracker", "Tracks", "__version__"]
