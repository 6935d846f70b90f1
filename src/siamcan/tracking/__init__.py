"""Tracking: crops, inference engines, the SiamCAN tracker and frame sources."""
from .tracker import SiamCANTracker

__all__ = ["SiamCANTracker"]
