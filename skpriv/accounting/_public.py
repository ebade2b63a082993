"""``DeclaredPublic``: the user's statement that what a step learns is public."""

from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

__all__ = ["DeclaredPublic"]


def _inner_has(method):
    return lambda self: hasattr(self.estimator, method)


class DeclaredPublic(MetaEstimatorMixin, BaseEstimator):
    """Declare that what a step learns from its training data is public.

    Wrap a step whose fitted state does not depend on anything private (an
    encoder whose categories are public knowledge, a scaler fitted on a
    public reference set with ``warm_start``, a feature selector with public
    settings) so that :func:`privacy_spent` does not list it as learning from
    the private rows. The declaration is the user's: ``privacy_spent`` takes
    it on trust and records the ``reason`` in ``reason_``. Steps that learn
    nothing from values are recognized without it (stateless transformers,
    ``OneHotEncoder`` / ``OrdinalEncoder`` with given ``categories``,
    ``FrozenEstimator``, skpriv's masking and encryption).

    Parameters
    ----------
    estimator : estimator
        The step; cloned and fitted as usual.
    reason : str
        Why its fitted state is public (shown by ``privacy_spent``'s reports).

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone.
    reason_ : str
        The declared reason.

    See Also
    --------
    privacy_spent : Reads the declaration.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import KBinsDiscretizer
    >>> from skpriv.accounting import DeclaredPublic, privacy_spent
    >>> step = DeclaredPublic(
    ...     KBinsDiscretizer(n_bins=2, encode="ordinal", strategy="uniform"),
    ...     reason="the range of ages is public",
    ... )
    >>> pipe = make_pipeline(step).fit([[0.0], [50.0], [100.0]])
    >>> privacy_spent(pipe)
    PrivacySpent(epsilon=0.0, delta=0.0)
    """

    _privacy_public = True

    def __init__(self, estimator, reason):
        self.estimator = estimator
        self.reason = reason

    def _check_reason(self):
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ValueError(
                "reason must be a non-empty string saying why what the step "
                "learns is public."
            )

    def fit(self, X, y=None, **fit_params):
        """Fit the wrapped step.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Targets, where the step uses them.
        **fit_params : dict
            Passed to the step's ``fit``.

        Returns
        -------
        self : DeclaredPublic
            The fitted wrapper.
        """
        self._check_reason()
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.reason_ = self.reason
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    @available_if(_inner_has("transform"))
    def transform(self, X):
        """Transform with the fitted step."""
        check_is_fitted(self)
        return self.estimator_.transform(X)

    @available_if(_inner_has("fit_transform"))
    def fit_transform(self, X, y=None, **fit_params):
        """Fit the wrapped step and transform ``X``."""
        self._check_reason()
        self.estimator_ = clone(self.estimator)
        out = self.estimator_.fit_transform(X, y, **fit_params)
        self.reason_ = self.reason
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return out

    @available_if(_inner_has("inverse_transform"))
    def inverse_transform(self, X):
        """Inverse-transform with the fitted step."""
        check_is_fitted(self)
        return self.estimator_.inverse_transform(X)

    @available_if(_inner_has("predict"))
    def predict(self, X):
        """Predict with the fitted step."""
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the fitted step."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_inner_has("score"))
    def score(self, X, y=None):
        """Score of the fitted step."""
        check_is_fitted(self)
        return self.estimator_.score(X, y)

    @available_if(_inner_has("get_feature_names_out"))
    def get_feature_names_out(self, input_features=None):
        """Output feature names of the fitted step."""
        check_is_fitted(self)
        return self.estimator_.get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.estimator_type = inner.estimator_type
        tags.input_tags = inner.input_tags
        tags.target_tags = inner.target_tags
        return tags
