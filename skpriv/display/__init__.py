"""Plots of the privacy–utility trade-off and of synthetic-data quality.

matplotlib is imported lazily, when a plot is drawn.
"""

from ._privacy_utility import PrivacyUtilityDisplay
from ._synthetic import SyntheticQualityDisplay

__all__ = ["PrivacyUtilityDisplay", "SyntheticQualityDisplay"]
