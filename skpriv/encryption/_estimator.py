"""``EncryptedEstimator``: a fitted model kept only as authenticated ciphertext."""

import copy
import pickle

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ..base import DP, PUBLIC, declared_releases
from ..utils._errors import call_hiding_values
from ..utils._sklearn_compat import _fit_context
from ._envelope import open_envelope, seal
from ._key import Key, check_keyring

__all__ = ["EncryptedEstimator"]

_PURPOSE = "encrypted-estimator"


def _inner_has(attr):
    def check(self):
        getattr(self.estimator, attr)
        return True

    return check


class EncryptedEstimator(MetaEstimatorMixin, BaseEstimator):
    """Fit an estimator, then keep it only as authenticated ciphertext.

    ``fit`` fits a clone of ``estimator``, serializes it and encrypts it with
    AES-256-GCM under ``key``; the fitted model itself is dropped. Each call
    of ``predict``, ``predict_proba``, ``predict_log_proba``,
    ``decision_function``, ``transform``, ``score`` or
    ``get_feature_names_out`` (those the inner estimator has) decrypts and
    deserializes it transiently, uses it and lets it go. A pickle of a fitted
    ``EncryptedEstimator`` therefore holds no plaintext parameter of the model
    (and, with a key from an environment variable or a file, no key either).

    Parameters
    ----------
    estimator : estimator object
        The estimator to fit and protect; cloned.
    key : Key or list of Key
        Encrypts with the first key; a key ring (newest first) decrypts models
        sealed with any of its keys.

    Attributes
    ----------
    encrypted_estimator_ : bytes
        The fitted estimator, serialized and sealed (see :func:`dump` for the
        envelope format).
    key_id_ : str
        Public fingerprint of the key that sealed it.
    n_features_in_ : int
        Number of features seen during fit (when the inner estimator has it).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during fit (when the inner estimator has them).
    classes_ : ndarray of shape (n_classes,)
        Class labels of a classifier, decrypted on access.

    See Also
    --------
    dump : Encrypt any object to a file.
    ColumnEncryptor : Encrypt data columns.

    Notes
    -----
    This protects the model at rest (pickles, joblib caches, model stores),
    not its predictions: anyone who can call ``predict`` learns what the
    model reveals, and the model is briefly in memory during each call.
    Decrypting on every call costs roughly one ``pickle.loads`` of the model.
    The inner serialization is pickle: it is only deserialized after its
    authentication tag is verified, so only key holders can supply it.

    Every call starts from the model as fitted, so state a call changes is
    not kept: a noise transformer inside with an integer ``random_state``
    repeats the same noise on every ``transform`` (with the default
    ``random_state=None`` each call draws fresh noise).

    :func:`~skpriv.accounting.privacy_spent` decrypts the model transiently
    (so it needs the key) and accounts for it as for the plain model: the DP
    events its fit recorded, its ``delta`` parameter, and what it releases
    without DP (a plain ``LogisticRegression`` inside is named as not
    covered, under the part
    ``encrypted_estimator_[LogisticRegression]``). Encryption hides the
    model from whoever lacks the key; it is not differential privacy.

    Examples
    --------
    >>> import pickle
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skpriv.encryption import EncryptedEstimator, Key
    >>> X, y = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
    >>> model = EncryptedEstimator(LogisticRegression(), Key.generate()).fit(X, y)
    >>> model.predict([[0.5], [2.5]])
    array([0, 1])
    >>> hasattr(model, "coef_")
    False
    """

    # The ciphertext holds the fitted model: privacy_spent walks the model
    # (decrypted, as the part "encrypted_estimator_") and reports what it
    # releases there; the attribute's own kind follows the model's.
    _privacy_releases = {"encrypted_estimator_": DP, "key_id_": PUBLIC}

    _parameter_constraints = {
        "estimator": "no_validation",  # checked in fit: needs a ``fit`` method
        "key": [Key, list, tuple],
    }

    def __init__(self, estimator, key):
        self.estimator = estimator
        self.key = key

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.target_tags = copy.deepcopy(inner.target_tags)
        tags.input_tags = copy.deepcopy(inner.input_tags)
        tags.classifier_tags = copy.deepcopy(inner.classifier_tags)
        tags.regressor_tags = copy.deepcopy(inner.regressor_tags)
        tags.transformer_tags = copy.deepcopy(inner.transformer_tags)
        tags.non_deterministic = inner.non_deterministic
        return tags

    @property
    def _releases_private_output(self):
        # A local-DP transformer inside still releases only noisy rows.
        return getattr(self.estimator, "_releases_private_output", False)

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        inner = getattr(self, "_inner_uncovered", ())
        if inner:
            kinds["encrypted_estimator_"] = (
                "uncovered: ciphertext of a model whose fit releases "
                + "; ".join(inner)
            )
        return kinds

    def _privacy_children(self):
        """The fitted model, decrypted for one walk of ``privacy_spent``."""
        if "encrypted_estimator_" not in self.__dict__:
            return []
        try:
            model = self._decrypted()
        except (ValueError, KeyError, OSError) as exc:
            raise ValueError(
                f"privacy_spent reads the model EncryptedEstimator holds "
                f"encrypted (its DP events and what it releases) and needs its "
                f"key: {exc}"
            ) from None
        # Named after the attribute (so the walker does not report the
        # ciphertext again) and the model's class.
        return [(f"encrypted_estimator_[{type(model).__name__}]", model)]

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``estimator`` and keep it encrypted.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Targets, where the inner estimator uses them.
        **fit_params : dict
            Passed to the inner estimator's ``fit``.

        Returns
        -------
        self : EncryptedEstimator
            The fitted meta-estimator, holding the model only encrypted.
        """
        from ..accounting._walk import uncovered

        if not hasattr(self.estimator, "fit"):
            raise TypeError(
                f"estimator must be an estimator with a fit method; got "
                f"{type(self.estimator).__name__}."
            )
        keys = check_keyring(self.key)
        keys[0]._bytes()  # a missing env var or key file fails before fitting
        for attr in ("n_features_in_", "feature_names_in_", "_inner_uncovered"):
            self.__dict__.pop(attr, None)
        fitted = call_hiding_values(clone(self.estimator).fit, X, y, **fit_params)
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(fitted, attr):
                setattr(self, attr, getattr(fitted, attr))
        # Which of its releases the model's DP does not cover: structure
        # (class, attribute names, reasons), never values.
        self._inner_uncovered = tuple(
            str(release) for release in uncovered(fitted, type(fitted).__name__)
        )
        payload = pickle.dumps(fitted, protocol=pickle.HIGHEST_PROTOCOL)
        del fitted
        self.encrypted_estimator_ = seal(
            payload, keys, _PURPOSE, {"serializer": "pickle"}
        )
        self.key_id_ = keys[0].key_id
        return self

    def rotate(self):
        """Re-encrypt the fitted model under the newest key, without refitting.

        With ``key=[new_key, old_key]``, a model sealed with ``old_key`` is
        decrypted and sealed again with ``new_key``; ``old_key`` can then be
        retired.

        Returns
        -------
        self : EncryptedEstimator
            This estimator, now sealed with ``key[0]``.
        """
        check_is_fitted(self, "encrypted_estimator_")
        keys = check_keyring(self.key)
        header, payload = open_envelope(self.encrypted_estimator_, keys, _PURPOSE)
        header.pop("algorithm", None)
        self.encrypted_estimator_ = seal(payload, keys, _PURPOSE, header)
        self.key_id_ = keys[0].key_id
        return self

    def _decrypted(self):
        """The fitted inner estimator, decrypted for one use."""
        check_is_fitted(self, "encrypted_estimator_")
        _, payload = open_envelope(self.encrypted_estimator_, self.key, _PURPOSE)
        return pickle.loads(payload)

    @property
    def classes_(self):
        """Class labels of the inner classifier (decrypted on access)."""
        return self._decrypted().classes_

    @available_if(_inner_has("predict"))
    def predict(self, X, **params):
        """Predict with the decrypted inner estimator."""
        return call_hiding_values(self._decrypted().predict, X, **params)

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X, **params):
        """Class probabilities from the decrypted inner estimator."""
        return call_hiding_values(self._decrypted().predict_proba, X, **params)

    @available_if(_inner_has("predict_log_proba"))
    def predict_log_proba(self, X, **params):
        """Log class probabilities from the decrypted inner estimator."""
        return call_hiding_values(self._decrypted().predict_log_proba, X, **params)

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the decrypted inner estimator."""
        return call_hiding_values(self._decrypted().decision_function, X)

    @available_if(_inner_has("transform"))
    def transform(self, X, **params):
        """Transform with the decrypted inner estimator."""
        model = self._decrypted()
        container = getattr(self, "_sklearn_output_config", {}).get("transform")
        if container is not None and hasattr(model, "set_output"):
            model.set_output(transform=container)
        return model.transform(X, **params)

    @available_if(_inner_has("transform"))
    def fit_transform(self, X, y=None, **fit_params):
        """Fit, keep the model encrypted, and transform ``X`` with it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Targets, where the inner estimator uses them.
        **fit_params : dict
            Passed to the inner estimator's ``fit``.

        Returns
        -------
        X_new : ndarray or DataFrame
            ``X`` transformed by the fitted inner estimator.
        """
        return self.fit(X, y, **fit_params).transform(X)

    @available_if(_inner_has("transform"))
    def set_output(self, *, transform=None):
        """Set the output container of :meth:`transform`.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            Passed to the decrypted inner estimator's ``set_output`` at each
            ``transform``; ``None`` leaves the configuration unchanged.

        Returns
        -------
        self : EncryptedEstimator
            This estimator.
        """
        if transform is not None:
            self._sklearn_output_config = {"transform": transform}
        return self

    @available_if(_inner_has("score"))
    def score(self, X, y=None, **params):
        """Score of the decrypted inner estimator."""
        return call_hiding_values(self._decrypted().score, X, y, **params)

    @available_if(_inner_has("get_feature_names_out"))
    def get_feature_names_out(self, input_features=None):
        """Output feature names of the decrypted inner estimator."""
        return self._decrypted().get_feature_names_out(input_features)
