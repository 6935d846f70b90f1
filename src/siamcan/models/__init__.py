"""SiamCAN models: backbones, heads and the full networks (r50 / lite: SiamCAN; nano: NanoTrack v3 + SiamCAN)."""
from .build import build_model, check_tracker_fits, network_score_size
from .siamcan import SiamCAN, TemplateState
from .weights import load_backbone_weights, load_model_weights, save_model

__all__ = ["SiamCAN", "TemplateState", "build_model", "check_tracker_fits", "load_backbone_weights",
           "load_model_weights", "network_score_size", "save_model"]
