"""Scoring in a search: how many times one scoring of a fold calls the estimator.

Each call of a local-DP transformer on a row is a release; scikit-learn's
scorers may call the estimator once per metric or once for several
(``_MultimetricScorer``'s cache), so the search's own scorer is run on a probe
that counts.
"""

import numpy as np

__all__ = ["scoring_calls"]


# --------------------------------------------------------------------------
# Scoring: how many times one scoring of a fold calls the estimator
# --------------------------------------------------------------------------


def scoring_calls(search, like) -> int:
    """Calls to ``predict``/``predict_proba``/``decision_function``/``score``
    that scoring one fold makes, counted on a probe (each call transforms the
    fold's rows once through a pipeline's local-DP steps).

    Counted by running the search's own scorer on a probe with the methods of
    ``like``: scikit-learn caches a response method shared by several
    metrics, a custom scoring callable calls what it calls. If the scorer
    cannot run on the probe, one call per metric is assumed.
    """
    try:
        scorer = getattr(search, "scorer_", None)
        if scorer is None:
            scorer = search._get_scorers()[0]
    except Exception:
        return 1
    n_metrics = len(scorer) if isinstance(scorer, dict) else 1
    if isinstance(scorer, dict):
        try:
            from sklearn.metrics._scorer import _MultimetricScorer

            scorer = _MultimetricScorer(scorers=scorer, raise_exc=False)
        except Exception:
            return n_metrics
    probe, y = _probe_like(like)
    try:
        scorer(probe, np.zeros((len(y), 1)), y)
    except Exception:
        # It failed on the probe's dummy outputs: assume a call per metric.
        return max(probe.calls, n_metrics)
    return probe.calls


_RESPONSE_METHODS = ("predict", "predict_proba", "decision_function", "score")


def _probe_like(like):
    """An object with ``like``'s response methods that counts their calls."""
    classes = getattr(like, "classes_", None)
    try:
        from sklearn.utils import get_tags

        tags = get_tags(like)
    except Exception:
        tags = None
    is_classifier = tags is not None and tags.estimator_type == "classifier"
    if is_classifier and classes is None:
        classes = np.array([0, 1])
    y = np.resize(classes, 6) if is_classifier else np.arange(6.0)

    def method(name):
        def call(self, X, *args, **kwargs):
            self.calls += 1
            n = len(X)
            if name == "predict":
                return np.resize(y, n)
            if name == "predict_proba":
                return np.full((n, len(classes)), 1.0 / len(classes))
            if name == "decision_function":
                k = len(classes) if classes is not None else 2
                return np.zeros(n) if k <= 2 else np.zeros((n, k))
            return 0.0

        call.__name__ = name
        return call

    namespace = {
        name: method(name) for name in _RESPONSE_METHODS if hasattr(like, name)
    }
    namespace["calls"] = 0
    namespace["__sklearn_tags__"] = lambda self: tags
    namespace["fit"] = lambda self, X, y=None: self
    probe = type("_ScoringProbe", (), namespace)()
    if classes is not None:
        probe.classes_ = np.asarray(classes)
    return probe, y
