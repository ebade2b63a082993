"""Vectorized crypto kernels over columns: keyed pseudonyms and AEAD tokens.

Each kernel takes a list of values and raw key material and returns a list
(or bytes); :func:`map_chunks` runs a kernel over chunks in joblib workers.
"""

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

# Column helpers shared with preprocessing live in utils; re-exported here.
from ..utils._validation import (
    as_object_array,
    is_missing,
    to_text,
    typed_columns_as_object,
    validate_quietly,
)
from ._hpke import OVERHEAD as _PKE_OVERHEAD
from ._hpke import HpkeRecipient, HpkeSender
from ._hpke import open_ as _hpke_open
from ._hpke import seal as _hpke_seal

__all__ = [
    "AeadKeys",
    "HmacKey",
    "as_object_array",
    "typed_columns_as_object",
    "hmac_hex",
    "is_missing",
    "map_chunks",
    "decrypt_tokens",
    "encrypt_values",
    "distinct_str",
    "expand",
    "to_text",
    "validate_quietly",
]

_MIN_CHUNK = 50_000
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


# --------------------------------------------------------------------------
# Derived key material travels in these holders, never as bytes in a local
# variable or a dict: tracebacks printed with their locals (Sentry, pytest
# --showlocals, IPython's verbose mode) show bytes and dicts, not these.
# They pickle with their bytes, for joblib workers (documented for n_jobs).
# --------------------------------------------------------------------------


class HmacKey:
    """An HMAC-SHA256 key that hands out hash states, not bytes."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes):
        self._raw = raw

    def pads(self):
        """Hashed inner and outer pad blocks (RFC 2104), to be copied."""
        return (
            hashlib.sha256(self._raw.ljust(64, b"\0").translate(_IPAD)),
            hashlib.sha256(self._raw.ljust(64, b"\0").translate(_OPAD)),
        )

    def __repr__(self):
        return "HmacKey(<hidden>)"


class AeadKeys:
    """AES-SIV and AES-GCM subkeys of one Key, with its public ``key_id``."""

    __slots__ = ("key_id", "_siv", "_gcm")

    def __init__(self, key_id: bytes, siv: bytes, gcm: bytes):
        self.key_id = key_id
        self._siv = siv
        self._gcm = gcm

    def siv(self):
        return AESSIV(self._siv)

    def gcm(self):
        return AESGCM(self._gcm)

    def __repr__(self):
        return f"AeadKeys(key_id={self.key_id.hex()!r}, <hidden>)"


_DET, _RAND, _PKE = b"\x01", b"\x02", b"\x03"
# HPKE info: binds the token header (mode, key_id) and the column, if bound.
_PKE_INFO = b"skpriv/column-encryptor/hpke-v1|"
_NONCE = 12


_SEP = "\x00"


def _pack(values: list):
    """A list of str as one joined str (cheap to pickle), else the list."""
    if values and all(type(v) is str for v in values):
        joined = _SEP.join(values)
        if joined.count(_SEP) == len(values) - 1:
            return ("joined", joined)
    return ("list", values)


def _unpack(packed) -> list:
    kind, data = packed
    return data.split(_SEP) if kind == "joined" else data


def _run_packed(func, packed, start, *args):
    """Worker side of :func:`map_chunks`: unpack, run, pack the result."""
    out = func(_unpack(packed), start, *args)
    return out if isinstance(out, bytes) else _pack(out)


def map_chunks(func, values: list, n_jobs, *args):
    """``func(values, *args)``, split across ``n_jobs`` joblib workers.

    Small inputs (under 50,000 values per worker) run in this process.
    ``func(chunk, start, *args)`` gets each chunk with its start position
    and returns a list or bytes; the chunk results are concatenated. Lists of
    str travel to and from workers as one joined str, which pickles ~50x
    faster than a list of a million small strings.
    """
    n_workers = effective_n_jobs(n_jobs) if n_jobs is not None else 1
    n_workers = max(1, min(n_workers, len(values) // _MIN_CHUNK))
    if n_workers == 1:
        return func(values, 0, *args)
    step = math.ceil(len(values) / n_workers)
    parts = Parallel(n_jobs=n_workers)(
        delayed(_run_packed)(func, _pack(values[i : i + step]), i, *args)
        for i in range(0, len(values), step)
    )
    if isinstance(parts[0], bytes):
        return b"".join(parts)
    out = []
    for part in parts:
        out.extend(_unpack(part))
    return out


# --------------------------------------------------------------------------
# Keyed pseudonyms: HMAC-SHA256 (RFC 2104) with precomputed pad states.
# --------------------------------------------------------------------------


def _hmac_digests(texts: list, start: int, key: HmacKey, n_bytes: int) -> bytes:
    """Concatenated first ``n_bytes`` of HMAC-SHA256(key, utf8(text))."""
    # Copying the hashed inner/outer pad blocks skips re-hashing the key per
    # value: the same result as hmac.new(key, msg, sha256), ~1.5x faster.
    inner, outer = key.pads()
    inner, outer = inner.copy, outer.copy
    out = bytearray()
    extend = out.extend
    for text in texts:
        h = inner()
        h.update(text.encode("utf-8", "surrogatepass"))
        o = outer()
        o.update(h.digest())
        extend(o.digest()[:n_bytes])
    return bytes(out)


def hmac_hex(texts: list, key: HmacKey, length: int, n_jobs=None) -> np.ndarray:
    """Lower-case hexadecimal HMAC-SHA256 pseudonyms, ``length`` characters.

    ``texts`` must all be str (see :func:`to_text`).
    """
    if not texts:
        return np.empty(0, dtype=object)
    uniques = distinct_str(texts, all_str=True)
    if uniques is not None:
        pseudonyms = hmac_hex(uniques, key, length, n_jobs).tolist()
        return as_object_array(expand(texts, uniques, pseudonyms))
    n_bytes = (length + 1) // 2
    digests = map_chunks(_hmac_digests, texts, n_jobs, key, n_bytes)
    # bytes.hex with a separator every n_bytes splits in C: ~10x faster than
    # going through numpy's fixed-width string dtypes.
    hexed = digests.hex("\n", n_bytes).split("\n")
    if length % 2:
        hexed = [h[:length] for h in hexed]
    return as_object_array(hexed)


def distinct_str(values: list, min_size: int = 10_000, all_str: bool = False):
    """The distinct values (first-seen order) when many str values repeat.

    Deterministic kernels (HMAC, AES-SIV) then run once per distinct value
    (see :func:`expand`). A 50,000-value prefix must show repeats (under 80%
    distinct: about what one million values drawn from 100,000 show) before
    the whole input is deduplicated. Returns None otherwise, or when any value
    is not a str (``1``, ``1.0`` and ``True`` would share a slot).
    """
    n = len(values)
    if n < min_size:
        return None
    prefix = values[:50_000]
    if len(set(prefix)) > 0.8 * len(prefix):
        return None
    if not all_str and set(map(type, values)) != {str}:
        return None
    uniques = list(dict.fromkeys(values))
    return uniques if len(uniques) <= 0.8 * n else None


def expand(values: list, uniques: list, results) -> list:
    """Map every value to the result computed for its distinct value."""
    lookup = dict(zip(uniques, results))
    return list(map(lookup.__getitem__, values))


# --------------------------------------------------------------------------
# AEAD tokens. Token = urlsafe_b64(mode | key_id (4) | [nonce] | ciphertext);
# public-key tokens: urlsafe_b64(0x03 | key_id (4) | enc (32) | ciphertext),
# where enc | ciphertext is RFC 9180's single-shot Seal(pkR, info, "", pt).
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


_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_", b"+/")


def _b64_many(raws: list) -> list:
    """URL-safe base64 text of many byte strings, in bulk."""
    if not raws:
        return []
    b2a = binascii.b2a_base64
    joined = b"\n".join([b2a(r, newline=False) for r in raws])
    return joined.translate(_TO_URL).decode("ascii").split("\n")


def _raw_many(tokens: list):
    """Decode many tokens in bulk; None if any is not canonical base64 text.

    Canonical means that re-encoding the bytes gives back the exact text, so
    every change to a token (padding, unused bits, foreign characters) is
    rejected before decryption.
    """
    try:
        joined = "\n".join(tokens)
        data = joined.encode("ascii")
    except (TypeError, UnicodeEncodeError):
        return None
    if joined.count("\n") != len(tokens) - 1 or "+" in joined or "/" in joined:
        return None
    parts = data.translate(_FROM_URL).split(b"\n")
    try:
        raws = [binascii.a2b_base64(p) for p in parts]
    except binascii.Error:
        return None
    b2a = binascii.b2a_base64
    if [b2a(r, newline=False) for r in raws] != parts:
        return None
    return raws


def encrypt_values(
    values: list, start: int, material: dict, deterministic: bool, ad
) -> list:
    """Encrypt values to str tokens with the newest key.

    ``material``: the :class:`AeadKeys` of the newest key, or an
    :class:`HpkeSender` (public key); ``ad``: associated data (bytes) bound
    to every token, or None.
    """
    kid = material.key_id
    plains = [
        b"s" + v.encode("utf-8", "surrogatepass")
        if type(v) is str
        else _encode_value(v)
        for v in values
    ]
    if isinstance(material, HpkeSender):
        header = _PKE + kid
        info = _PKE_INFO + header + (ad or b"")
        public = material.public()
        return _b64_many([header + _hpke_seal(p, public, info) for p in plains])
    if deterministic:
        header = _DET + kid
        encrypt = material.siv().encrypt
        ads = [header, ad] if ad else [header]
        return _b64_many([header + encrypt(p, ads) for p in plains])
    header = _RAND + kid
    encrypt = material.gcm().encrypt
    full_ad = header + ad if ad else header
    # One CSPRNG call for all nonces; 96-bit random nonces collide with
    # probability < 2^-32 up to 2^32 values per key (NIST SP 800-38D).
    blob = os.urandom(_NONCE * len(plains))
    nonces = [blob[i : i + _NONCE] for i in range(0, len(blob), _NONCE)]
    return _b64_many(
        [header + n + encrypt(n, p, full_ad) for n, p in zip(nonces, plains)]
    )


def _raw_token(token) -> bytes:
    """Strict, canonical URL-safe base64 decoding of one token."""
    if not isinstance(token, str):
        raise DecryptionError(f"Expected a str token, got {type(token).__name__}.")
    raws = _raw_many([token])
    if raws is None:
        raise DecryptionError("A token is not canonical URL-safe base64 text.")
    return raws[0]


def _decode_many(plains: list) -> list:
    return [
        p[1:].decode("utf-8", "surrogatepass") if p[0] == 115 else _decode_value(p)
        for p in plains
    ]


def decrypt_tokens(tokens: list, start: int, materials: list, ad) -> list:
    """Decrypt str tokens with whichever key of ``materials`` made each one.

    Raises :class:`DecryptionError` (with the position of the first bad
    token) and returns nothing when any token fails to authenticate.
    """
    # Fast path: every token canonical and made by one key in one mode.
    raws = _raw_many(tokens)
    if raws:
        header = raws[0][:5]
        by_id = {m.key_id: m for m in materials}
        if len(header) == 5 and all([r.startswith(header) for r in raws]):
            m = by_id.get(header[1:5])
            try:
                if isinstance(m, HpkeRecipient) and header[:1] == _PKE:
                    private = m.private()
                    info = _PKE_INFO + header + (ad or b"")
                    return _decode_many(
                        [_hpke_open(r[5:], private, info) for r in raws]
                    )
                if isinstance(m, AeadKeys) and header[:1] == _DET:
                    decrypt = m.siv().decrypt
                    ads = [header, ad] if ad else [header]
                    return _decode_many([decrypt(r[5:], ads) for r in raws])
                if isinstance(m, AeadKeys) and header[:1] == _RAND:
                    decrypt = m.gcm().decrypt
                    full_ad = header + ad if ad else header
                    cut = 5 + _NONCE
                    return _decode_many(
                        [decrypt(r[5:cut], r[cut:], full_ad) for r in raws]
                    )
            except (InvalidTag, ValueError, IndexError, DecryptionError):
                pass  # the slow path below finds and reports the bad token
    return _decrypt_one_by_one(tokens, start, materials, ad)


def _decrypt_one_by_one(tokens: list, start: int, materials: list, ad) -> list:
    by_id = {m.key_id: m for m in materials}
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
            if mode == _PKE:
                if not isinstance(m, HpkeSender):
                    raise DecryptionError("A token has an unknown format.")
                if not m.can_decrypt:
                    raise DecryptionError(
                        f"A token was encrypted to the public key "
                        f"{kid.hex()!r}, whose private key (KeyPair) this "
                        f"ColumnEncryptor does not hold."
                    )
                if len(raw) < 5 + _PKE_OVERHEAD:
                    raise DecryptionError("A token is truncated.")
                plain = _hpke_open(
                    raw[5:], m.private(), _PKE_INFO + header + (ad or b"")
                )
            elif not isinstance(m, AeadKeys):
                raise DecryptionError("A token has an unknown format.")
            elif mode == _DET:
                siv = sivs.get(kid)
                if siv is None:
                    siv = sivs[kid] = m.siv()
                plain = siv.decrypt(raw[5:], [header, *ad_list])
            elif mode == _RAND:
                gcm = gcms.get(kid)
                if gcm is None:
                    gcm = gcms[kid] = m.gcm()
                if len(raw) < 5 + _NONCE + 16:
                    raise DecryptionError("A token is truncated.")
                plain = gcm.decrypt(
                    raw[5 : 5 + _NONCE], raw[5 + _NONCE :], header + (ad or b"")
                )
            else:
                raise DecryptionError("A token has an unknown format.")
            if not plain:
                raise DecryptionError("A token decrypted to nothing.")
            append(_decode_value(plain))
        except DecryptionError as exc:
            raise _token_error(start + i, f": {exc}") from None
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise _token_error(
                start + i,
                " failed authentication: wrong key, tampered, truncated, or "
                "moved from another column.",
            ) from None
    return out


def _token_error(position: int, detail: str) -> DecryptionError:
    """The error for one bad token; ``position`` and ``detail`` let callers
    that passed a subset of a column (missing cells left out) name the row."""
    exc = DecryptionError(f"Token at position {position}{detail}")
    exc.position, exc.detail = position, detail
    return exc
