import numpy as np
import pytest

from skpriv.audit._kanonymity import k_anonymity, l_diversity

ROWS = [
    ["30-39", "100**", "F", "flu"],
    ["30-39", "100**", "F", "cold"],
    ["30-39", "100**", "F", "flu"],
    ["40-49", "200**", "M", "hiv"],
    ["40-49", "200**", "M", "hiv"],
    ["50-59", "300**", "M", "flu"],
]


def test_k_is_the_smallest_group_and_groups_below_k_are_listed():
    result = k_anonymity(ROWS, [0, 1, 2], k=3)
    assert result.k == 1
    assert result.n_groups == 3
    assert result.smallest_group == {0: "50-59", 1: "300**", 2: "M"}
    assert result.groups_below_k == [
        {0: "50-59", 1: "300**", 2: "M", "size": 1},
        {0: "40-49", 1: "200**", 2: "M", "size": 2},
    ]
    assert result.n_rows_below_k == 3
    assert sorted(result.group_sizes.tolist()) == [1, 2, 3]
    assert len(set(result.labels[:3])) == 1 and result.labels[0] != result.labels[3]
    assert "k = 1" in result.summary() and "2 groups (3 rows)" in result.summary()
    assert k_anonymity(ROWS, [0], k=1).groups_below_k == []
    assert k_anonymity(ROWS[:3], [0, 1, 2]).k == 3


def test_matches_a_pandas_groupby_on_random_data():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "age": rng.integers(20, 30, 2000),
            "zip": rng.choice(["a", "b", "c", None], 2000),
            "sex": rng.choice(["F", "M"], 2000),
            "dx": rng.choice(["flu", "cold", "hiv", "none"], 2000),
        }
    )
    qi = ["age", "zip", "sex"]
    sizes = df.groupby(qi, dropna=False).size()
    result = k_anonymity(df, qi, k=10)
    assert result.k == sizes.min() and result.n_groups == len(sizes)
    assert sorted(result.group_sizes.tolist()) == sorted(sizes.tolist())
    assert result.n_rows_below_k == sizes[sizes < 10].sum()
    distinct = df.groupby(qi, dropna=False)["dx"].nunique(dropna=False)
    div = l_diversity(df, qi, "dx", l=3)
    assert div.l == distinct.min()
    assert sorted(div.n_distinct.tolist()) == sorted(distinct.tolist())
    assert len(div.groups_below_l) == (distinct < 3).sum()


def test_missing_values_form_one_value():
    X = np.array([[None, 1], [np.nan, 1], [float("nan"), 1]], dtype=object)
    result = k_anonymity(X, [0, 1])
    assert result.k == 3 and result.smallest_group == {0: None, 1: 1}


def test_l_diversity_finds_homogeneous_groups():
    result = l_diversity(ROWS, [0, 1, 2], 3, l=2)
    assert result.l == 1
    # Both size-1 and homogeneous size-2 groups are below l=2; smallest first.
    assert result.groups_below_l == [
        {0: "50-59", 1: "300**", 2: "M", "size": 1, "n_distinct": 1},
        {0: "40-49", 1: "200**", 2: "M", "size": 2, "n_distinct": 1},
    ]
    assert l_diversity(ROWS[:3], [0], 3).l == 2
    assert "l = 1" in result.summary()


def test_after_microaggregation():
    from skpriv.preprocessing._microaggregation import Microaggregator

    X = np.random.default_rng(0).normal(size=(500, 3))
    assert k_anonymity(X, [0, 1, 2]).k == 1
    out = Microaggregator(k=7, random_state=0).fit_transform(X)
    assert k_anonymity(out, [0, 1, 2], k=7).k >= 7


def test_clear_errors():
    with pytest.raises(ValueError, match="column positions"):
        k_anonymity(ROWS, ["age"])
    with pytest.raises(ValueError, match="at least one column"):
        k_anonymity(ROWS, [])
    with pytest.raises(ValueError, match="positive int"):
        k_anonymity(ROWS, [0], k=0)
    with pytest.raises(ValueError, match="must not be one of"):
        l_diversity(ROWS, [0, 3], 3)
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="does not have"):
        k_anonymity(pd.DataFrame(ROWS), ["zip"])


def test_empty_data():
    result = k_anonymity(np.empty((0, 2), dtype=object), [0, 1])
    assert result.k == 0 and result.n_groups == 0
