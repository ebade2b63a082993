import pickle

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from skpriv.encryption import EncryptedRows, HEModel
from skpriv.linear_model import DPLogisticRegression

ts = pytest.importorskip("tenseal")


@pytest.fixture(scope="module")
def context():
    return HEModel.make_context()


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _digits():
    Xd, yd = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(Xd), yd


MODELS = {
    "logistic": lambda X, y: (LogisticRegression(max_iter=500).fit(X, y), X),
    "linear": lambda X, y: (LinearRegression().fit(X, X[:, 0] * 3 + y), X),
    "dp_logistic": lambda X, y: (
        DPLogisticRegression(epsilon=1.0, data_norm=5.0, random_state=0).fit(X, y),
        X,
    ),
    "logistic_10_classes": lambda X, y: (
        LogisticRegression(max_iter=500).fit(*_digits()),
        _digits()[0],
    ),
    "linear_svc_10_classes": lambda X, y: (LinearSVC().fit(*_digits()), _digits()[0]),
}


def _assert_scores_close(got, want):
    # 1e-3 relative to the scores' scale (CKKS errors are absolute, ~1e-6).
    scale = max(1.0, np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-3 * scale)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if "classes" in n else n for n in MODELS],
)
def test_decrypted_scores_equal_plaintext_scores(name, cancer, context):
    for model, X in [MODELS[name](*cancer)]:
        he = HEModel(model)
        X = X[:300]
        enc_scores = he.decision_function_encrypted(he.encrypt(X, context))
        plain = (
            model.decision_function(X)
            if hasattr(model, "decision_function")
            else model.predict(X)
        )
        _assert_scores_close(he.decrypt(enc_scores, context), plain)
        predicted = he.decrypt(enc_scores, context, output="predict")
        if hasattr(model, "classes_"):
            agree = (predicted == model.predict(X)).mean()
            assert agree >= 0.99, type(model).__name__
        if hasattr(model, "predict_proba"):
            np.testing.assert_allclose(
                he.decrypt(enc_scores, context, output="predict_proba"),
                model.predict_proba(X),
                atol=1e-3,
            )


def test_pipeline_preprocessing_runs_on_the_client(context):
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    he = HEModel(pipe)
    scores = he.decrypt(he.decision_function_encrypted(he.encrypt(X, context)), context)
    _assert_scores_close(scores, pipe.decision_function(X))


def test_many_rows_span_several_ciphertexts(context):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9000, 3))
    model = LinearRegression().fit(X, X @ [1.0, -2.0, 0.5] + 3)
    he = HEModel(model)
    enc = he.encrypt(X, context)
    assert len(enc.batches) == 3  # 4096 rows per ciphertext
    _assert_scores_close(
        he.decrypt(he.decision_function_encrypted(enc), context), model.predict(X)
    )


def test_the_server_holds_no_secret_key_and_cannot_decrypt(cancer, context):
    X, y = cancer
    he = HEModel(LogisticRegression(max_iter=500).fit(X, y))
    wire = he.encrypt(X[:50], context).serialize()
    # The server's view: bytes in, bytes out; no secret key anywhere.
    received = EncryptedRows.from_bytes(wire)
    assert not received.context.has_secret_key() and not received.context.is_private()
    answer = he.decision_function_encrypted(received)
    with pytest.raises(ValueError, match="secret_key"):
        answer.batches[0][0].decrypt()
    assert context.serialize(save_secret_key=True) not in wire
    server = pickle.dumps(he)
    assert len(server) < 20_000  # the model only: no context, no key
    # A context holding the secret key is refused on the server.
    private = he.encrypt(X[:5], context)
    private.context = context
    with pytest.raises(ValueError, match="secret key"):
        he.decision_function_encrypted(private)


def test_serialization_round_trips(cancer, context):
    X, y = cancer
    model = LogisticRegression(max_iter=500).fit(X, y)
    he = HEModel(model)
    enc = he.encrypt(X[:100], context)
    again = EncryptedRows.from_bytes(enc.serialize())
    assert (again.n_rows, again.n_columns, again.kind) == (100, 30, "features")
    answer_bytes = he.decision_function_encrypted(enc.serialize()).serialize()
    _assert_scores_close(
        he.decrypt(answer_bytes, context), model.decision_function(X[:100])
    )
    for bad in (b"", b"junk", enc.serialize()[:-10], enc.serialize() + b"x"):
        with pytest.raises(ValueError):
            EncryptedRows.from_bytes(bad)


def test_weaker_parameters_are_refused():
    with pytest.raises(ValueError, match="128-bit security"):
        HEModel.make_context(
            poly_modulus_degree=4096,
            coeff_mod_bit_sizes=(40, 30, 40),
            global_scale=2.0**30,
        )
    with pytest.raises(ValueError, match="256-bit"):
        HEModel.make_context(security_level=256)
    with pytest.raises(ValueError, match="security_level"):
        HEModel.make_context(security_level=80)
    with pytest.raises(ValueError, match="middle prime"):
        HEModel.make_context(coeff_mod_bit_sizes=(60, 60))
    ctx = HEModel.make_context(
        poly_modulus_degree=16384, coeff_mod_bit_sizes=(60, 40, 60), security_level=256
    )
    assert ctx.has_secret_key()


def test_non_linear_models_and_bad_input_are_refused(cancer, context):
    X, y = cancer
    with pytest.raises(TypeError, match="X @ coef_.T"):
        HEModel(PoissonRegressor().fit(X, y + 1)).encrypt(X, context)
    he = HEModel(LogisticRegression(max_iter=500).fit(X, y))
    with pytest.raises(ValueError, match="features"):
        he.encrypt(X[:, :5], context)
    with pytest.raises(ValueError, match="scale the features"):
        he.encrypt(X * 1e6, context)
