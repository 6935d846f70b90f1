"""SiamCAN models: backbones, heads and the full network."""
from .siamcan import SiamCAN, TemplateState, build_model
from .weights import load_backbone_weights, load_model_weights, save_model

__all__ = ["SiamCAN", "TemplateState", "build_model", "load_backbone_weights", "load_model_weights",
           "save_model"]
