"""Differentially private neural networks: skorch estimators trained by DP-SGD.

Needs the ``torch`` extra (torch, skorch, Opacus): ``pip install skpriv[torch]``.
"""

try:
    import opacus  # noqa: F401
    import skorch  # noqa: F401
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        f"skpriv.neural_network needs torch, skorch and opacus ({exc}). Install "
        f"them with: pip install skpriv[torch]"
    ) from exc

from ._classifier import DPNeuralNetClassifier
from ._regressor import DPNeuralNetRegressor

__all__ = ["DPNeuralNetClassifier", "DPNeuralNetRegressor"]
