"""skpriv: privacy-preserving machine learning as drop-in scikit-learn parts."""

__version__ = "0.1.0.dev0"
