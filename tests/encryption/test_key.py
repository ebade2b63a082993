import copy
import logging
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skpriv.encryption import ColumnEncryptor, EncryptedEstimator, Key
from skpriv.preprocessing import Masker

from .conftest import CANARY, assert_no_canary


def test_generate_export_roundtrip():
    key = Key.generate()
    text = key.export()
    assert len(text) == 44
    assert Key(text) == key
    assert Key.generate() != key
    assert len(key.key_id) == 8


@pytest.mark.parametrize(
    "bad, match",
    [
        ("not base64 !!", "not URL-safe base64"),
        ("c2hvcnQ=", "decodes to 5 bytes"),
        (b"\x00" * 31, "base64"),
        ("A" * 45, "base64"),
    ],
)
def test_malformed_keys_rejected_at_construction(bad, match):
    with pytest.raises(ValueError, match=match):
        Key(bad)


def test_malformed_key_error_does_not_echo_text(monkeypatch):
    secret = "S3CRET-looking-but-wrong-length-text"
    monkeypatch.setenv("SKPRIV_BAD", secret)
    with pytest.raises(ValueError) as exc:
        Key.from_env("SKPRIV_BAD")
    assert secret not in str(exc.value)
    assert "SKPRIV_BAD" in str(exc.value)


def test_wrong_types():
    with pytest.raises(TypeError, match="secret"):
        Key(123)
    with pytest.raises(TypeError, match="name"):
        Key.from_env("")


def test_missing_env_and_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SKPRIV_NOPE", raising=False)
    with pytest.raises(KeyError, match="SKPRIV_NOPE.*not set"):
        Key.from_env("SKPRIV_NOPE")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Key.from_file(tmp_path / "missing.key")


def test_env_and_file_keys_equal_the_exported_key(canary_env, canary_file):
    assert canary_env == canary_file == Key(CANARY)
    assert canary_env.source == "env:SKPRIV_TEST_CANARY"
    assert canary_file.source.startswith("file:")


def test_secret_never_printed(canary_env, canary_file, caplog):
    keys = [canary_env, canary_file, Key(CANARY), Key(CANARY).derive("x")]
    caplog.set_level(logging.DEBUG)
    for key in keys:
        for est in (
            Masker(strategy="hash", key=key),
            ColumnEncryptor(key),
            EncryptedEstimator(LogisticRegression(), key),
        ):
            assert_no_canary(repr(est))
            assert_no_canary(str(est.get_params()))
            logging.getLogger("skpriv").info("estimator %r key %s", est, key)
        assert_no_canary(repr(key))
        assert_no_canary(str(key))
        assert_no_canary(f"{key}")
    assert_no_canary(caplog.text)


def test_env_and_file_keys_pickle_as_reference(canary_env, canary_file):
    for key in (canary_env, canary_file, canary_env.derive("emails")):
        data = pickle.dumps(key)
        assert_no_canary(data)
        again = pickle.loads(data)
        assert again == key
        assert again.key_id == key.key_id


def test_env_key_reresolves_and_detects_change(monkeypatch, canary_env):
    data = pickle.dumps(canary_env)
    monkeypatch.setenv("SKPRIV_TEST_CANARY", Key.generate().export())
    with pytest.raises(ValueError, match="key_id"):
        pickle.loads(data).export()
    monkeypatch.delenv("SKPRIV_TEST_CANARY")
    with pytest.raises(KeyError, match="not set"):
        pickle.loads(data).export()


def test_memory_key_pickles_as_handle_without_bytes():
    key = Key(CANARY)
    data = pickle.dumps(key)
    assert_no_canary(data)
    assert pickle.loads(data) is key  # same process, key alive
    assert copy.deepcopy(key) is key and copy.copy(key) is key
    masker = Masker(strategy="hash", key=key)
    assert clone(masker).key is key


@pytest.mark.slow
def test_memory_key_unavailable_in_another_process():
    data = pickle.dumps(Key(CANARY))
    code = (
        "import pickle, sys; key = pickle.loads(sys.stdin.buffer.read()); "
        "print(repr(key));\n"
        "try:\n    key.export()\nexcept ValueError as e:\n    print('ERR', e)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, check=True
    ).stdout.decode()
    assert "ERR" in out and "Key.from_env" in out
    assert_no_canary(out)


def test_derive_unlinkable_and_stable():
    key = Key.generate()
    a, b = key.derive("emails"), key.derive("phones")
    assert a == key.derive("emails")
    assert a != b and a != key
    assert Key.generate().derive("emails") != a
    with pytest.raises(ValueError, match="purpose"):
        key.derive("")


def test_from_passphrase():
    salt = b"0123456789abcdef"
    a = Key.from_passphrase("correct horse battery", salt=salt, n=2**10)
    assert a == Key.from_passphrase("correct horse battery", salt=salt, n=2**10)
    assert a != Key.from_passphrase("correct horse battery", salt=salt[::-1], n=2**10)
    with pytest.raises(ValueError, match="salt"):
        Key.from_passphrase("correct horse battery", salt=b"short")
    with pytest.raises(ValueError, match="passphrase"):
        Key.from_passphrase("short", salt=salt)


@pytest.mark.slow
def test_grid_search_n_jobs_2_with_env_key(monkeypatch):
    # Worker processes inherit the environment and re-read the key there.
    monkeypatch.setenv("SKPRIV_TEST_GRID", Key.generate().export())
    key = Key.from_env("SKPRIV_TEST_GRID")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    search = GridSearchCV(
        EncryptedEstimator(LogisticRegression(), key),
        {"estimator__C": [0.1, 1.0]},
        cv=2,
        n_jobs=2,
    ).fit(X, y)
    assert search.best_estimator_.key is not None
    assert search.score(X, y) > 0.8
    assert_no_canary(pickle.dumps(search))


def test_file_key_with_joblib_processes(tmp_path):
    path = tmp_path / "k.key"
    path.write_text(Key.generate().export())
    key = Key.from_file(path)
    X = np.array([[f"id{i}"] for i in range(40)], dtype=object)
    pipe = make_pipeline(Masker(strategy="hash", key=key))
    from joblib import Parallel, delayed

    outs = Parallel(n_jobs=2)(delayed(lambda p: p.fit_transform(X))(pipe) for _ in "ab")
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], pipe.fit_transform(X))


def test_key_repr_is_informative():
    key = Key.generate()
    assert repr(key) == f"Key(source='memory', key_id='{key.key_id}')"
