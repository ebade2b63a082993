"""Differentially private synthetic data: MST and AIM with a scikit-learn face.

``fit`` measures noisy marginals of a private table (Gaussian noise on a
power-of-two grid; marginals chosen by report noisy max with grid Laplace
noise), fits a graphical model to them with Private-PGM (the ``mbi``
package, the ``skpriv[synth]`` extra, imported on first fit) and ``sample``
draws rows of the same type, columns and dtypes. ``evaluate`` compares a
synthetic table with the real one.
"""

from ._aim import AIMSynthesizer
from ._evaluate import SyntheticQualityReport, evaluate
from ._mst import MSTSynthesizer

__all__ = ["AIMSynthesizer", "MSTSynthesizer", "SyntheticQualityReport", "evaluate"]
