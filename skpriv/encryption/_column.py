"""``ColumnEncryptor``: columns to authenticated text tokens and back."""

from numbers import Integral

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from ..exceptions import DecryptionError
from ..utils._sklearn_compat import StrOptions, _fit_context
from ._key import Key
from ._keypair import KeyPair, PublicKey
from ._tokens import (
    AeadKeys,
    as_object_array,
    decrypt_tokens,
    distinct_str,
    encrypt_values,
    expand,
    is_missing,
    map_chunks,
    typed_columns_as_object,
    validate_quietly,
)

__all__ = ["ColumnEncryptor"]

_BLOCK_ROWS = 65_536


def key_material(key: Key) -> AeadKeys:
    """The AEAD subkeys of one Key for the token kernels (never stored)."""
    return AeadKeys(
        key._id_bytes(),
        key._material("column-encryptor/aes-siv", 64),
        key._material("column-encryptor/aes-gcm", 32),
    )


_KEY_TYPES = (Key, KeyPair, PublicKey)


def check_column_keys(key) -> tuple:
    """A ``key`` parameter as a tuple of keys, newest first."""
    keys = tuple(key) if isinstance(key, (list, tuple)) else (key,)
    if keys and all(isinstance(k, _KEY_TYPES) for k in keys):
        return keys
    raise TypeError(
        f"key must be a skpriv.encryption.Key (symmetric), a KeyPair or a "
        f"PublicKey (public-key encryption), or a non-empty list of them, "
        f"newest first; got {type(key).__name__}."
    )


def _material(key):
    if isinstance(key, PublicKey):
        return key._sender()
    if isinstance(key, KeyPair):
        return key._recipient()
    return key_material(key)


class ColumnEncryptor(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Encrypt columns to text tokens; ``inverse_transform`` decrypts them.

    Every non-missing cell becomes a URL-safe base64 token holding the
    authenticated ciphertext of the value. With a symmetric :class:`Key` and
    ``deterministic=True`` (AES-SIV, RFC 5297) equal values give equal tokens
    under one key, so joins, group-bys and encoders such as ``OneHotEncoder``
    still work on the encrypted column; with ``deterministic=False`` (AES-GCM
    with a fresh random 96-bit nonce per value) every token is different.

    With a :class:`PublicKey` (or a :class:`KeyPair`) encryption is
    public-key (HPKE, RFC 9180): ``transform`` needs only the public key, so
    it can run where data is collected (a clinic's intake, a form, an edge
    device), and only the holder of the private key (a ``KeyPair``) can
    ``inverse_transform``. Tokens carry the key's public ``key_id``, so a key
    ring decrypts tokens of any of its keys.

    Parameters
    ----------
    key : Key, KeyPair, PublicKey or list of them
        The key, or several keys newest first: the first encrypts, all of
        them decrypt (key rotation, as ``cryptography``'s ``MultiFernet``).
        From a :class:`Key`, subkeys for AES-SIV and AES-GCM are derived with
        HKDF. A :class:`PublicKey` encrypts only; a :class:`KeyPair` encrypts
        to its public key and decrypts.
    deterministic : bool or "auto", default="auto"
        AES-SIV (equal values, equal tokens) or randomized encryption.
        ``"auto"`` is ``True`` for a symmetric ``Key`` and ``False`` for
        public keys, which are always randomized: a deterministic public-key
        token could be confirmed by anyone holding the public key by
        encrypting guesses, so ``True`` with a public key is refused.
    bind_columns : bool, default=False
        Bind each token to its column's name (``feature_names_in_``, or
        ``x0, x1, ...`` for arrays) as associated data: a token moved to
        another column then fails to decrypt.
    n_jobs : int, default=None
        Worker processes (joblib) for columns of more than 50,000 values.
        ``None`` means 1 unless in a ``joblib.parallel_config`` context; -1
        uses all processors. Workers receive the derived subkeys in memory.

    Attributes
    ----------
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen during fit, when ``X`` has string column names.

    See Also
    --------
    Key : Where keys come from and how they pickle.
    skpriv.preprocessing.Masker : One-way de-identification (hash, redact...).

    Notes
    -----
    Values may be ``str``, ``bytes``, ``int``, ``float`` or ``bool``; the type
    is encrypted with the value, so ``inverse_transform`` restores it exactly
    (as Python objects in an object array). Missing cells (``None``, NaN,
    ``pd.NA``, NaT) are not encrypted and stay missing, which reveals where
    values are missing. Other values raise ``TypeError``.

    **Deterministic encryption leaks equality**: anyone who sees the tokens
    learns which rows share a value and how often each value occurs (and so
    may guess frequent values). Use ``deterministic=False`` when the column
    does not need to be joined or grouped. Token lengths follow the value's
    length. Tokens are not a de-identification by themselves: whoever holds
    the key can decrypt.

    **Public-key tokens** are ``urlsafe_b64(0x03 | key_id | enc | ct)``, where
    ``enc | ct`` is RFC 9180's single-shot ``Seal`` in base mode with
    DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM, empty ``aad``,
    and ``info = b"skpriv/column-encryptor/hpke-v1|" + token[:5]`` (followed by
    the column binding, if any). Each value gets its own ephemeral key, so a
    token is 53 bytes longer than the value and costs one X25519 agreement to
    make and one to open (tens of thousands per second per core; ``n_jobs``
    splits large columns).

    ``fit`` learns nothing from the values (only the number and names of the
    columns); ``transform`` of a wrongly keyed, tampered or truncated token in
    ``inverse_transform`` raises :class:`~skpriv.exceptions.DecryptionError`
    and returns no partial output.

    References
    ----------
    .. [1] D. Harkins, "Synthetic Initialization Vector (SIV) Authenticated
       Encryption Using the Advanced Encryption Standard (AES)", RFC 5297,
       2008.
    .. [2] M. Dworkin, "Recommendation for Block Cipher Modes of Operation:
       Galois/Counter Mode (GCM) and GMAC", NIST SP 800-38D, 2007.

    Examples
    --------
    >>> from skpriv.encryption import ColumnEncryptor, Key
    >>> X = [["alice"], ["bob"], ["alice"]]
    >>> enc = ColumnEncryptor(Key.generate()).fit(X)
    >>> tokens = enc.transform(X)
    >>> tokens[0, 0] == tokens[2, 0], tokens[0, 0] == tokens[1, 0]
    (True, False)
    >>> enc.inverse_transform(tokens).ravel().tolist()
    ['alice', 'bob', 'alice']

    Public-key encryption: the collector holds only the public key.

    >>> from skpriv.encryption import KeyPair
    >>> pair = KeyPair.generate()
    >>> collector = ColumnEncryptor(pair.public_key()).fit(X)
    >>> tokens = collector.transform(X)
    >>> ColumnEncryptor(pair).fit(X).inverse_transform(tokens).ravel().tolist()
    ['alice', 'bob', 'alice']
    """

    # fit reads only the number and names of the columns (public metadata);
    # the key is a parameter and a secret, not something learned.
    _privacy_releases: dict = {}

    _parameter_constraints = {
        "key": [Key, KeyPair, PublicKey, list, tuple],
        "deterministic": ["boolean", StrOptions({"auto"})],
        "bind_columns": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, key, *, deterministic="auto", bind_columns=False, n_jobs=None):
        self.key = key
        self.deterministic = deterministic
        self.bind_columns = bind_columns
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        try:
            tags.non_deterministic = not self._deterministic()
        except (TypeError, ValueError):
            tags.non_deterministic = self.deterministic is not True
        return tags

    def _deterministic(self) -> bool:
        """``deterministic`` resolved for the encrypting key (the first)."""
        public = isinstance(check_column_keys(self.key)[0], (KeyPair, PublicKey))
        if self.deterministic == "auto":
            return not public
        if self.deterministic and public:
            raise ValueError(
                "deterministic=True cannot be used with a public key: anyone "
                "holding the public key could encrypt guesses and compare "
                "tokens. Use deterministic='auto' (or False); to join on an "
                "encrypted column, use a symmetric Key."
            )
        return bool(self.deterministic)

    def _materials(self):
        return [_material(k) for k in check_column_keys(self.key)]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the key and record the columns.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Columns to encrypt later.
        y : None
            Ignored.

        Returns
        -------
        self : ColumnEncryptor
            The fitted encryptor.
        """
        # Resolve the key now: a missing env var or file fails here, not later.
        self._deterministic()
        self._materials()
        validate_quietly(
            self,
            typed_columns_as_object(X, nullable=True),
            dtype=None,
            ensure_all_finite=False,
        )
        return self

    def _column_ad(self, j):
        if not self.bind_columns:
            return None
        names = getattr(self, "feature_names_in_", None)
        name = str(names[j]) if names is not None else f"x{j}"
        return b"skpriv/column:" + name.encode("utf-8")

    def transform(self, X):
        """Encrypt every non-missing cell with the newest key.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Values to encrypt.

        Returns
        -------
        tokens : ndarray of shape (n_samples, n_features), dtype=object
            Text tokens; missing cells stay missing.
        """
        check_is_fitted(self)
        X = validate_quietly(
            self,
            typed_columns_as_object(X, nullable=True),
            dtype=None,
            ensure_all_finite=False,
            reset=False,
        )
        return self._encrypt(X, self._materials()[0])

    def _encrypt(self, X, material):
        deterministic = self._deterministic()
        out = np.empty(X.shape, dtype=object)
        for j in range(X.shape[1]):
            # Blocks of rows bound the temporaries (value lists, plaintexts,
            # raw tokens) to a block's worth: the peak stays near the
            # output's size instead of five times the column's.
            for start in range(0, X.shape[0], self._block_rows()):
                rows = slice(start, start + self._block_rows())
                out[rows, j] = self._encrypt_block(
                    X[rows, j], material, j, deterministic
                )
        return out

    def _block_rows(self) -> int:
        # Large enough that each joblib worker gets a full chunk.
        return _BLOCK_ROWS * max(1, effective_n_jobs(self.n_jobs or 1))

    def _encrypt_block(self, col, material, j, deterministic):
        missing = is_missing(col)
        if missing.all():
            return col
        block = col.astype(object)  # a copy: col is a view of the input
        values = col[~missing].tolist()
        # Equal values give equal AES-SIV tokens: encrypt each once.
        uniques = distinct_str(values) if deterministic else None
        tokens = map_chunks(
            encrypt_values,
            values if uniques is None else uniques,
            self.n_jobs,
            material,
            deterministic,
            self._column_ad(j),
        )
        if uniques is not None:
            tokens = expand(values, uniques, tokens)
        del values, uniques
        block[~missing] = as_object_array(tokens)
        return block

    def _decrypt(self, X):
        X = check_array(X, dtype=None, ensure_all_finite=False, input_name="X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} columns, but {type(self).__name__} was "
                f"fitted with {self.n_features_in_}."
            )
        materials = self._materials()
        if not any(getattr(m, "can_decrypt", True) for m in materials):
            ids = ", ".join(repr(m.key_id.hex()) for m in materials)
            raise ValueError(
                f"This ColumnEncryptor holds only public keys (key_id {ids}): "
                f"it encrypts but cannot decrypt. Decrypt where the private "
                f"key is, with ColumnEncryptor(KeyPair.from_env(...)) or "
                f"set_params(key=key_pair)."
            )
        out = np.empty(X.shape, dtype=object)
        for j in range(X.shape[1]):
            col = X[:, j]
            missing = is_missing(col)
            out[:, j] = col if col.dtype == object else col.astype(object)
            if missing.all():
                continue
            column = out[:, j]
            try:
                column[~missing] = self._decrypt_column(
                    col[~missing].tolist(), materials, self._column_ad(j)
                )
            except DecryptionError as exc:
                position = getattr(exc, "position", None)
                if position is None:
                    raise
                # Missing cells were left out: name the row of X, and the column.
                row = int(np.flatnonzero(~missing)[position])
                names = getattr(self, "feature_names_in_", None)
                name = repr(str(names[j])) if names is not None else str(j)
                raise DecryptionError(
                    f"Token at position {row} of column {name}{exc.detail}"
                ) from None
            out[:, j] = column
        return out

    def _decrypt_column(self, tokens, materials, ad):
        # Deterministic tokens repeat with their values: decrypt each once.
        # On failure, decrypt in order so that the error names the position.
        uniques = distinct_str(tokens)
        if uniques is not None:
            try:
                values = map_chunks(decrypt_tokens, uniques, self.n_jobs, materials, ad)
                return as_object_array(expand(tokens, uniques, values))
            except DecryptionError:
                pass
        return as_object_array(
            map_chunks(decrypt_tokens, tokens, self.n_jobs, materials, ad)
        )

    def inverse_transform(self, X):
        """Decrypt tokens made with any key of the key ring.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Tokens from :meth:`transform`; missing cells stay missing.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features), dtype=object
            The original values.

        Raises
        ------
        DecryptionError
            If any token was made with another key, was altered, truncated,
            or (with ``bind_columns=True``) comes from another column. No
            partial output is returned.
        """
        check_is_fitted(self)
        return self._decrypt(X)

    def rotate(self, X):
        """Re-encrypt tokens from any key of the ring under the newest key.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Tokens made with any key in ``key``.

        Returns
        -------
        tokens : ndarray of shape (n_samples, n_features), dtype=object
            The same values encrypted with ``key[0]``.
        """
        check_is_fitted(self)
        return self._encrypt(self._decrypt(X), self._materials()[0])
