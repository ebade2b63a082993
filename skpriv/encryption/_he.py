"""``HEModel``: linear-model inference on CKKS-encrypted rows (TenSEAL)."""

import json
import struct

import numpy as np
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["EncryptedRows", "HEModel", "SECURITY_LEVELS"]

#: Largest total coefficient modulus (bits) per polynomial degree for each
#: security level, for uniform ternary secrets (HomomorphicEncryption.org
#: standard, 2018, Table 1; the same table Microsoft SEAL enforces for 128).
SECURITY_LEVELS = {
    128: {4096: 109, 8192: 218, 16384: 438, 32768: 881},
    192: {4096: 75, 8192: 152, 16384: 305, 32768: 611},
    256: {4096: 58, 8192: 118, 16384: 237, 32768: 476},
}
_MAGIC = b"SKPRIV-HE1\n"
_MAX_ABS_INPUT = 2.0**16  # headroom under the 60-bit first prime at scale 2^40


def _tenseal():
    try:
        import tenseal
    except ImportError:
        raise ImportError(
            "HEModel needs TenSEAL: install the extra with "
            "pip install 'skpriv[he]' (or pip install tenseal)."
        ) from None
    return tenseal


class EncryptedRows:
    """CKKS ciphertexts of a block of rows: features, or scores.

    Rows are batched column-wise: each ciphertext holds one column of up to
    ``poly_modulus_degree / 2`` rows, so a linear score costs one plaintext
    multiplication and one addition per feature and batch (no rotation, no
    Galois keys). The ciphertexts are linked to a context without the secret
    key; :meth:`serialize` writes that public context with them.

    Made by :meth:`HEModel.encrypt` (features) and
    :meth:`HEModel.decision_function_encrypted` (scores), or read back with
    :meth:`from_bytes`; each parameter is stored as an attribute of the same
    name.

    Parameters
    ----------
    batches : list of list of tenseal.CKKSVector
        One list per batch of rows, holding one ciphertext per column.
    n_rows : int
        Number of rows.
    n_columns : int
        Columns (features, or scores per row).
    kind : {"features", "scores"}
        What the ciphertexts hold.
    context : tenseal.Context
        The context the ciphertexts are linked to.

    See Also
    --------
    HEModel : Score a linear model on encrypted rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from skpriv.encryption import EncryptedRows, HEModel
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]])
    >>> model = HEModel(LinearRegression().fit(X, [1.0, 2.0, 4.0]))
    >>> context = HEModel.make_context()
    >>> enc = model.encrypt(X, context)
    >>> enc
    EncryptedRows(kind='features', n_rows=3, n_columns=2, n_ciphertexts=2)
    >>> EncryptedRows.from_bytes(enc.serialize()).n_rows
    3
    """

    def __init__(self, batches, n_rows, n_columns, kind, context):
        self.batches = batches  # list over row batches of lists over columns
        self.n_rows = n_rows
        self.n_columns = n_columns
        self.kind = kind
        self.context = context

    def __repr__(self):
        return (
            f"EncryptedRows(kind={self.kind!r}, n_rows={self.n_rows}, "
            f"n_columns={self.n_columns}, n_ciphertexts="
            f"{sum(len(b) for b in self.batches)})"
        )

    def serialize(self):
        """Write the ciphertexts and their public context (no secret key) to bytes.

        Returns
        -------
        data : bytes
            What :meth:`from_bytes` reads: a header, the public context, then
            every ciphertext.
        """
        parts = [self.context.serialize(save_secret_key=False)]
        parts += [v.serialize() for batch in self.batches for v in batch]
        header = json.dumps(
            {
                "n_rows": self.n_rows,
                "n_columns": self.n_columns,
                "kind": self.kind,
                "sizes": [len(p) for p in parts],
                "batch_rows": [b[0].size() for b in self.batches],
            }
        ).encode()
        return b"".join([_MAGIC, struct.pack(">I", len(header)), header, *parts])

    @classmethod
    def from_bytes(cls, data):
        """Read what :meth:`serialize` wrote (on the server: no secret key).

        Parameters
        ----------
        data : bytes
            The output of :meth:`serialize`.

        Returns
        -------
        rows : EncryptedRows
            The ciphertexts, linked to the public context read with them.

        Raises
        ------
        ValueError
            If the data is malformed or its context holds a secret key (a
            server must never receive it).
        """
        ts = _tenseal()
        if not isinstance(data, bytes) or not data.startswith(_MAGIC):
            raise ValueError("data is not serialized EncryptedRows.")
        try:
            pos = len(_MAGIC)
            (n,) = struct.unpack(">I", data[pos : pos + 4])
            header = json.loads(data[pos + 4 : pos + 4 + n])
            pos += 4 + n
            parts = []
            for size in header["sizes"]:
                parts.append(data[pos : pos + size])
                pos += size
            if pos != len(data) or header["kind"] not in ("features", "scores"):
                raise ValueError
            n_cols = int(header["n_columns"])
            n_batches = len(header["batch_rows"])
            if len(parts) != 1 + n_cols * n_batches:
                raise ValueError
        except (ValueError, KeyError, TypeError, struct.error):
            raise ValueError(
                "data is not well-formed serialized EncryptedRows."
            ) from None
        context = ts.context_from(parts[0])
        _check_public(context, "The serialized data")
        vectors = [ts.ckks_vector_from(context, p) for p in parts[1:]]
        batches = [vectors[i * n_cols : (i + 1) * n_cols] for i in range(n_batches)]
        return cls(batches, int(header["n_rows"]), n_cols, header["kind"], context)


def _check_public(context, what):
    if context.is_private() or context.has_secret_key():
        raise ValueError(
            f"{what} holds the client's secret key, with which the server could "
            f"decrypt everything: only a public context may leave the client "
            f"(EncryptedRows.serialize() writes one; HEModel.public_context "
            f"makes one)."
        )


class HEModel:
    """Score a fitted linear model on homomorphically encrypted rows.

    A client encrypts its rows with CKKS [1]_ (TenSEAL [2]_, on Microsoft
    SEAL), a server computes the linear scores on the ciphertexts without
    any secret key, and the client decrypts them::

        context = HEModel.make_context()                   # client
        enc = model.encrypt(X, context)                     # client
        enc_scores = model.decision_function_encrypted(enc) # server
        scores = model.decrypt(enc_scores, context)         # client

    Parameters
    ----------
    estimator : fitted estimator
        A linear model whose ``decision_function`` (classifiers) or
        ``predict`` (regressors) is ``X @ coef_.T + intercept_``:
        ``LogisticRegression``, ``LinearSVC``, ``LinearRegression``,
        ``Ridge``, skpriv's ``DPLogisticRegression`` and DP linear models.
        A ``Pipeline`` ending in one also works: its earlier steps run in
        plaintext on the client, in :meth:`encrypt`.

    See Also
    --------
    EncryptedEstimator : A model kept encrypted at rest.
    ColumnEncryptor : Encrypt columns of data.

    Notes
    -----
    **Security.** Contexts use CKKS with a polynomial degree of 8192 and a
    218-bit (at most) coefficient modulus chain ``(60, 40, 60)``: 128-bit
    security by the HomomorphicEncryption.org standard. :meth:`make_context`
    refuses parameters below the requested ``security_level`` (128, 192 or
    256 bits). The server sees only ciphertexts and a public context
    (public key, no secret key); :meth:`decision_function_encrypted` refuses
    a context that holds a secret key. The server learns the number of rows
    and features, and the client learns the scores (from which a model can
    be stolen by many queries); CKKS is approximate (errors near 1e-6 of the
    scores' scale) and, as all HE, not secure against a server that returns
    chosen ciphertexts to see how the client reacts to its decryptions.

    Values must stay below about 5e5 in magnitude (features and scores):
    scale features first (a ``StandardScaler`` in the pipeline).

    References
    ----------
    .. [1] J. H. Cheon, A. Kim, M. Kim, Y. Song, "Homomorphic Encryption for
       Arithmetic of Approximate Numbers", ASIACRYPT 2017.
    .. [2] A. Benaissa et al., "TenSEAL: A Library for Encrypted Tensor
       Operations Using Homomorphic Encryption", 2021.
    .. [3] M. Albrecht et al., "Homomorphic Encryption Security Standard",
       HomomorphicEncryption.org, 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skpriv.encryption import HEModel
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> model = HEModel(LogisticRegression().fit(X, [0, 0, 1, 1]))
    >>> context = HEModel.make_context()
    >>> enc_scores = model.decision_function_encrypted(model.encrypt(X, context))
    >>> model.decrypt(enc_scores, context, output="predict")
    array([0, 0, 1, 1])
    """

    def __init__(self, estimator):
        self.estimator = estimator

    # ------------------------------------------------------------- contexts
    @staticmethod
    def make_context(
        *,
        poly_modulus_degree=8192,
        coeff_mod_bit_sizes=(60, 40, 60),
        global_scale=2.0**40,
        security_level=128,
    ):
        """A CKKS context with a secret key, for the client.

        Parameters
        ----------
        poly_modulus_degree : int, default=8192
            Ring dimension; half of it is the rows per ciphertext.
        coeff_mod_bit_sizes : tuple of int, default=(60, 40, 60)
            Coefficient modulus chain; the middle primes must equal
            ``log2(global_scale)`` and there must be at least one.
        global_scale : float, default=2**40
            CKKS scale.
        security_level : {128, 192, 256}, default=128
            Bits of security required; weaker parameters are refused.

        Returns
        -------
        context : tenseal.Context
            Keep it on the client; send only ciphertexts (their public
            context travels with them).
        """
        ts = _tenseal()
        if security_level not in SECURITY_LEVELS:
            raise ValueError("security_level must be 128, 192 or 256 (bits).")
        limits = SECURITY_LEVELS[security_level]
        bits = [int(b) for b in coeff_mod_bit_sizes]
        if poly_modulus_degree not in limits:
            raise ValueError(
                f"poly_modulus_degree must be one of {sorted(limits)}; got "
                f"{poly_modulus_degree!r}."
            )
        if sum(bits) > limits[poly_modulus_degree]:
            raise ValueError(
                f"coeff_mod_bit_sizes sum to {sum(bits)} bits, above the "
                f"{limits[poly_modulus_degree]} bits that keep "
                f"{security_level}-bit security at poly_modulus_degree="
                f"{poly_modulus_degree}; use fewer bits or a larger degree."
            )
        if len(bits) < 3 or any(2.0**b != global_scale for b in bits[1:-1]):
            raise ValueError(
                "coeff_mod_bit_sizes needs at least one middle prime of "
                "log2(global_scale) bits (for the multiplication by the "
                "weights), e.g. (60, 40, 60) with global_scale=2**40."
            )
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            poly_modulus_degree=poly_modulus_degree,
            coeff_mod_bit_sizes=bits,
        )
        context.global_scale = global_scale
        return context

    @staticmethod
    def public_context(context):
        """Copy ``context`` without its secret key (safe to send).

        Parameters
        ----------
        context : tenseal.Context
            A context from :meth:`make_context`, with its secret key.

        Returns
        -------
        public : tenseal.Context
            A copy holding only public keys; ``context`` is unchanged.
        """
        public = context.copy()
        public.make_context_public()
        return public

    # ------------------------------------------------------------- the model
    def _split(self):
        est = self.estimator
        steps = getattr(est, "steps", None)
        if steps is not None:
            return est[:-1], est[-1]
        return None, est

    def _linear(self):
        """``(coef (K, d), intercept (K,), final estimator)``, checked linear."""
        cached = self.__dict__.get("_linear_cache")
        if cached is not None:
            return cached
        _, final = self._split()
        check_is_fitted(final)
        if not hasattr(final, "coef_"):
            raise TypeError(
                f"HEModel scores linear models (coef_ and intercept_); "
                f"{type(final).__name__} has no coef_."
            )
        coef = np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))
        intercept = np.broadcast_to(
            np.asarray(getattr(final, "intercept_", 0.0), dtype=np.float64),
            (coef.shape[0],),
        ).copy()
        method = (
            "decision_function" if hasattr(final, "decision_function") else "predict"
        )
        # Its scores must be X @ coef.T + intercept: check on random rows.
        probe = np.random.default_rng(0).normal(size=(8, coef.shape[1]))
        expected = np.asarray(getattr(final, method)(probe), dtype=np.float64)
        if not np.allclose(
            (probe @ coef.T + intercept).reshape(expected.shape), expected, rtol=1e-6
        ):
            raise TypeError(
                f"HEModel needs {type(final).__name__}.{method} to be X @ coef_.T "
                f"+ intercept_; it is not, so it cannot be computed on "
                f"encrypted rows."
            )
        link = _probability_link(final, probe, probe @ coef.T + intercept)
        self._linear_cache = (coef, intercept, final, link)
        return self._linear_cache

    # ------------------------------------------------------------ the client
    def encrypt(self, X, context):
        """Encrypt rows (after the pipeline's preprocessing) for the server.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Plaintext rows.
        context : tenseal.Context
            From :meth:`make_context`.

        Returns
        -------
        enc : EncryptedRows
            Ciphertexts linked to the public part of ``context``.
        """
        ts = _tenseal()
        pre, _ = self._split()
        if pre is not None:
            X = pre.transform(X)
        X = check_array(X, dtype=np.float64, input_name="X")
        coef = self._linear()[0]
        if X.shape[1] != coef.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model takes {coef.shape[1]}."
            )
        if np.abs(X).max(initial=0.0) > _MAX_ABS_INPUT:
            raise ValueError(
                "X holds values above 65536 in magnitude, beyond what CKKS at "
                "this scale computes exactly; scale the features first (for "
                "instance a StandardScaler in the pipeline)."
            )
        public = self.public_context(context)
        _check_security(context)
        batch = _params(context)[0] // 2
        batches = [
            [ts.ckks_vector(public, X[i : i + batch, j]) for j in range(X.shape[1])]
            for i in range(0, X.shape[0], batch)
        ]
        return EncryptedRows(batches, X.shape[0], X.shape[1], "features", public)

    def decrypt(self, enc_scores, context, output="decision_function"):
        """Decrypt scores from :meth:`decision_function_encrypted`.

        Parameters
        ----------
        enc_scores : EncryptedRows
            The server's answer (or its bytes).
        context : tenseal.Context
            The client's context, with the secret key.
        output : {"decision_function", "predict", "predict_proba"}
            The scores, the predictions computed from them (class labels, or
            the regression), or class probabilities (models with
            ``predict_proba``).

        Returns
        -------
        out : ndarray
            As the plaintext model's method would return.
        """
        if isinstance(enc_scores, bytes):
            enc_scores = EncryptedRows.from_bytes(enc_scores)
        if not isinstance(enc_scores, EncryptedRows) or enc_scores.kind != "scores":
            raise TypeError(
                "enc_scores must be what decision_function_encrypted returned."
            )
        if not context.has_secret_key():
            raise ValueError(
                "Decrypting needs the client's context with its secret key."
            )
        columns = []
        for batch in enc_scores.batches:
            values = []
            for vector in batch:
                vector.link_context(context)
                values.append(np.asarray(vector.decrypt(), dtype=np.float64))
            columns.append(np.stack(values, axis=1))
        scores = np.concatenate(columns, axis=0)[: enc_scores.n_rows]
        return self.from_scores(scores, output)

    def from_scores(self, scores, output="decision_function"):
        """Turn (decrypted) linear scores into predictions or probabilities.

        Parameters
        ----------
        scores : ndarray of shape (n_samples, n_outputs)
            Linear scores, one column per row of ``coef_``.
        output : {"decision_function", "predict", "predict_proba"}
            What to return.

        Returns
        -------
        out : ndarray
            The scores themselves (1-d with one output), the predicted
            classes (or values, for a regressor), or class probabilities,
            as the estimator's own method would return them.
        """
        _, _, final, link = self._linear()
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim == 1:
            scores = scores[:, None]
        flat = scores[:, 0] if scores.shape[1] == 1 else scores
        classes = getattr(final, "classes_", None)
        if output == "decision_function":
            return flat
        if output == "predict":
            if classes is None:
                return flat
            if scores.shape[1] == 1:
                return classes[(flat > 0).astype(int)]
            return classes[np.argmax(scores, axis=1)]
        if output == "predict_proba":
            if link is None:
                raise AttributeError(
                    f"{type(final).__name__} has no predict_proba HEModel can "
                    f"compute from scores."
                )
            return link(scores)
        raise ValueError(
            "output must be 'decision_function', 'predict' or 'predict_proba'; "
            f"got {output!r}."
        )

    # ------------------------------------------------------------ the server
    def decision_function_encrypted(self, enc):
        """Linear scores of encrypted rows, computed without any secret key.

        Parameters
        ----------
        enc : EncryptedRows or bytes
            From the client's :meth:`encrypt` (or its serialized bytes).

        Returns
        -------
        enc_scores : EncryptedRows
            One ciphertext per score column and batch of rows.
        """
        if isinstance(enc, bytes):
            enc = EncryptedRows.from_bytes(enc)
        if not isinstance(enc, EncryptedRows) or enc.kind != "features":
            raise TypeError("enc must be EncryptedRows of features from encrypt().")
        _check_public(enc.context, "The context of the encrypted rows")
        _check_security(enc.context)
        coef, intercept = self._linear()[:2]
        if enc.n_columns != coef.shape[1]:
            raise ValueError(
                f"The encrypted rows have {enc.n_columns} features, but the "
                f"model takes {coef.shape[1]}."
            )
        out = []
        for batch in enc.batches:
            scores = []
            for k in range(coef.shape[0]):
                acc = batch[0] * float(coef[k, 0])
                for j in range(1, coef.shape[1]):
                    acc.add_(batch[j] * float(coef[k, j]))
                scores.append(acc + float(intercept[k]))
            out.append(scores)
        return EncryptedRows(out, enc.n_rows, coef.shape[0], "scores", enc.context)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_linear_cache", None)
        return state


def _params(context):
    """``(poly_modulus_degree, total coefficient modulus bits)`` of a context."""
    data = context.seal_context().data.key_context_data()
    return data.parms().poly_modulus_degree(), data.total_coeff_modulus_bit_count()


def _check_security(context, level=128):
    """Refuse a context weaker than ``level`` bits (the HE standard's table)."""
    degree, bits = _params(context)
    limit = SECURITY_LEVELS[level].get(degree)
    if limit is None or bits > limit:
        raise ValueError(
            f"The context (poly_modulus_degree={degree}, {bits}-bit coefficient "
            f"modulus) gives less than {level}-bit security; make it with "
            f"HEModel.make_context()."
        )


def _probability_link(final, probe, scores):
    """The function from scores to ``final.predict_proba``, found by testing."""
    if not hasattr(final, "predict_proba"):
        return None
    try:
        expected = final.predict_proba(probe)
    except Exception:  # noqa: BLE001 - no usable predict_proba
        return None

    def sigmoid(z):
        return 1 / (1 + np.exp(-np.clip(z, -500, 500)))

    def binary(s):
        p = sigmoid(s[:, 0])
        return np.stack([1 - p, p], axis=1)

    def softmax(s):
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def ovr(s):
        p = sigmoid(s)
        return p / p.sum(axis=1, keepdims=True)

    candidates = [binary] if scores.shape[1] == 1 else [softmax, ovr]
    for link in candidates:
        if np.allclose(link(scores), expected, atol=1e-8):
            return link
    return None
