import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from skpriv.audit._kanonymity import k_anonymity
from skpriv.preprocessing._microaggregation import Microaggregator, mdav


def _reference_mdav(Z, k):
    """MDAV as the paper states it, one row at a time (slow, for checking)."""
    Z = np.asarray(Z, dtype=np.float64)
    remaining = list(range(len(Z)))
    labels = np.full(len(Z), -1)
    g = 0

    def nearest(i, pool):
        d = ((Z[pool] - Z[i]) ** 2).sum(1)
        return [pool[j] for j in np.argsort(d, kind="stable")[:k]]

    def farthest(x, pool):
        return pool[int(np.argmax(((Z[pool] - x) ** 2).sum(1)))]

    while len(remaining) >= 3 * k:
        r = farthest(Z[remaining].mean(0), remaining)
        s = farthest(Z[r], remaining)
        for centre in (r, s):
            grp = nearest(centre, remaining)
            labels[grp] = g
            g += 1
            remaining = [i for i in remaining if i not in grp]
    if len(remaining) >= 2 * k:
        r = farthest(Z[remaining].mean(0), remaining)
        grp = nearest(r, remaining)
        labels[grp] = g
        g += 1
        remaining = [i for i in remaining if i not in grp]
    labels[remaining] = g
    return labels


def _partition(labels):
    return sorted(tuple(np.flatnonzero(labels == g)) for g in np.unique(labels))


@pytest.mark.parametrize("n, k, d", [(30, 3, 2), (101, 5, 4), (64, 7, 1), (12, 5, 3)])
def test_mdav_matches_the_papers_algorithm(n, k, d):
    Z = np.random.default_rng(n).normal(size=(n, d))
    assert _partition(mdav(Z, k)) == _partition(_reference_mdav(Z, k))


@pytest.mark.parametrize("n", [5, 9, 10, 14, 15, 1234])
@pytest.mark.parametrize("k", [2, 5])
def test_every_group_has_k_to_2k_minus_1_rows(n, k):
    if n < k:
        pytest.skip("needs k rows")
    X = np.random.default_rng(n).lognormal(size=(n, 3))
    out = Microaggregator(k=k, random_state=0).fit_transform(X)
    sizes = k_anonymity(out, [0, 1, 2]).group_sizes
    assert sizes.min() >= k and sizes.sum() == n
    labels = mdav(X, k)
    assert np.bincount(labels).min() >= k and np.bincount(labels).max() <= 2 * k - 1


def test_centroids_preserve_column_means_and_beat_random_groups():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4)) @ rng.normal(size=(4, 4))
    k = 5
    out = Microaggregator(k=k, random_state=0).fit_transform(X)
    np.testing.assert_allclose(out.mean(0), X.mean(0), atol=1e-9)
    sse = ((X - out) ** 2).sum()
    # The same sizes, drawn at random: MDAV must lose far less information.
    labels = rng.permutation(np.arange(len(X)) // k)
    means = np.stack([np.bincount(labels, X[:, j]) / k for j in range(4)], 1)
    sse_random = ((X - means[labels]) ** 2).sum()
    sst = ((X - X.mean(0)) ** 2).sum()
    assert sse < 0.1 * sse_random, (sse / sst, sse_random / sst)
    assert sse / sst < 0.05


def test_dataframe_with_mixed_columns():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    n = 300
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "zip": rng.choice(["10001", "10002", "20001", "30301"], n),
            "sex": pd.Categorical(rng.choice(["F", "M"], n)),
            "smoker": rng.choice([True, False], n),
            "income": rng.normal(5e4, 1e4, n),
            "diagnosis": rng.choice(["flu", "cold", None], n),
        },
        index=np.arange(1000, 1000 + n),
    )
    qi = ["age", "zip", "sex", "smoker"]
    agg = Microaggregator(k=4, columns=qi, random_state=0).fit(df)
    out = agg.transform(df)
    assert list(out.columns) == list(df.columns) and (out.index == df.index).all()
    assert out["sex"].dtype == df["sex"].dtype and out["smoker"].dtype == bool
    # Untouched columns pass through, missing values included.
    pd.testing.assert_series_equal(out["income"], df["income"])
    pd.testing.assert_series_equal(out["diagnosis"], df["diagnosis"])
    result = k_anonymity(out, qi, k=4)
    assert result.k >= 4 and result.groups_below_k == []
    assert k_anonymity(df, qi).k < 4  # it was not k-anonymous before
    # Categorical values are each group's mode, taken from the data.
    assert set(out["zip"]) <= set(df["zip"])
    assert agg.numeric_.tolist() == [True, False, False, False]
    assert agg.categories_[1] == ["10001", "10002", "20001", "30301"]


def test_categorical_mode_is_the_most_frequent_value_in_each_group():
    X = np.array(
        [[0.0, "a"], [0.1, "a"], [0.2, "b"], [10.0, "c"], [10.1, "c"], [10.2, "b"]],
        dtype=object,
    )
    out = Microaggregator(k=3, random_state=0).fit_transform(X)
    assert out[:, 1].tolist() == ["a", "a", "a", "c", "c", "c"]
    assert out[:, 0].tolist() == pytest.approx([0.1, 0.1, 0.1, 10.1, 10.1, 10.1])


def test_invalid_input_errors_are_clear():
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match="at least k=5 rows"):
        Microaggregator(k=5).fit(X).transform(X[:4])
    with pytest.raises(ValueError, match="neither a column position"):
        Microaggregator(columns=["age"]).fit(X)
    with pytest.raises(ValueError, match="position 7"):
        Microaggregator(columns=[7]).fit(X)
    with pytest.raises(ValueError, match="k"):
        Microaggregator(k=1).fit(X)
    bad = X.astype(object)
    bad[3, 1] = None
    with pytest.raises(ValueError, match="missing values.*quasi-identifier column 1"):
        Microaggregator().fit(bad)
    Microaggregator(columns=[0]).fit(bad)  # missing outside the quasi-identifiers


def test_random_state_reproduces_and_decides_only_ties():
    X = np.repeat(np.arange(6.0), 3)[:, None]  # many exact ties
    a = Microaggregator(k=4, random_state=0).fit_transform(X)
    assert (a == Microaggregator(k=4, random_state=0).fit_transform(X)).all()
    Y = np.random.default_rng(0).normal(size=(50, 2))
    outs = {
        Microaggregator(k=4, random_state=s).fit_transform(Y).tobytes()
        for s in range(3)
    }
    assert len(outs) == 1  # no ties: the grouping is MDAV's, whatever the seed


def test_in_a_pipeline_and_privacy_spent_names_what_fit_learns():
    from skpriv.accounting import privacy_spent

    X = np.random.default_rng(0).normal(size=(40, 3))
    pipe = make_pipeline(Microaggregator(k=4, random_state=0), StandardScaler()).fit(X)
    assert pipe.transform(X).shape == X.shape
    with pytest.warns(Warning):
        spent = privacy_spent(pipe)
    named = {u.attribute for u in spent.uncovered}
    assert {"mean_", "scale_", "categories_"} <= named
    clone(pipe)


def test_sklearn_checks():
    # Batch-dependent by design: each transform groups the rows it is given.
    from skpriv.testing import expected_failed_checks

    est = Microaggregator(k=2, random_state=0)
    expected = {
        **expected_failed_checks(est),  # scikit-learn 1.6's integer-X bug
        "check_methods_subset_invariance": "groups form within each batch",
        "check_methods_sample_order_invariance": "groups form within each batch",
    }
    check_estimator(
        Microaggregator(k=2, random_state=0), expected_failed_checks=expected
    )


@pytest.mark.slow
def test_mdav_scales_to_20k_rows():
    import time

    X = np.random.default_rng(0).normal(size=(20_000, 10))
    start = time.perf_counter()
    labels = mdav(X, 5)
    assert np.bincount(labels).min() == 5
    assert time.perf_counter() - start < 20  # ~0.5 s alone on one core
