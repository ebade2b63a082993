"""HPKE (RFC 9180) base mode, single shot: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.

``cryptography``'s own HPKE (``cryptography.hazmat.primitives.hpke``, in recent
releases) is used when it exists; otherwise the same suite is built from its
X25519, HKDF and AES-GCM primitives (tests check both ways interoperate).
"""

import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

try:  # cryptography >= 46
    from cryptography.hazmat.primitives import hpke as _hpke
except ImportError:  # pragma: no cover - depends on the installed cryptography
    _hpke = None

__all__ = [
    "ENC_BYTES",
    "OVERHEAD",
    "HpkeRecipient",
    "HpkeSender",
    "public_key_id",
    "seal",
    "open_",
]

ENC_BYTES = 32  # X25519 encapsulated key (Nenc)
OVERHEAD = ENC_BYTES + 16  # plus the AES-GCM tag

# RFC 9180 identifiers: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
_KEM_ID, _KDF_ID, _AEAD_ID = 0x0020, 0x0001, 0x0002
_KEM_SUITE = b"KEM" + struct.pack(">H", _KEM_ID)
_HPKE_SUITE = b"HPKE" + struct.pack(">HHH", _KEM_ID, _KDF_ID, _AEAD_ID)
_MODE_BASE = b"\x00"

_SUITE = (
    _hpke.Suite(_hpke.KEM.X25519, _hpke.KDF.HKDF_SHA256, _hpke.AEAD.AES_256_GCM)
    if _hpke is not None
    else None
)


def _raw_public(pk: X25519PublicKey) -> bytes:
    return pk.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_id(public: bytes) -> bytes:
    """Public fingerprint of an X25519 public key (4 bytes, as ``Key.key_id``)."""
    return hashlib.sha256(b"skpriv/x25519-public-key-id" + public).digest()[:4]


# --------------------------------------------------------------------------
# RFC 9180, sections 4 (labeled HKDF), 4.1 (DHKEM) and 5.1 (key schedule).
# --------------------------------------------------------------------------


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, "sha256").digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), "sha256").digest()
        out += block
        counter += 1
    return out[:length]


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(
    suite: bytes, prk: bytes, label: bytes, info: bytes, length: int
) -> bytes:
    labeled = struct.pack(">H", length) + b"HPKE-v1" + suite + label + info
    return _expand(prk, labeled, length)


def _shared_secret(dh: bytes, enc: bytes, pk_r: bytes) -> bytes:
    prk = _labeled_extract(_KEM_SUITE, b"", b"eae_prk", dh)
    return _labeled_expand(_KEM_SUITE, prk, b"shared_secret", enc + pk_r, 32)


def _key_and_nonce(shared: bytes, info: bytes):
    psk_id_hash = _labeled_extract(_HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(_HPKE_SUITE, b"", b"info_hash", info)
    context = _MODE_BASE + psk_id_hash + info_hash
    secret = _labeled_extract(_HPKE_SUITE, shared, b"secret", b"")
    key = _labeled_expand(_HPKE_SUITE, secret, b"key", context, 32)
    nonce = _labeled_expand(_HPKE_SUITE, secret, b"base_nonce", context, 12)
    return AESGCM(key), nonce


def _seal_primitives(plain: bytes, pk: X25519PublicKey, info: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    enc = _raw_public(ephemeral.public_key())
    # exchange() refuses an all-zero shared secret (RFC 9180, 7.1.4).
    shared = _shared_secret(ephemeral.exchange(pk), enc, _raw_public(pk))
    aead, nonce = _key_and_nonce(shared, info)
    return enc + aead.encrypt(nonce, plain, b"")


def _open_primitives(data: bytes, sk: X25519PrivateKey, info: bytes) -> bytes:
    if len(data) < OVERHEAD:
        raise InvalidTag
    enc = data[:ENC_BYTES]
    try:
        dh = sk.exchange(X25519PublicKey.from_public_bytes(enc))
    except ValueError:  # a low-order point: all-zero shared secret
        raise InvalidTag from None
    shared = _shared_secret(dh, enc, _raw_public(sk.public_key()))
    aead, nonce = _key_and_nonce(shared, info)
    return aead.decrypt(nonce, data[ENC_BYTES:], b"")


def seal(plain: bytes, pk: X25519PublicKey, info: bytes) -> bytes:
    """``enc || ciphertext`` (RFC 9180 single-shot Seal, empty aad)."""
    if _SUITE is not None:
        return _SUITE.encrypt(plain, pk, info=info)
    return _seal_primitives(plain, pk, info)  # pragma: no cover


def open_(data: bytes, sk: X25519PrivateKey, info: bytes) -> bytes:
    """Open what :func:`seal` made; raises ``InvalidTag`` on any alteration."""
    if _SUITE is not None:
        return _SUITE.decrypt(data, sk, info=info)
    return _open_primitives(data, sk, info)  # pragma: no cover


# --------------------------------------------------------------------------
# Holders for the token kernels (see _tokens.AeadKeys): the private key
# travels as an object whose repr hides it, never as bytes in a local.
# --------------------------------------------------------------------------


class HpkeSender:
    """The public key tokens are sealed to, with its ``key_id``."""

    __slots__ = ("key_id", "_public")

    can_decrypt = False

    def __init__(self, public: bytes):
        self._public = public
        self.key_id = public_key_id(public)

    def public(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(self._public)

    def __repr__(self):
        return f"HpkeSender(key_id={self.key_id.hex()!r})"


class HpkeRecipient(HpkeSender):
    """A private key that opens tokens (and seals to its own public key)."""

    __slots__ = ("_private",)

    can_decrypt = True

    def __init__(self, private: X25519PrivateKey):
        self._private = private
        super().__init__(_raw_public(private.public_key()))

    def private(self) -> X25519PrivateKey:
        return self._private

    def __reduce__(self):
        # joblib workers (n_jobs) get the key in memory, as AeadKeys' subkeys.
        return (_recipient, (self._private.private_bytes_raw(),))

    def __repr__(self):
        return f"HpkeRecipient(key_id={self.key_id.hex()!r}, <hidden>)"


def _recipient(raw: bytes) -> HpkeRecipient:
    return HpkeRecipient(X25519PrivateKey.from_private_bytes(raw))
