import pickle

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skpriv.accounting import privacy_spent
from skpriv.encryption import EncryptedEstimator, Key
from skpriv.exceptions import DecryptionError, PrivacyLeakWarning
from tests.toy import ToyNoisyMean

from .conftest import assert_no_canary


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=80, n_features=5, random_state=0)
    return X, y


def test_predictions_match_plain_model(data):
    X, y = data
    plain = LogisticRegression().fit(X, y)
    enc = EncryptedEstimator(LogisticRegression(), Key.generate()).fit(X, y)
    np.testing.assert_array_equal(enc.predict(X), plain.predict(X))
    np.testing.assert_allclose(enc.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_allclose(enc.decision_function(X), plain.decision_function(X))
    assert enc.score(X, y) == plain.score(X, y)
    np.testing.assert_array_equal(enc.classes_, [0, 1])
    assert enc.n_features_in_ == 5
    assert not hasattr(enc, "coef_")
    assert not hasattr(EncryptedEstimator(LinearRegression(), None), "predict_proba")


def test_pickle_holds_no_coefficients(data, canary_env):
    X, y = data
    for key in (Key.generate(), canary_env):
        enc = EncryptedEstimator(LogisticRegression(), key).fit(X, y)
        inner_coef = LogisticRegression().fit(X, y).coef_
        blob = pickle.dumps(enc)
        for arr in (inner_coef, inner_coef.astype(np.float32)):
            assert arr.tobytes() not in blob
            assert arr.ravel()[:2].tobytes() not in blob
        again = pickle.loads(blob)
        np.testing.assert_array_equal(again.predict(X), enc.predict(X))
    assert_no_canary(pickle.dumps(enc))


def test_tampered_or_wrong_key_raises(data):
    X, y = data
    enc = EncryptedEstimator(LogisticRegression(), Key.generate()).fit(X, y)
    blob = bytearray(enc.encrypted_estimator_)
    blob[-5] ^= 1
    enc.encrypted_estimator_ = bytes(blob)
    with pytest.raises(DecryptionError):
        enc.predict(X)
    other = EncryptedEstimator(LogisticRegression(), Key.generate()).fit(X, y)
    other.set_params(key=Key.generate())
    with pytest.raises(DecryptionError, match="Wrong key"):
        other.predict(X)


def test_key_ring_and_rotation(data):
    X, y = data
    old, new = Key.generate(), Key.generate()
    enc = EncryptedEstimator(LogisticRegression(), old).fit(X, y)
    enc.set_params(key=[new, old])
    enc.predict(X)  # old ciphertext, new key ring
    assert enc.key_id_ == old.key_id
    enc.rotate()  # re-sealed under the newest key, no refit
    assert enc.key_id_ == new.key_id
    np.testing.assert_array_equal(
        enc.set_params(key=new).predict(X), LogisticRegression().fit(X, y).predict(X)
    )
    with pytest.raises(DecryptionError):
        enc.set_params(key=old).predict(X)


def test_pipeline_grid_search_and_transformers(data):
    X, y = data
    key = Key.generate()
    pipe = make_pipeline(
        EncryptedEstimator(StandardScaler(), key),
        EncryptedEstimator(LogisticRegression(), key),
    )
    search = GridSearchCV(pipe, {"encryptedestimator-2__estimator__C": [0.1, 1]}, cv=3)
    search.fit(X, y)
    assert search.best_score_ > 0.7
    pca = EncryptedEstimator(PCA(n_components=2), key).fit(X)
    assert pca.transform(X).shape == (80, 2)
    assert list(pca.get_feature_names_out()) == ["pca0", "pca1"]
    # fit_transform, as every transformer has (it was missing).
    scaler = EncryptedEstimator(StandardScaler(), key)
    np.testing.assert_allclose(
        scaler.fit_transform(X), StandardScaler().fit_transform(X)
    )
    assert hasattr(scaler, "encrypted_estimator_")
    assert not hasattr(EncryptedEstimator(LogisticRegression(), key), "fit_transform")


def test_privacy_spent_sees_inner_events(data):
    X, _ = data
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    key = Key.generate()
    enc = EncryptedEstimator(ToyNoisyMean(epsilon=0.5, random_state=0), key).fit(X)
    assert privacy_spent(enc, delta=0).epsilon == pytest.approx(0.5)
    assert privacy_spent(make_pipeline(enc)).epsilon == pytest.approx(0.5)
    search = GridSearchCV(
        EncryptedEstimator(ToyNoisyMean(random_state=0), key),
        {"estimator__epsilon": [0.5, 1.0]},
        cv=2,
        scoring=lambda est, X, y=None: 0.0,
    ).fit(X)
    # Planned as the same search over the plain estimator.
    plain_search = GridSearchCV(
        ToyNoisyMean(random_state=0),
        {"epsilon": [0.5, 1.0]},
        cv=2,
        scoring=lambda est, X, y=None: 0.0,
    ).fit(X)
    assert privacy_spent(search, delta=0).epsilon == pytest.approx(
        privacy_spent(plain_search, delta=0).epsilon
    )
    assert privacy_spent(search, delta=0).epsilon >= 2 * 1.5 + 0.5
    plain = EncryptedEstimator(LogisticRegression(), key).fit(*data)
    assert not hasattr(plain, "dp_event_")
    # A non-private inner model learned from the data: not DP, and said so.
    with pytest.warns(PrivacyLeakWarning, match="LogisticRegression"):
        assert privacy_spent(plain).epsilon == float("inf")


class _DeclaredNoisyMean(ToyNoisyMean):
    _privacy_releases = {"mean_": "dp"}


class _GaussianMean(_DeclaredNoisyMean):
    """A declared approximate-DP toy: privacy_spent's default delta is its own."""

    def __init__(self, epsilon=1.0, delta=1e-5, random_state=None):
        super().__init__(epsilon=epsilon, random_state=random_state)
        self.delta = delta

    def _planned_dp_event(self, n_samples):
        import dp_accounting as dpa

        return dpa.GaussianDpEvent(2.0)


def test_privacy_spent_names_a_non_private_inner_model(data):
    # Finding 11: the walker saw the encrypted model neither as covered nor
    # by its own name; now the inner model is walked (decrypted transiently).
    enc = EncryptedEstimator(LogisticRegression(), Key.generate()).fit(*data)
    with pytest.warns(PrivacyLeakWarning, match=r"encrypted_estimator_\[Logistic"):
        spent = privacy_spent(make_pipeline(StandardScaler(), enc))
    parts = {(r.part, r.attribute) for r in spent.uncovered}
    assert ("encryptedestimator.encrypted_estimator_[LogisticRegression]", "*") in parts
    assert spent.epsilon == float("inf")


def test_privacy_spent_covers_a_declared_dp_inner_model(data):
    import warnings

    X = np.clip(data[0], 0, 1)
    enc = EncryptedEstimator(_DeclaredNoisyMean(epsilon=0.5), Key.generate()).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        spent = privacy_spent(make_pipeline(enc), strict=True)
    assert spent.covered and spent.epsilon == pytest.approx(0.5)
    # The inner estimator's delta is read (it was 0: epsilon=inf for Gaussians).
    gauss = EncryptedEstimator(_GaussianMean(delta=1e-5), Key.generate()).fit(X)
    spent = privacy_spent(gauss)
    assert spent.delta == 1e-5
    assert np.isfinite(spent.epsilon) and spent.covered


def test_privacy_spent_without_the_key_says_so(data):
    enc = EncryptedEstimator(LogisticRegression(), Key.generate()).fit(*data)
    lost = pickle.loads(pickle.dumps(enc))
    lost.key = pickle.loads(pickle.dumps(Key.generate()))
    with pytest.raises(ValueError, match="needs its key"):
        privacy_spent(lost)


def test_noise_transformer_inside_draws_fresh_noise_per_call(data):
    # The model is unpickled on every call: an unseeded noise transformer
    # inside used to replay the same noise, so t(A) - t(B) gave A - B.
    from skpriv.preprocessing import LaplaceNoise

    X, _ = data
    A, B = X[:40], X[40:]
    enc = EncryptedEstimator(LaplaceNoise(bounds=(-5, 5)), Key.generate()).fit(A)
    first, second = enc.transform(A), enc.transform(B)
    assert not np.allclose(first - second, A - B, atol=1e-3)
    assert not np.array_equal(enc.transform(A), first)


def test_dump_with_skops(data, tmp_path, canary_env):
    # The default serializer failed on the Key inside.
    import skops.io as sio

    from skpriv.encryption import dump, load

    X, y = data
    enc = EncryptedEstimator(LogisticRegression(), canary_env).fit(X, y)
    path = dump(enc, tmp_path / "model.skpriv", canary_env)
    trusted = sio.get_untrusted_types(data=sio.dumps(enc))
    back = load(path, canary_env, trusted=trusted)
    np.testing.assert_array_equal(back.predict(X), enc.predict(X))
    assert_no_canary(open(path, "rb").read())


def test_invalid_inputs(data):
    X, y = data
    with pytest.raises(TypeError, match="fit method"):
        EncryptedEstimator("model", Key.generate()).fit(X, y)
    with pytest.raises(ValueError, match="key"):
        EncryptedEstimator(LogisticRegression(), "secret").fit(X, y)
    with pytest.raises(Exception, match="not fitted"):
        EncryptedEstimator(LogisticRegression(), Key.generate()).predict(X)


def test_set_output_reaches_the_inner_transformer(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    key = Key.generate()
    pipe = make_pipeline(
        EncryptedEstimator(StandardScaler(), key), LogisticRegression()
    ).set_output(transform="pandas")
    pipe.fit(df, y)
    out = pipe[0].transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(df.columns)
    assert pipe.score(df, y) > 0.7
