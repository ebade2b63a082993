"""Plots of the privacy–utility trade-off (matplotlib is imported lazily)."""

from ._privacy_utility import PrivacyUtilityDisplay

__all__ = ["PrivacyUtilityDisplay"]
