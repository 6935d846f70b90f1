"""siamcan: SiamCAN single-object tracking - model, tracker, training and benchmark evaluation."""
__version__ = "0.1.0"

from .config import Config, ModelConfig, TrackerConfig, TrainConfig, load_config  # noqa: E402
from .errors import SiamcanError  # noqa: E402
from .zoo import MultiTracker, Tracker, available_models, load_model  # noqa: E402

__all__ = ["Tracker", "MultiTracker", "load_model", "available_models", "Config", "ModelConfig", "TrackerConfig", "TrainConfig",
           "load_config", "SiamcanError", "__version__"]
