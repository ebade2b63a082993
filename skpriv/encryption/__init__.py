"""Keys, column encryption, encrypted models and encrypted files."""

from ._column import ColumnEncryptor
from ._envelope import dump, load
from ._estimator import EncryptedEstimator
from ._key import Key

__all__ = ["ColumnEncryptor", "EncryptedEstimator", "Key", "dump", "load"]
