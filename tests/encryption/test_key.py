import copy
import logging
import os
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

from .conftest import CANARY, CANARY_TEXT, assert_no_canary


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
    path.chmod(0o600)
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


# ------------------------------------------------- key material in tracebacks
def _secrets_of(key):
    """Raw key bytes and every subkey skpriv derives from them."""
    from skpriv.encryption._key import _hkdf

    raw = key._bytes()
    out = [raw]
    for purpose, n in [
        ("column-encryptor/aes-siv", 64),
        ("column-encryptor/aes-gcm", 32),
        ("masker/hash", 32),
        ("envelope/dump", 32),
        ("envelope/encrypted-estimator", 32),
    ]:
        out.append(_hkdf(raw, purpose, n))
    return out


def _exceptions(exc):
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _assert_no_secret_in_locals(excinfo, secrets, texts=()):
    """No frame of the raised exception (or its chain) holds key material."""
    import traceback

    markers = [s for s in secrets] + [s[:16] for s in secrets]
    text_markers = [*texts, *(repr(s)[2:-1][:24] for s in secrets)]
    text_markers += [s.hex()[:24] for s in secrets]

    def check(value, where, depth=0):
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
            assert not any(m in value for m in markers), f"key bytes in {where}"
        elif isinstance(value, str):
            assert not any(t in value for t in texts), f"key text in {where}"
        elif isinstance(value, dict) and depth < 3:
            for k, v in value.items():
                check(k, where, depth + 1)
                check(v, where, depth + 1)
        elif isinstance(value, (list, tuple, set)) and depth < 3:
            for v in list(value)[:1000]:
                check(v, where, depth + 1)
        # What a debugger or Sentry prints of any other object.
        text = repr(value)[:100_000]
        assert not any(t in text for t in text_markers), f"key in repr at {where}"

    for exc in _exceptions(excinfo.value):
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            if f"{os.sep}skpriv{os.sep}" not in frame.f_code.co_filename:
                continue  # the test's own frames hold what it passed in
            for name, value in frame.f_locals.items():
                check(value, f"{frame.f_code.co_name}:{name}")


def test_no_key_bytes_in_traceback_locals_of_a_bad_token():
    # ColumnEncryptor._decrypt held the derived AES-SIV and AES-GCM subkeys
    # (the SIV one alone decrypts the column) on any bad token.
    from skpriv.encryption import ColumnEncryptor
    from skpriv.exceptions import DecryptionError

    key = Key(CANARY)
    for deterministic in (True, False):
        enc = ColumnEncryptor(key, deterministic=deterministic).fit([["a"]])
        tokens = enc.transform([["a"], ["b"]])
        tokens[1, 0] = tokens[1, 0][:-2] + ("AA" if tokens[1, 0][-2:] != "AA" else "BA")
        with pytest.raises(DecryptionError) as excinfo:
            enc.inverse_transform(tokens)
        _assert_no_secret_in_locals(excinfo, _secrets_of(key), [CANARY_TEXT])


def test_no_key_bytes_in_traceback_locals_of_a_replaced_key(monkeypatch):
    # Key._resolve held the replacement key's raw bytes.
    monkeypatch.setenv("SKPRIV_TEST_SWAP", CANARY_TEXT)
    key = pickle.loads(pickle.dumps(Key.from_env("SKPRIV_TEST_SWAP")))
    other = Key.generate()
    monkeypatch.setenv("SKPRIV_TEST_SWAP", other.export())
    with pytest.raises(ValueError, match="restore the original key") as excinfo:
        key.export()
    _assert_no_secret_in_locals(
        excinfo, _secrets_of(other) + _secrets_of(Key(CANARY)), [other.export()]
    )


@pytest.mark.parametrize("cut", [1, 4])
def test_no_key_text_in_traceback_locals_of_a_malformed_key(monkeypatch, tmp_path, cut):
    text = CANARY_TEXT[:-cut]  # most of a real key
    monkeypatch.setenv("SKPRIV_TEST_BAD", text)
    path = tmp_path / "bad.key"
    path.write_text(text)
    path.chmod(0o600)
    for make in (
        lambda: Key.from_env("SKPRIV_TEST_BAD"),
        lambda: Key.from_file(path),
        lambda: Key(text),
    ):
        with pytest.raises(ValueError) as excinfo:
            make()
        _assert_no_secret_in_locals(excinfo, [], [text, text[:24]])


def test_no_key_bytes_in_traceback_locals_of_the_hmac_kernel():
    from skpriv.encryption._tokens import HmacKey, hmac_hex

    key = Key(CANARY)
    with pytest.raises(AttributeError) as excinfo:
        hmac_hex(["a", 1], HmacKey(key._material("masker/hash")), 16)
    _assert_no_secret_in_locals(excinfo, _secrets_of(key), [CANARY_TEXT])


def test_world_readable_key_file_is_refused(tmp_path):
    # Key.from_file accepted a key file every user could read.
    if os.name != "posix":
        pytest.skip("POSIX permission bits")
    path = tmp_path / "shared.key"
    path.write_text(Key.generate().export())
    for mode in (0o644, 0o640, 0o606, 0o620):
        path.chmod(mode)
        with pytest.raises(PermissionError, match="chmod 600"):
            Key.from_file(path)
    assert Key.from_file(path, allow_shared=True).source.startswith("file:")
    path.chmod(0o600)
    assert Key.from_file(path) == Key.from_file(path, allow_shared=True)
    path.chmod(0o400)
    Key.from_file(path)


@pytest.mark.slow
def test_in_memory_key_in_a_search_with_workers_says_why_first():
    # GridSearchCV(n_jobs=2) with Key.generate() failed as "All the 4 fits
    # failed"; the message naming Key.from_env / from_file was deep below.
    from sklearn.preprocessing import OneHotEncoder

    from skpriv.encryption._key import MemoryKeyInWorkerError

    X = np.array([[f"id{i % 5}"] for i in range(40)], dtype=object)
    y = np.arange(40) % 2
    pipe = make_pipeline(
        Masker(strategy="hash", key=Key.generate()),
        OneHotEncoder(handle_unknown="ignore"),
        LogisticRegression(),
    )
    search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1]}, cv=2, n_jobs=2)
    with pytest.raises(MemoryKeyInWorkerError) as excinfo:
        search.fit(X, y)
    first_line = str(excinfo.value).splitlines()[0]
    assert "Key.from_env" in first_line and "Key.from_file" in first_line
