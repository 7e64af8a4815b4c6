"""Alert families: one module per way of writing alerts, and `registry.family_of` to pick one."""

from .base import AlertSummary, Family, History, LightPoint
from .registry import FAMILIES, by_name, family_of

__all__ = ["FAMILIES", "AlertSummary", "Family", "History", "LightPoint", "by_name", "family_of"]
