"""Differentially private synthetic data: MST and AIM with a scikit-learn face.

``fit`` measures noisy marginals of a private table (Gaussian noise on a
power-of-two grid; marginals chosen privately: MST by report noisy max with
grid Laplace noise, AIM by the exponential mechanism under a zCDP filter),
fits a graphical model to them with Private-PGM (the ``mbi``
package, the ``skpriv[synth]`` extra, imported on first fit) and ``sample``
draws rows of the same type, columns and dtypes. ``evaluate`` compares a
synthetic table with the real one.
"""

from importlib.util import find_spec

# Like skpriv.neural_network: the subpackage needs its extra, and says so on
# import (finding the package does not import it or JAX).
if find_spec("mbi") is None:
    raise ImportError(
        "skpriv.synthetic needs the Private-PGM package 'mbi' (and JAX): "
        "pip install 'skpriv[synth]'."
    )

from ._aim import AIMSynthesizer  # noqa: E402
from ._evaluate import SyntheticQualityReport, evaluate  # noqa: E402
from ._mst import MSTSynthesizer  # noqa: E402

__all__ = ["AIMSynthesizer", "MSTSynthesizer", "SyntheticQualityReport", "evaluate"]
