"""``KeyPair`` and ``PublicKey``: X25519 keys for public-key column encryption."""

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ._hpke import HpkeRecipient, HpkeSender, public_key_id
from ._key import Key

__all__ = ["KeyPair", "PublicKey"]


class PublicKey:
    """An X25519 public key: encrypts for the holder of the :class:`KeyPair`.

    It is safe to ship (in code, a config file, a web form): it can only
    encrypt. ``str(public_key)`` and :meth:`export` give its 44-character
    URL-safe base64 text (the raw 32-byte key of RFC 7748, so any HPKE
    implementation can use it); :meth:`from_text` reads it back.

    Parameters
    ----------
    public : bytes or str
        The 32 raw bytes, or their URL-safe base64 text.

    Attributes
    ----------
    key_id : str
        Public fingerprint (8 hexadecimal characters) that tokens carry.

    See Also
    --------
    KeyPair : The private key that decrypts.
    ColumnEncryptor : Encrypts columns to a public key.

    Examples
    --------
    >>> from skpriv.encryption import KeyPair, PublicKey
    >>> pair = KeyPair.generate()
    >>> text = pair.public_key().export()
    >>> PublicKey.from_text(text) == pair.public_key()
    True
    """

    __slots__ = ("_raw",)

    def __init__(self, public):
        if isinstance(public, str):
            self._raw = _public_from_text(public)
        elif isinstance(public, (bytes, bytearray)) and len(public) == 32:
            self._raw = bytes(public)
        else:
            raise TypeError(
                "public must be the 32 raw bytes of an X25519 public key or "
                "their URL-safe base64 text (PublicKey.export())."
            )

    @classmethod
    def from_text(cls, text):
        """Read a public key from its URL-safe base64 text.

        Parameters
        ----------
        text : str
            The 44 characters that :meth:`export` (or ``str``) gives.

        Returns
        -------
        public_key : PublicKey
            The key the text encodes.
        """
        return cls(text)

    def export(self):
        """Write the public key as URL-safe base64 text.

        Returns
        -------
        text : str
            44 characters, safe to publish; :meth:`from_text` reads them.
        """
        return base64.urlsafe_b64encode(self._raw).decode("ascii")

    @property
    def key_id(self):
        """Public fingerprint (8 hexadecimal characters)."""
        return public_key_id(self._raw).hex()

    def _sender(self) -> HpkeSender:
        return HpkeSender(self._raw)

    def public_key(self):
        """Return this key itself.

        So that code taking a key pair's public half (``KeyPair.public_key``)
        takes a public key too.

        Returns
        -------
        public_key : PublicKey
            ``self``.
        """
        return self

    def __repr__(self):
        return f"PublicKey({self.export()!r})"

    def __str__(self):
        return self.export()

    def __eq__(self, other):
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self):
        return hash(self._raw)

    def __reduce__(self):
        return (PublicKey, (self._raw,))

    def __getstate__(self):
        return {"public": self.export()}

    def __setstate__(self, state):
        self._raw = _public_from_text(state["public"])


def _public_from_text(text: str) -> bytes:
    try:
        raw = base64.b64decode(
            text.strip().encode("ascii"), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            "A public key is 32 bytes written as 44 characters of URL-safe "
            "base64 text (KeyPair.public_key().export())."
        )
    return raw


class KeyPair:
    """An X25519 key pair: the private key that decrypts public-key tokens.

    The private key is 32 random bytes (RFC 7748), kept exactly as a
    :class:`Key` keeps its secret: build it with :meth:`generate`,
    :meth:`from_env` or :meth:`from_file` (or ``KeyPair(text)``), store it as
    44 characters of URL-safe base64 text (:meth:`export`), and it never
    prints, never enters a pickle (env and file keys pickle as their
    reference, in-memory keys as a process-local handle) and never sits in a
    traceback's local variables. :meth:`public_key` is the half to ship to
    whoever encrypts.

    Parameters
    ----------
    secret : bytes or str
        The 32-byte private key, or its URL-safe base64 text.

    Attributes
    ----------
    key_id : str
        Public fingerprint of the public key (8 hexadecimal characters).
    source : str
        Where the private key comes from: ``"memory"``, ``"env:NAME"`` or
        ``"file:PATH"``.

    See Also
    --------
    PublicKey : The public half.
    Key : Symmetric keys (the same storage and pickling rules).
    ColumnEncryptor : Encrypts to a public key, decrypts with the pair.

    Notes
    -----
    The text stored for a key pair is the raw X25519 private key, so other
    RFC 9180 (HPKE) implementations can decrypt the tokens (see
    :class:`ColumnEncryptor`'s Notes for the format). Do not use the same text
    as a symmetric :class:`Key`.

    Examples
    --------
    >>> from skpriv.encryption import KeyPair
    >>> pair = KeyPair.generate()
    >>> pair                                       # doctest: +ELLIPSIS
    KeyPair(source='memory', key_id='...')
    >>> pair.public_key().key_id == pair.key_id
    True
    """

    __slots__ = ("_key", "_public", "_private")

    def __init__(self, secret):
        if isinstance(secret, KeyPair):
            raise TypeError("secret is already a KeyPair; use it directly.")
        try:
            key = Key(secret)
        except (TypeError, ValueError):
            del secret  # not left in this frame's locals
            raise
        self._init(key, None)

    def _init(self, key: Key, public):
        self._key = key
        self._public = public  # raw bytes, known before the secret resolves
        self._private = None

    @classmethod
    def _make(cls, key: Key, public=None):
        pair = object.__new__(cls)
        pair._init(key, public)
        return pair

    @classmethod
    def generate(cls):
        """A new random key pair (from the operating system's CSPRNG)."""
        return cls._make(Key.generate())

    @classmethod
    def from_env(cls, name="SKPRIV_PRIVATE_KEY"):
        """The key pair whose private key text is in the environment variable ``name``.

        Parameters
        ----------
        name : str, default="SKPRIV_PRIVATE_KEY"
            Name of the environment variable.

        Returns
        -------
        pair : KeyPair
        """
        return cls._make(Key.from_env(name))

    @classmethod
    def from_file(cls, path, *, allow_shared=False):
        """The key pair whose private key text is in the file at ``path``.

        Parameters
        ----------
        path : str or path-like
            The file; on POSIX systems it must be readable by you only
            (``chmod 600``) unless ``allow_shared=True``.
        allow_shared : bool, default=False
            Accept a file its group or other users may access.

        Returns
        -------
        pair : KeyPair
        """
        return cls._make(Key.from_file(path, allow_shared=allow_shared))

    def _private_key(self) -> X25519PrivateKey:
        private = self._private
        if private is None:
            private = X25519PrivateKey.from_private_bytes(self._key._bytes())
            public = private.public_key().public_bytes_raw()
            if self._public is not None and public != self._public:
                raise ValueError(
                    f"The private key now read from {self.source} does not "
                    f"match the public key (key_id={self.key_id!r}) this object "
                    f"was made with; restore the original key."
                )
            self._public, self._private = public, private
        return private

    def public_key(self):
        """Return the public half, safe to ship to whoever encrypts.

        Returns
        -------
        public_key : PublicKey
            The X25519 public key matching this private key.
        """
        if self._public is None:
            self._private_key()
        return PublicKey(self._public)

    def _recipient(self) -> HpkeRecipient:
        return HpkeRecipient(self._private_key())

    @property
    def key_id(self):
        """Public fingerprint of the public key (8 hexadecimal characters)."""
        return self.public_key().key_id

    @property
    def source(self):
        """Where the private key comes from."""
        return self._key.source

    def export(self):
        """Reveal the private key as URL-safe base64 text (the one way to).

        Returns
        -------
        text : str
            44 characters; store them in a secret manager, an environment
            variable or a file readable by you only.
        """
        return self._key.export()

    def __repr__(self):
        if not hasattr(self, "_key"):  # __init__ failed (seen in tracebacks)
            return "KeyPair(<not initialized>)"
        try:
            key_id = self.key_id
        except (ValueError, KeyError, OSError):
            key_id = "unavailable"
        return f"KeyPair(source={self.source!r}, key_id={key_id!r})"

    __str__ = __repr__

    def __eq__(self, other):
        if not isinstance(other, KeyPair):
            return NotImplemented
        return self is other or self._key == other._key

    def __hash__(self):
        return hash(self.key_id)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        # The Key pickles as its reference (or handle); the public key is
        # public and lets an unpickled pair detect a swapped private key.
        if self._public is None:
            self._private_key()
        return (_rebuild_pair, (self._key, self._public))

    def __getstate__(self):
        # For serializers that skip __reduce__ (skops), as Key does.
        if self._public is None:
            self._private_key()
        return {"key": self._key, "public": self._public}

    def __setstate__(self, state):
        self._init(state["key"], state["public"])


def _rebuild_pair(key: Key, public: bytes) -> KeyPair:
    """Unpickle a KeyPair: its Key resolves as Keys do (lazily)."""
    return KeyPair._make(key, public)
