"""The one backbone registry: ``model.backbone`` names (``siamcan.config.BACKBONES``) -> classes. Both networks
(:mod:`.siamcan`, :mod:`.nano`) look their backbone up here."""
from __future__ import annotations

from .efficientnet_lite import EfficientNetLite0
from .mobilenetv3 import MobileNetV3Nano
from .resnet import ResNet50

BACKBONES = {"resnet50": ResNet50, "efficientnet_lite0": EfficientNetLite0, "mobilenetv3_nano": MobileNetV3Nano}
