"""Keys, column encryption, encrypted models, encrypted inference and files."""

from ._column import ColumnEncryptor
from ._envelope import dump, load
from ._estimator import EncryptedEstimator
from ._he import EncryptedRows, HEModel
from ._key import Key
from ._keypair import KeyPair, PublicKey

__all__ = [
    "ColumnEncryptor",
    "EncryptedEstimator",
    "EncryptedRows",
    "HEModel",
    "Key",
    "KeyPair",
    "PublicKey",
    "dump",
    "load",
]
