"""Authenticated envelopes: ``dump`` / ``load`` of encrypted objects.

Layout (all of it but the ciphertext is associated data, so any change to
the format version, algorithm, serializer or library versions is detected)::

    MAGIC (16) | format version (1) | header length (4, big endian)
    | header (JSON: algorithm, serializer, versions) | key_id (4)
    | nonce (12) | AES-256-GCM ciphertext and tag

Nothing is parsed beyond fixed-size fields before the tag is verified.
"""

import importlib
import json
import numbers
import os
import pickle
import platform
import tempfile

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..exceptions import DecryptionError
from ._key import check_keyring

__all__ = ["dump", "load", "open_envelope", "seal"]

MAGIC = b"SKPRIV-ENVELOPE\n"
FORMAT_VERSION = 1
ALGORITHM = "AES-256-GCM/HKDF-SHA256"
_NONCE = 12
_MAX_HEADER = 1 << 16


def _versions(serializer: str) -> dict:
    import numpy
    import sklearn

    from .. import __version__

    versions = {
        "python": platform.python_version(),
        "skpriv": __version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
    }
    if serializer == "skops":
        import skops

        versions["skops"] = skops.__version__
    return versions


def seal(payload: bytes, key, purpose: str, header: dict) -> bytes:
    """Encrypt ``payload`` with the newest key; ``header`` is authenticated."""
    newest = check_keyring(key)[0]
    header_bytes = json.dumps(
        {"algorithm": ALGORITHM, **header}, sort_keys=True
    ).encode("utf-8")
    prefix = (
        MAGIC
        + bytes([FORMAT_VERSION])
        + len(header_bytes).to_bytes(4, "big")
        + header_bytes
        + newest._id_bytes()
    )
    nonce = os.urandom(_NONCE)
    cipher = AESGCM(newest._material("envelope/" + purpose))
    return prefix + nonce + cipher.encrypt(nonce, payload, prefix)


def open_envelope(blob: bytes, key, purpose: str):
    """Verify and decrypt an envelope: ``(header dict, payload bytes)``.

    Raises :class:`DecryptionError` for anything that does not authenticate
    under one of the keys; nothing is deserialized before that.
    """
    keys = check_keyring(key)
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise DecryptionError(f"Expected encrypted bytes, got {type(blob).__name__}.")
    blob = bytes(blob)
    fixed = len(MAGIC) + 1 + 4
    if len(blob) < fixed or not blob.startswith(MAGIC):
        raise DecryptionError("Not an skpriv encrypted envelope (bad magic bytes).")
    if blob[len(MAGIC)] != FORMAT_VERSION:
        raise DecryptionError(
            f"Unsupported envelope format version {blob[len(MAGIC)]}; this skpriv "
            f"reads version {FORMAT_VERSION}."
        )
    header_len = int.from_bytes(blob[len(MAGIC) + 1 : fixed], "big")
    body = fixed + header_len
    if header_len > _MAX_HEADER or len(blob) < body + 4 + _NONCE + 16:
        raise DecryptionError("The envelope is truncated or corrupted.")
    key_id = blob[body : body + 4]
    prefix = blob[: body + 4]
    nonce = blob[body + 4 : body + 4 + _NONCE]
    matches = [k for k in keys if k._id_bytes() == key_id]
    if not matches:
        raise DecryptionError(
            f"Wrong key: the envelope was sealed with key_id {key_id.hex()!r}, "
            f"which is not among the given keys "
            f"{[k.key_id for k in keys]} (or the file was altered)."
        )
    try:
        cipher = AESGCM(matches[0]._material("envelope/" + purpose))
        payload = cipher.decrypt(nonce, blob[body + 4 + _NONCE :], prefix)
    except InvalidTag:
        raise DecryptionError(
            "The envelope failed authentication: it was altered, truncated or "
            "sealed for another use."
        ) from None
    header = json.loads(blob[fixed:body].decode("utf-8"))
    return header, payload


def _check_label(name, version=None, version_name="version"):
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"name must be a non-empty str; got {type(name).__name__}.")
    if version is not None and (
        isinstance(version, bool)
        or not isinstance(version, numbers.Integral)
        or version < 0
    ):
        raise ValueError(f"{version_name} must be an integer >= 0; got {version!r}.")


def dump(obj, path, key, *, serializer="skops", name=None, version=None):
    """Serialize ``obj`` and write it encrypted and authenticated to ``path``.

    The file can only be read back with the key, and any change to it is
    detected by :func:`load` before anything is deserialized.

    Parameters
    ----------
    obj : object
        Typically a fitted estimator or pipeline.
    path : str or path-like
        File to write (atomically: a temporary file is renamed over it).
    key : Key or list of Key
        Encrypts with the first key.
    serializer : {"skops", "pickle"}, default="skops"
        ``"skops"`` (needs the ``skops`` package) writes a format that
        :func:`load` reads without executing code from the file, loading only
        types that are trusted explicitly. ``"pickle"`` handles any object
        but runs code when loaded, so :func:`load` asks for
        ``allow_pickle=True``.
    name : str, default=None
        A label bound into the authenticated header (e.g. ``"churn-model"``):
        ``load(..., name=...)`` then refuses a file sealed under another name
        (a valid file of the same key swapped in).
    version : int, default=None
        A version number (>= 0) bound into the authenticated header:
        ``load(..., min_version=...)`` refuses older files (a roll-back).

    Returns
    -------
    path : str
        The file written.

    See Also
    --------
    load : Verify, decrypt and deserialize.

    Notes
    -----
    The envelope is AES-256-GCM (key derived with HKDF for this use) over the
    serialized bytes; its header (format version, algorithm, serializer,
    Python and library versions) is authenticated as associated data. The
    key's bytes are never written; the file carries only its public
    ``key_id``.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skpriv.encryption import Key, dump, load
    >>> key = Key.generate()
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skpriv")
    >>> _ = dump(model, path, key)
    >>> load(path, key).predict([[1.0]])
    array([1])
    """
    if serializer == "skops":
        try:
            import skops.io as sio
        except ImportError:
            raise ImportError(
                "serializer='skops' needs the skops package: pip install skops "
                "(or pass serializer='pickle')."
            ) from None
        payload = sio.dumps(obj)
    elif serializer == "pickle":
        payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        raise ValueError(f"serializer must be 'skops' or 'pickle'; got {serializer!r}.")
    _check_label(name, version)
    header = {"serializer": serializer, "versions": _versions(serializer)}
    if name is not None:
        header["name"] = name
    if version is not None:
        header["version"] = int(version)
    blob = seal(payload, key, "dump", header)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        # mkstemp's own error would name a random temporary file instead.
        raise FileNotFoundError(
            f"Cannot write {path!r}: the directory {directory!r} does not exist."
        )
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".skpriv-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _trusted_by_default(sio, payload) -> list:
    """The types of an authenticated skops payload that skpriv trusts.

    skpriv's public classes (those its subpackages export, such as the
    estimators and ``Key``) and dp-accounting's ``DpEvent`` classes, which
    fitted skpriv objects record. Only modules of these two packages are
    imported to check a name.
    """
    from dp_accounting import DpEvent

    out = []
    for type_name in sio.get_untrusted_types(data=payload):
        module_name, _, attr = type_name.rpartition(".")
        root = module_name.split(".")[0]
        if root not in ("skpriv", "dp_accounting"):
            continue
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            continue
        if not isinstance(obj, type):
            continue
        if root == "dp_accounting":
            if issubclass(obj, DpEvent):
                out.append(type_name)
            continue
        # skpriv.<package>._<module>.Name: public when <package> exports it.
        package = ".".join(p for p in module_name.split(".") if not p.startswith("_"))
        try:
            public = importlib.import_module(package)
        except ImportError:
            continue
        if attr in getattr(public, "__all__", ()) and getattr(public, attr) is obj:
            out.append(type_name)
    return out


def load(path, key, *, trusted=None, allow_pickle=False, name=None, min_version=None):
    """Read a file written by :func:`dump`: verify, decrypt, then deserialize.

    The authentication tag is checked first; a file that fails it raises
    :class:`~skpriv.exceptions.DecryptionError` and nothing is deserialized.

    Parameters
    ----------
    path : str or path-like
        File written by :func:`dump`.
    key : Key or list of Key
        The key, or a key ring (newest first) holding the one that sealed the
        file (found by its ``key_id``).
    trusted : list of str, default=None
        For skops files: types to load beyond skops' default trusted set,
        skpriv's public classes (estimators, ``Key``) and the dp-accounting
        events skpriv records, which are trusted by default. Other types
        raise skops' ``UntrustedTypesFoundException``, which lists them,
        after the file is authenticated and before any is built.
    allow_pickle : bool, default=False
        Load files written with ``serializer="pickle"``. Pickle runs code, so
        only allow it for files from key holders you trust.
    name : str, default=None
        Refuse the file unless it was written with ``dump(..., name=name)``.
    min_version : int, default=None
        Refuse the file unless it was written with ``dump(..., version=v)``
        and ``v >= min_version`` (protects against roll-back to an older
        file sealed with the same key).

    Returns
    -------
    obj : object
        The object given to :func:`dump`.

    Raises
    ------
    DecryptionError
        Wrong key, a changed, truncated or extended file, a file that is not
        an skpriv envelope, or one sealed under another ``name`` or below
        ``min_version``. Nothing is deserialized.

    See Also
    --------
    dump : Write an encrypted file.

    Examples
    --------
    >>> import os, tempfile
    >>> from skpriv.encryption import Key, dump, load
    >>> from skpriv.exceptions import DecryptionError
    >>> key = Key.generate()
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.skpriv")
    >>> path = dump({"weights": [0.5, 1.5]}, path, key)
    >>> load(path, key)
    {'weights': [0.5, 1.5]}
    >>> try:
    ...     load(path, Key.generate())
    ... except DecryptionError:
    ...     print("wrong key")
    wrong key
    """
    _check_label(name, min_version, "min_version")
    with open(path, "rb") as f:
        blob = f.read()
    header, payload = open_envelope(blob, key, "dump")
    # The name and version are authenticated: they cannot be edited, only
    # a whole other file swapped in, which these checks refuse.
    if name is not None and header.get("name") != name:
        found = header.get("name")
        raise DecryptionError(
            f"{os.fspath(path)!r} was sealed under the name {found!r}, not "
            f"{name!r}: another file of the same key was put in its place."
        )
    if min_version is not None:
        found = header.get("version")
        if found is None or found < min_version:
            raise DecryptionError(
                f"{os.fspath(path)!r} has version {found!r}, below min_version="
                f"{min_version}: an older file of the same key (a roll-back)."
            )
    serializer = header.get("serializer")
    if serializer == "skops":
        import skops.io as sio

        trusted = [*_trusted_by_default(sio, payload), *(trusted or [])]
        return sio.loads(payload, trusted=trusted)
    if serializer == "pickle":
        if not allow_pickle:
            raise ValueError(
                f"{os.fspath(path)!r} holds a pickle, which runs code when loaded; "
                f"pass allow_pickle=True if you trust every holder of the key."
            )
        return pickle.loads(payload)
    raise DecryptionError(f"Unknown serializer {serializer!r} in the envelope.")
