"""Re-export: the label-set helper lives in skpriv.utils._classes."""

from ..utils._classes import encode_classes

__all__ = ["encode_classes"]
