"""The one walk over a fitted object: its parts, and what each releases.

``walk(obj)`` yields every part of a fitted object — pipeline steps, column
transformer branches, fitted sub-estimators of meta-estimators, the fits of
``cross_validate`` — once, with a dotted path built from step names and the
role the part plays for privacy. ``privacy_spent``, ``collect_dp_events`` and
``non_private_parts`` all read this one walk.
"""

from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ..base import release_kinds, uncovered_releases

__all__ = [
    "Part",
    "UncoveredRelease",
    "as_walkable",
    "fitted_children",
    "is_search",
    "uncovered",
    "walk",
]

#: Roles of a part.
PRIVATE = "private"  # recorded a DP event (its children are inside it)
SEARCH = "search"  # a search: its fits are planned (accounting/_planning.py)
LEAF = "leaf"  # anything else with no fitted parts of its own
POST = "post"  # a leaf after a local-DP release: post-processing


class UncoveredRelease(NamedTuple):
    """Something a fitted object releases that its epsilon does not cover.

    :func:`~skpriv.accounting.privacy_spent` lists these in
    ``PrivacySpent.uncovered``: a fitted attribute, score or output computed
    from the private rows without the noise the epsilon accounts for.

    Parameters
    ----------
    part : str
        Dotted path of the part (step names), e.g. ``"columntransformer.age"``.
    attribute : str
        The fitted attribute, ``"*"`` for everything the part learned, or
        ``"fits"`` for the fits a search or meta-estimator made.
    reason : str
        Why it is not covered.

    See Also
    --------
    privacy_spent : Lists the uncovered releases of a fitted object.

    Examples
    --------
    >>> from skpriv.accounting import UncoveredRelease
    >>> str(UncoveredRelease("standardscaler", "*", "learned without DP"))
    'standardscaler (learned without DP)'
    >>> str(UncoveredRelease("GridSearchCV", "best_score_", "exact score"))
    'GridSearchCV.best_score_ (exact score)'
    """

    part: str
    attribute: str
    reason: str

    def __str__(self):
        where = self.part if self.attribute == "*" else f"{self.part}.{self.attribute}"
        return f"{where} ({self.reason})"


class Part(NamedTuple):
    path: str
    est: object
    role: str


class _Fits:
    """Several fitted objects (``cross_validate``'s, a list) walked as one."""

    def __init__(self, estimators, scores=()):
        self.estimators_ = list(estimators)
        self.scores = tuple(scores)

    def _privacy_children(self):
        return [(f"estimator[{i}]", est) for i, est in enumerate(self.estimators_)]

    def _privacy_uncovered(self):
        return [
            UncoveredRelease(
                "cross_validate",
                key,
                "exact scores computed on the private rows without noise",
            )
            for key in self.scores
            if key.startswith(("test_", "train_"))
        ]


def as_walkable(obj):
    """``obj``, with a list of fitted objects or ``cross_validate``'s dict wrapped."""
    if isinstance(obj, dict):
        if "estimator" not in obj:
            raise ValueError(
                f"privacy_spent got a dict with keys {sorted(obj)!r} but no "
                f"'estimator'; for the results of cross_validate, call it with "
                f"return_estimator=True so that the fitted estimators are kept."
            )
        for est in obj["estimator"]:
            check_is_fitted(est)
        return _Fits(obj["estimator"], scores=[k for k in obj if k != "estimator"])
    if isinstance(obj, (list, tuple)):
        for est in obj:
            check_is_fitted(est)
        return _Fits(obj)
    return obj


def is_search(obj) -> bool:
    return hasattr(obj, "cv_results_") and hasattr(obj, "n_splits_")


def is_fitted(est) -> bool:
    try:
        check_is_fitted(est)
    except NotFittedError:
        return False
    except TypeError:  # not an estimator: let the caller decide
        return True
    return True


def is_passthrough(trans) -> bool:
    return isinstance(trans, str) and trans in ("drop", "passthrough")


def _estimators_in(value, name):
    if isinstance(value, BaseEstimator):
        yield name, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _estimators_in(item, f"{name}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _estimators_in(item, f"{name}[{key!r}]")


def fitted_children(obj):
    """``(name, fitted sub-estimator)`` pairs held by ``obj``."""
    custom = getattr(obj, "_privacy_children", None)
    if callable(custom):
        yield from custom()
        return
    # Pipelines hold fitted steps in ``steps`` (no trailing underscore).
    if hasattr(obj, "steps") and isinstance(obj.steps, list):
        for name, step in obj.steps:
            if step is not None and not is_passthrough(step):
                yield name, step
        return
    if hasattr(obj, "transformer_list") and not hasattr(obj, "transformers_"):
        for name, trans in obj.transformer_list:
            if trans is not None and not is_passthrough(trans):
                yield name, trans
        return
    # Meta-estimators often hold the same fitted estimators twice (e.g.
    # ``estimators_`` and ``named_estimators_``): each fit counts once.
    seen = set()
    for attr, value in vars(obj).items():
        if not attr.endswith("_") or attr.startswith("_"):
            continue
        if attr == "transformers_":
            children = [(name, t) for name, t, *_ in value if not is_passthrough(t)]
        else:
            children = _estimators_in(value, attr)
        for name, child in children:
            # Unfitted templates (BaggingClassifier's ``estimator_``) spent
            # nothing and learned nothing.
            if id(child) not in seen and is_fitted(child):
                seen.add(id(child))
                yield name, child


def releases_private_output(step) -> bool:
    """Whether every column a fitted step outputs is a local-DP release."""
    if getattr(step, "_releases_private_output", False):
        return True
    if hasattr(step, "transformers_"):
        parts = [t for _, t, *_ in step.transformers_ if t != "drop"]
        return bool(parts) and all(releases_private_output(t) for t in parts)
    if hasattr(step, "steps") and isinstance(step.steps, list):
        # A nested pipeline: what follows a private release is post-processing.
        return any(
            s is not None and not is_passthrough(s) and releases_private_output(s)
            for _, s in step.steps
        )
    if hasattr(step, "transformer_list"):
        parts = [t for _, t in step.transformer_list if t != "drop"]
        parts = [t for t in parts if t is not None]
        return bool(parts) and all(
            not is_passthrough(t) and releases_private_output(t) for t in parts
        )
    return False


def _join(path, name):
    return f"{path}.{name}" if path else str(name)


def walk(obj, path=""):
    """Yield the parts of fitted ``obj`` as :class:`Part` ``(path, est, role)``.

    A part that recorded a DP event is yielded and not descended into (its
    event includes its children's); a search is yielded and not descended
    into (its fits are planned). Steps after a local-DP release in a
    pipeline are post-processing.
    """
    yield from _walk(obj, path, post=False)


def _walk(obj, path, post):
    # An object that records its own event (a private search included)
    # accounts for everything it fitted; plain searches are planned.
    if getattr(obj, "dp_event_", None) is not None:
        yield Part(path, obj, PRIVATE)
        return
    if is_search(obj):
        yield Part(path, obj, SEARCH)
        return
    if getattr(obj, "_privacy_public", False):  # DeclaredPublic
        yield Part(path, obj, LEAF)
        return
    if hasattr(obj, "steps") and isinstance(obj.steps, list):
        for name, step in fitted_children(obj):
            yield from _walk(step, _join(path, name), post)
            post = post or releases_private_output(step)
        return
    children = list(fitted_children(obj))
    if children:
        for name, child in children:
            yield from _walk(child, _join(path, name), post)
        # A meta-estimator's own fitted state beyond its children.
        yield Part(path, obj, "container")
        return
    yield Part(path, obj, POST if post else LEAF)


# --------------------------------------------------------------------------
# What a leaf releases
# --------------------------------------------------------------------------


def _categories_given(est) -> bool:
    params = est.get_params(deep=False)
    return (
        params.get("categories", "auto") != "auto"
        and params.get("min_frequency") is None
        and params.get("max_categories") is None
    )


#: scikit-learn classes that learn nothing from the values under these
#: parameters (their fitted state is a function of the parameters and the
#: input width).
_PUBLIC_WHEN = {
    "OneHotEncoder": _categories_given,
    "OrdinalEncoder": _categories_given,
    "FrozenEstimator": lambda est: True,  # fitted elsewhere, fit is a no-op
    # Label encoders fitted by meta-estimators on ``y`` learn the label set,
    # which every classifier releases in ``classes_`` anyway; whether the
    # label set is public is decided where it is released (``classes=``).
    "LabelEncoder": lambda est: True,
    "LabelBinarizer": lambda est: True,
    "MultiLabelBinarizer": lambda est: True,
}


def _learns_from_data(est) -> bool:
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(est).requires_fit)
    except Exception:  # objects without scikit-learn tags
        return True


def _is_public_leaf(est) -> bool:
    if getattr(est, "_privacy_public", False):
        return True
    rule = _PUBLIC_WHEN.get(type(est).__name__)
    if rule is not None and rule(est):
        return True
    return release_kinds(est) is None and not _learns_from_data(est)


def _leaf_uncovered(path, est):
    if _is_public_leaf(est):
        return []
    return [UncoveredRelease(path, a, r) for a, r in uncovered_releases(est)]


def _branches(container):
    """``(name, fitted branch, has columns)`` of a ColumnTransformer or FeatureUnion."""
    if hasattr(container, "transformers_"):
        for name, t, cols, *_ in container.transformers_:
            if not (isinstance(t, str) and t == "drop"):
                yield name, t, len(np.atleast_1d(cols)) > 0
    elif hasattr(container, "transformer_list"):
        for name, t in container.transformer_list:
            if t is not None and not (isinstance(t, str) and t == "drop"):
                yield name, t, True


def _clear_branches_uncovered(path, container):
    """Branches whose output is not private, beside local-DP branches.

    A ColumnTransformer or FeatureUnion that privatizes some columns but
    outputs others computed from the raw data (passed through, encoded,
    scaled...) releases those in the clear: decided on what the branch
    outputs, not on how it is written.
    """
    branches = list(_branches(container))
    if not any(releases_private_output(t) for _, t, _ in branches):
        return []
    return [
        UncoveredRelease(
            _join(path, name),
            "*",
            "outputs columns computed from the raw data without noise, beside "
            "local-DP branches",
        )
        for name, t, has_columns in branches
        if has_columns and not releases_private_output(t)
    ]


def _learns_labels(est) -> bool:
    """Whether a fitted step learned from ``y`` (a classifier or regressor)."""
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(est) or is_regressor(est):
        return True
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(est).target_tags.required)
    except Exception:
        return False


_SEARCH_RELEASES = (
    ("cv_results_", "exact validation scores of the private rows"),
    ("best_score_", "exact validation score of the private rows"),
    ("best_params_", "chosen by exact validation scores (best_estimator_ too)"),
)


def uncovered(obj, path=""):
    """Every :class:`UncoveredRelease` of fitted ``obj``, in walk order."""
    out = list(getattr(obj, "_privacy_uncovered", lambda: [])())
    for part in walk(obj, path):
        where = part.path or type(part.est).__name__
        if part.role == SEARCH:
            if release_kinds(part.est) is not None:  # a private search declares
                out.extend(
                    UncoveredRelease(where, a, r)
                    for a, r in uncovered_releases(part.est)
                )
            else:
                out.extend(UncoveredRelease(where, a, r) for a, r in _SEARCH_RELEASES)
            best = getattr(part.est, "best_estimator_", None)
            if best is not None:
                out.extend(uncovered(best, _join(part.path, "best_estimator_")))
        elif part.role == PRIVATE:
            out.extend(
                UncoveredRelease(where, a, r) for a, r in uncovered_releases(part.est)
            )
        elif part.role == LEAF:
            out.extend(_leaf_uncovered(where, part.est))
        elif part.role == POST and _learns_labels(part.est):
            # Local DP privatized the features; y reached this step raw.
            out.append(
                UncoveredRelease(
                    where,
                    "*",
                    "learned the raw labels y (only the features were privatized)",
                )
            )
        elif part.role == "container":
            out.extend(_clear_branches_uncovered(part.path, part.est))
            kinds = release_kinds(part.est)
            if kinds is not None:
                # A declaring meta-estimator's own attributes beyond children.
                children = {n.split("[")[0] for n, _ in fitted_children(part.est)}
                out.extend(
                    UncoveredRelease(where, a, r)
                    for a, r in uncovered_releases(part.est)
                    if a not in children
                )
    return out
