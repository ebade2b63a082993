"""Vectorized crypto kernels over columns: keyed pseudonyms and AEAD tokens.

Each kernel takes a list of values and raw key material and returns a list
(or bytes); :func:`map_chunks` runs a kernel over chunks in joblib workers.
"""

import base64
import binascii
import hashlib
import math
import os
from numbers import Integral, Real

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from joblib import Parallel, delayed, effective_n_jobs

from ..exceptions import DecryptionError

__all__ = [
    "hmac_hex",
    "is_missing",
    "map_chunks",
    "decrypt_tokens",
    "encrypt_values",
    "to_text",
]

_MIN_CHUNK = 50_000
_DET, _RAND = b"\x01", b"\x02"
_NONCE = 12


def is_missing(column: np.ndarray) -> np.ndarray:
    """Boolean mask of None / NaN / NaT / pd.NA cells of a 1-D array."""
    column = np.asarray(column)
    if column.dtype.kind in "fc":
        return np.isnan(column)
    if column.dtype.kind == "M":
        return np.isnat(column)
    if column.dtype.kind != "O":
        return np.zeros(column.shape, dtype=bool)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        return np.fromiter(
            (v is None or (isinstance(v, float) and v != v) for v in column),
            dtype=bool,
            count=len(column),
        )
    return np.asarray(pd.isna(column), dtype=bool)


def to_text(values) -> list:
    """Values as str: strings unchanged, numpy scalars as their Python value."""
    return [v if type(v) is str else _scalar_text(v) for v in values]


def _scalar_text(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, np.generic):
        v = v.item()
    return str(v)


def map_chunks(func, values: list, n_jobs, *args):
    """``func(values, *args)``, split across ``n_jobs`` joblib workers.

    Small inputs (under 50,000 values per worker) run in this process.
    ``func(chunk, start, *args)`` gets each chunk with its start position
    and returns a list or bytes; the chunk results are concatenated.
    """
    n_workers = effective_n_jobs(n_jobs) if n_jobs is not None else 1
    n_workers = max(1, min(n_workers, len(values) // _MIN_CHUNK))
    if n_workers == 1:
        return func(values, 0, *args)
    step = math.ceil(len(values) / n_workers)
    chunks = [(i, values[i : i + step]) for i in range(0, len(values), step)]
    parts = Parallel(n_jobs=n_workers)(
        delayed(func)(chunk, start, *args) for start, chunk in chunks
    )
    if isinstance(parts[0], bytes):
        return b"".join(parts)
    out = []
    for part in parts:
        out.extend(part)
    return out


# --------------------------------------------------------------------------
# Keyed pseudonyms: HMAC-SHA256 (RFC 2104) with precomputed pad states.
# --------------------------------------------------------------------------


def _hmac_digests(texts: list, start: int, key: bytes, n_bytes: int) -> bytes:
    """Concatenated first ``n_bytes`` of HMAC-SHA256(key, utf8(text))."""
    # Copying the hashed inner/outer pad blocks skips re-hashing the key per
    # value: the same result as hmac.new(key, msg, sha256), ~1.5x faster.
    block = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block)).copy
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block)).copy
    out = bytearray()
    extend = out.extend
    for text in texts:
        h = inner()
        h.update(text.encode("utf-8", "surrogatepass"))
        o = outer()
        o.update(h.digest())
        extend(o.digest()[:n_bytes])
    return bytes(out)


def hmac_hex(texts: list, key: bytes, length: int, n_jobs=None) -> np.ndarray:
    """Lower-case hexadecimal HMAC-SHA256 pseudonyms, ``length`` characters."""
    n_bytes = (length + 1) // 2
    digests = map_chunks(_hmac_digests, texts, n_jobs, key, n_bytes)
    hexed = np.frombuffer(digests.hex().encode("ascii"), dtype=f"S{2 * n_bytes}")
    return hexed.astype(f"U{length}").astype(object)


# --------------------------------------------------------------------------
# AEAD tokens. Token = urlsafe_b64(mode | key_id (4) | [nonce] | ciphertext).
# The plaintext starts with a type byte so that inverse_transform restores
# str, bytes, int, float and bool values exactly.
# --------------------------------------------------------------------------


def _encode_value(v) -> bytes:
    if isinstance(v, str):
        return b"s" + v.encode("utf-8", "surrogatepass")
    if isinstance(v, (bool, np.bool_)):
        return b"?1" if v else b"?0"
    if isinstance(v, Integral):
        return b"i" + str(int(v)).encode("ascii")
    if isinstance(v, Real):
        return b"f" + repr(float(v)).encode("ascii")
    if isinstance(v, (bytes, bytearray)):
        return b"b" + bytes(v)
    raise TypeError(
        f"ColumnEncryptor encrypts str, bytes, int, float and bool values; got "
        f"{type(v).__name__}. Convert the column to str first."
    )


def _decode_value(plain: bytes):
    tag, body = plain[:1], plain[1:]
    if tag == b"s":
        return body.decode("utf-8", "surrogatepass")
    if tag == b"i":
        return int(body)
    if tag == b"f":
        return float(body)
    if tag == b"?":
        return body == b"1"
    if tag == b"b":
        return body
    raise DecryptionError("A token decrypted to an unknown value type.")


def encrypt_values(
    values: list, start: int, material: dict, deterministic: bool, ad
) -> list:
    """Encrypt values to str tokens with the newest key.

    ``material``: ``{"key_id": 4 bytes, "siv": 64 bytes, "gcm": 32 bytes}``;
    ``ad``: associated data (bytes) bound to every token, or None.
    """
    kid = material["key_id"]
    b64 = base64.urlsafe_b64encode
    plains = [
        b"s" + v.encode("utf-8", "surrogatepass")
        if type(v) is str
        else _encode_value(v)
        for v in values
    ]
    if deterministic:
        header = _DET + kid
        encrypt = AESSIV(material["siv"]).encrypt
        ads = [header, ad] if ad else [header]
        return [b64(header + encrypt(p, ads)).decode("ascii") for p in plains]
    header = _RAND + kid
    encrypt = AESGCM(material["gcm"]).encrypt
    full_ad = header + ad if ad else header
    # One CSPRNG call for all nonces; 96-bit random nonces collide with
    # probability < 2^-32 up to 2^32 values per key (NIST SP 800-38D).
    nonces = os.urandom(_NONCE * len(plains))
    out = []
    for i, p in enumerate(plains):
        nonce = nonces[_NONCE * i : _NONCE * (i + 1)]
        out.append(b64(header + nonce + encrypt(nonce, p, full_ad)).decode("ascii"))
    return out


def _raw_token(token) -> bytes:
    """Strict, canonical URL-safe base64 decoding of one token."""
    if type(token) is not str:
        raise DecryptionError(f"Expected a str token, got {type(token).__name__}.")
    try:
        raw = base64.b64decode(token, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("A token is not URL-safe base64 text.") from None
    # Reject non-canonical encodings (unused low bits set in the last
    # character), so that every change of the text is detected.
    if base64.urlsafe_b64encode(raw).decode("ascii") != token:
        raise DecryptionError("A token is not canonical base64 text.")
    return raw


def decrypt_tokens(tokens: list, start: int, materials: list, ad) -> list:
    """Decrypt str tokens with whichever key of ``materials`` made each one.

    Raises :class:`DecryptionError` (with the position of the first bad
    token) and returns nothing when any token fails to authenticate.
    """
    by_id = {m["key_id"]: m for m in materials}
    sivs, gcms = {}, {}
    out = []
    append = out.append
    ad_list = [ad] if ad else []
    for i, token in enumerate(tokens):
        try:
            raw = _raw_token(token)
            mode, kid = raw[:1], raw[1:5]
            m = by_id.get(kid)
            if m is None or len(raw) < 5:
                raise DecryptionError(
                    "A token was made with a key that is not in the key ring "
                    "(wrong key), or is truncated."
                )
            header = raw[:5]
            if mode == _DET:
                siv = sivs.get(kid)
                if siv is None:
                    siv = sivs[kid] = AESSIV(m["siv"])
                plain = siv.decrypt(raw[5:], [header, *ad_list])
            elif mode == _RAND:
                gcm = gcms.get(kid)
                if gcm is None:
                    gcm = gcms[kid] = AESGCM(m["gcm"])
                if len(raw) < 5 + _NONCE + 16:
                    raise DecryptionError("A token is truncated.")
                plain = gcm.decrypt(
                    raw[5 : 5 + _NONCE], raw[5 + _NONCE :], header + (ad or b"")
                )
            else:
                raise DecryptionError("A token has an unknown format.")
            append(_decode_value(plain))
        except DecryptionError as exc:
            raise DecryptionError(f"Token at position {start + i}: {exc}") from None
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise DecryptionError(
                f"Token at position {start + i} failed authentication: wrong key, "
                f"tampered, truncated, or moved from another column."
            ) from None
    return out
