"""``Key``: 32 secret bytes that never print, pickle by reference when they can."""

import base64
import binascii
import hmac
import multiprocessing
import os
import secrets
import weakref
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = ["Key", "check_keyring"]

KEY_BYTES = 32
_TEXT_HELP = (
    "a key is 32 random bytes written as 44 characters of URL-safe base64 "
    "text; make one with Key.generate().export()"
)
# In-memory keys pickle as a random handle into this process-local table, so a
# pickle never holds their bytes (see Key's Notes). Weak values: a handle
# resolves only while the original Key is alive.
_MEMORY_KEYS = weakref.WeakValueDictionary()


def _decode_text(text):
    """Key bytes from URL-safe base64 text, or a str saying what is wrong."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return "does not hold key text"
    try:
        raw = base64.b64decode(
            text.strip().encode("ascii"), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return "is not URL-safe base64 text"
    if len(raw) != KEY_BYTES:
        return f"decodes to {len(raw)} bytes, not {KEY_BYTES}"
    return raw


def _parse_text(text, where: str) -> bytes:
    """Decode URL-safe base64 key text; errors never echo the text.

    No frame holds the text or the bytes when the error is raised (tracebacks
    shown with their locals, by Sentry or ``pytest --showlocals``, would print
    them).
    """
    raw = _decode_text(text)
    del text
    if isinstance(raw, str):
        problem = raw
        del raw
        raise ValueError(f"{where} {problem}: {_TEXT_HELP}.")
    return raw


def _fingerprint(secret: bytes) -> bytes:
    return hmac.new(secret, b"skpriv/key-fingerprint", "sha256").digest()[:4]


def _hkdf(secret: bytes, purpose: str, length: int) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=length,
        salt=None,
        info=b"skpriv/" + purpose.encode("utf-8"),
    ).derive(secret)


def _read_env(name: str) -> bytes:
    # No local holds the variable's text (see _parse_text).
    if name not in os.environ:
        raise KeyError(
            f"The environment variable {name!r} that should hold the key is not "
            f"set; {_TEXT_HELP} and set {name} to it."
        )
    return _parse_text(os.environ[name], f"The environment variable {name!r}")


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"The key file {path!r} does not exist; {_TEXT_HELP} and write it "
            f"to that file (readable by you only)."
        ) from None
    except OSError as exc:
        raise OSError(
            f"The key file {path!r} cannot be read: {exc.strerror}."
        ) from None


def _check_private_file(path: str) -> None:
    if os.name != "posix":
        return  # Windows ACLs are not mode bits
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # reading it reports the problem
    if mode & 0o077:
        raise PermissionError(
            f"The key file {path!r} is accessible by other users (permissions "
            f"{oct(mode & 0o777)}); anyone who reads it can decrypt your data. "
            f"Run chmod 600 on it, or pass allow_shared=True to use it anyway."
        )


def _read_file(path: str) -> bytes:
    return _parse_text(_read_bytes(path), f"The key file {path!r}")


class Key:
    """A secret key: 32 random bytes that never print.

    Build keys with the class methods: :meth:`generate`, :meth:`from_env`,
    :meth:`from_file` or :meth:`from_passphrase` (``Key(text)`` wraps 32
    bytes or their URL-safe base64 text). Wherever a key is stored (an
    environment variable, a file) it is written as URL-safe base64 text, and
    :meth:`export` is the one deliberate way to reveal it. ``repr``, ``str``,
    ``get_params`` of the estimators holding it, logs and exceptions show only
    where the key comes from and its public fingerprint ``key_id`` (4 bytes of
    an HMAC of the key, which reveal nothing about it).

    Parameters
    ----------
    secret : bytes or str
        32 bytes, or their URL-safe base64 text (44 characters).

    Attributes
    ----------
    key_id : str
        Public fingerprint of the key (8 hexadecimal characters). Tokens and
        files carry it so that the right key of a key ring is chosen.
    source : str
        Where the key comes from: ``"memory"``, ``"env:NAME"``,
        ``"file:PATH"`` or ``"derived"``.

    See Also
    --------
    skpriv.encryption.ColumnEncryptor : Encrypts columns with a key.
    skpriv.preprocessing.Masker : Keyed pseudonyms (``strategy="hash"``).

    Notes
    -----
    **Pickling.** A key read from an environment variable or a file pickles as
    that reference (plus its fingerprint) and reads the secret again when it
    is used, so estimators holding it can be saved and sent to joblib worker
    processes: ``GridSearchCV(n_jobs=2)`` works and no pickle holds the
    secret. If the variable or file then holds a different key, using it
    raises ``ValueError`` rather than silently producing other pseudonyms.

    A key that lives only in memory (:meth:`generate`, :meth:`from_passphrase`,
    ``Key(text)``) never writes its bytes into a pickle: it pickles as a random
    handle that resolves in the same process while the key is alive (so
    ``clone``, ``copy.deepcopy``, pickle round-trips and the threading backend
    of joblib work), and anywhere else raises a clear error when used. To use
    worker processes or to save an estimator and use it later, keep the key in
    an environment variable or a file. Copies (``copy``, ``deepcopy``,
    ``clone``) return the same immutable key object.

    Derived keys (:meth:`derive`) pickle as their parent's reference and
    purpose. skops files (the default of :func:`~skpriv.encryption.dump`)
    hold the same references, never the bytes; loading them needs
    ``"skpriv.encryption._key.Key"`` among the trusted types.

    Keys compare equal when their secrets are equal (in constant time).

    References
    ----------
    .. [1] H. Krawczyk, P. Eronen, "HMAC-based Extract-and-Expand Key
       Derivation Function (HKDF)", RFC 5869, 2010.
    .. [2] C. Percival, S. Josefsson, "The scrypt Password-Based Key Derivation
       Function", RFC 7914, 2016.

    Examples
    --------
    >>> from skpriv.encryption import Key
    >>> key = Key.generate()
    >>> key                                       # doctest: +ELLIPSIS
    Key(source='memory', key_id='...')
    >>> len(key.export())
    44
    >>> key.derive("emails") == key.derive("emails")
    True
    >>> key.derive("emails") == key.derive("phones")
    False
    """

    __slots__ = ("_secret", "_source", "_ref", "_expected_id", "_cache", "__weakref__")

    def __init__(self, secret):
        if isinstance(secret, Key):
            raise TypeError("secret is already a Key; use it directly.")
        if isinstance(secret, (bytes, bytearray, memoryview)) and len(secret) == 32:
            raw = bytes(secret)
        elif isinstance(secret, (str, bytes)):
            try:
                raw = _parse_text(secret, "secret")
            except ValueError:
                del secret  # not left in this frame's locals
                raise
        else:
            raise TypeError(
                f"secret must be 32 bytes or their URL-safe base64 text; got "
                f"{type(secret).__name__}."
            )
        self._init("memory", None, raw, None)

    def _init(self, source, ref, secret, expected_id):
        self._source = source
        self._ref = ref
        self._secret = secret
        self._expected_id = expected_id
        self._cache = {}

    @classmethod
    def _make(cls, source, ref, secret=None, expected_id=None):
        key = object.__new__(cls)
        key._init(source, ref, secret, expected_id)
        return key

    # ------------------------------------------------------------------ makers
    @classmethod
    def generate(cls):
        """A new random key (from the operating system's CSPRNG).

        Returns
        -------
        key : Key
        """
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_env(cls, name="SKPRIV_KEY"):
        """The key whose base64 text is in the environment variable ``name``.

        The variable is read now (a missing or malformed key fails here) and
        again when an unpickled copy is first used.

        Parameters
        ----------
        name : str, default="SKPRIV_KEY"
            Name of the environment variable.

        Returns
        -------
        key : Key
        """
        if not isinstance(name, str) or not name:
            raise TypeError("name must be the name of an environment variable.")
        return cls._make("env", name, _read_env(name))

    @classmethod
    def from_file(cls, path, *, allow_shared=False):
        """The key whose base64 text is in the file at ``path``.

        Parameters
        ----------
        path : str or path-like
            The file (stored as an absolute path, so worker processes with
            another working directory find it).
        allow_shared : bool, default=False
            On POSIX systems a key file that its group or other users may
            read or write is refused, as ssh refuses such private keys
            (``chmod 600 path`` fixes it). ``True`` accepts it.

        Returns
        -------
        key : Key
        """
        path = os.path.abspath(os.fspath(path))
        if not allow_shared:
            _check_private_file(path)
        return cls._make("file", path, _read_file(path))

    @classmethod
    def from_passphrase(cls, passphrase, salt, *, n=2**15, r=8, p=1):
        """A key stretched from a passphrase with scrypt (memory-hard).

        Parameters
        ----------
        passphrase : str or bytes
            The passphrase; at least 8 characters.
        salt : str or bytes
            A public, random, per-application value of at least 16 bytes,
            stored next to the data. The same passphrase and salt give the
            same key.
        n : int, default=2**15
            The scrypt CPU/memory cost (a power of 2, RFC 7914); the defaults
            take about 0.1 s and 32 MiB.
        r : int, default=8
            The scrypt block size.
        p : int, default=1
            The scrypt parallelization.

        Returns
        -------
        key : Key
        """
        if isinstance(passphrase, str):
            passphrase = passphrase.encode("utf-8")
        if not isinstance(passphrase, bytes) or len(passphrase) < 8:
            del passphrase
            raise ValueError("passphrase must be a str or bytes of 8 or more bytes.")
        if isinstance(salt, str):
            salt = salt.encode("utf-8")
        if not isinstance(salt, bytes) or len(salt) < 16:
            raise ValueError(
                "salt must be str or bytes of at least 16 bytes; use "
                "os.urandom(16) once and store it with the data."
            )
        secret = Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p).derive(passphrase)
        return cls(secret)

    def derive(self, purpose):
        """A subkey for one purpose (HKDF-SHA256), unlinkable to other purposes.

        Pseudonyms or tokens made with ``key.derive("emails")`` and
        ``key.derive("phones")`` cannot be linked to each other without the
        parent key.

        Parameters
        ----------
        purpose : str
            A non-empty label, e.g. ``"crm/emails"``.

        Returns
        -------
        key : Key
            The subkey; it pickles as its parent's reference and ``purpose``.
        """
        if not isinstance(purpose, str) or not purpose:
            raise ValueError("purpose must be a non-empty str.")
        return Key._make("derived", (self, purpose))

    # --------------------------------------------------------------- secrets
    def _bytes(self) -> bytes:
        """The 32 secret bytes (resolving env/file/derived references)."""
        secret = self._secret
        if secret is None:
            secret = self._resolve()
            self._secret = secret
        return secret

    def _resolve(self) -> bytes:
        if self._source == "env":
            secret = _read_env(self._ref)
        elif self._source == "file":
            secret = _read_file(self._ref)
        elif self._source == "derived":
            parent, purpose = self._ref
            secret = _hkdf(parent._bytes(), "derive/" + purpose, KEY_BYTES)
        elif multiprocessing.parent_process() is not None:
            raise MemoryKeyInWorkerError(self._expected_id.hex())
        else:
            raise ValueError(
                f"This in-memory key (key_id={self._expected_id.hex()!r}) was "
                f"pickled without its bytes and is not available here (another "
                f"process, or the original key is gone). In-memory keys never "
                f"leave their process: use Key.from_env or Key.from_file to "
                f"share a key with worker processes or saved models, or set the "
                f"key again with set_params(key=...)."
            )
        found = _fingerprint(secret)
        if self._expected_id is not None and found != self._expected_id:
            del secret  # the replacement key's bytes stay out of tracebacks
            raise ValueError(
                f"The key now read from {self.source} has key_id "
                f"{found.hex()!r}, not the {self._expected_id.hex()!r} "
                f"this object was made with; restore the original key."
            )
        return secret

    def _material(self, purpose: str, length: int = KEY_BYTES) -> bytes:
        """Key material for one internal use (cached, never pickled)."""
        cache_key = (purpose, length)
        out = self._cache.get(cache_key)
        if out is None:
            out = _hkdf(self._bytes(), purpose, length)
            self._cache[cache_key] = out
        return out

    def _id_bytes(self) -> bytes:
        if self._secret is None and self._expected_id is not None:
            return self._expected_id
        return _fingerprint(self._bytes())

    @property
    def key_id(self):
        """Public fingerprint (8 hexadecimal characters)."""
        return self._id_bytes().hex()

    @property
    def source(self):
        """Where the key comes from."""
        if self._source in ("env", "file"):
            return f"{self._source}:{self._ref}"
        if self._source == "lost":
            return "memory"
        return self._source

    def export(self):
        """The key as URL-safe base64 text: the one way to reveal it.

        Returns
        -------
        text : str
            44 characters; store them in a secret manager, an environment
            variable or a file readable by you only.
        """
        return base64.urlsafe_b64encode(self._bytes()).decode("ascii")

    # ---------------------------------------------------------- python hooks
    def __repr__(self):
        if not hasattr(self, "_source"):  # __init__ failed (seen in tracebacks)
            return "Key(<not initialized>)"
        if self._source == "derived":
            parent, purpose = self._ref
            return f"Key(derived_from={parent!r}, purpose={purpose!r})"
        try:
            key_id = self.key_id
        except (ValueError, KeyError, OSError):
            key_id = "unavailable"
        return f"Key(source={self.source!r}, key_id={key_id!r})"

    __str__ = __repr__

    def __eq__(self, other):
        if not isinstance(other, Key):
            return NotImplemented
        if self is other:
            return True
        return hmac.compare_digest(self._bytes(), other._bytes())

    def __hash__(self):
        return hash(self._id_bytes())

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        if self._source in ("env", "file"):
            return (_rebuild, (self._source, self._ref, self._id_bytes()))
        if self._source == "derived":
            return (_rebuild, ("derived", self._ref, None))
        if self._source == "lost":
            return (_rebuild, ("memory", self._ref, self._expected_id))
        handle = None
        for h, k in list(_MEMORY_KEYS.items()):
            if k is self:
                handle = h
                break
        if handle is None:
            handle = secrets.token_hex(16)
            _MEMORY_KEYS[handle] = self
        return (_rebuild, ("memory", handle, self._id_bytes()))

    def __getstate__(self):
        # Serializers that do not use __reduce__ (skops) read this instead of
        # the slots, which hold the secret: the same reference pickle writes.
        _, (source, ref, expected_id) = self.__reduce__()
        return {"source": source, "ref": ref, "expected_id": expected_id}

    def __setstate__(self, state):
        key = _rebuild(state["source"], state["ref"], state["expected_id"])
        self._init(key._source, key._ref, key._secret, key._expected_id)


class MemoryKeyInWorkerError(BaseException):
    """An in-memory key was used in a worker process, where it does not exist.

    A ``BaseException`` (as ``KeyboardInterrupt``), not an ``Exception``:
    scikit-learn's searches record an ``Exception`` of each fit and report
    "All the 4 fits failed" with this message deep below; a setup error that
    no fit can survive stops the search with this message as its first line.
    """

    def __init__(self, key_id):
        super().__init__(
            f"An in-memory Key (key_id={key_id!r}, made by Key.generate(), "
            f"Key.from_passphrase or Key(text)) was sent to a worker process "
            f"(n_jobs > 1): its bytes never leave the process that made it. "
            f"Use Key.from_env('SKPRIV_KEY') or Key.from_file(path), which "
            f"workers read themselves, or n_jobs=1 (or joblib's threading "
            f"backend)."
        )
        self.key_id = key_id

    def __reduce__(self):
        return (type(self), (self.key_id,))


def _rebuild(source, ref, expected_id):
    """Unpickle a Key: references resolve lazily, memory handles locally."""
    if source == "memory":
        key = _MEMORY_KEYS.get(ref)
        if key is not None:
            return key
        return Key._make("lost", ref, None, expected_id)
    return Key._make(source, ref, None, expected_id)


def check_keyring(key, name="key", allow_many=True):
    """Validate a ``key`` parameter: a Key or a sequence of Keys, newest first.

    Returns a tuple of Keys (the first encrypts, all decrypt).
    """
    if isinstance(key, Key):
        return (key,)
    if allow_many and isinstance(key, (list, tuple)) and len(key) > 0:
        if all(isinstance(k, Key) for k in key):
            return tuple(key)
    expected = "a skpriv.encryption.Key"
    if allow_many:
        expected += " or a non-empty list of Keys, newest first"
    raise TypeError(
        f"{name} must be {expected} (e.g. Key.from_env('SKPRIV_KEY')); got "
        f"{type(key).__name__}."
    )
