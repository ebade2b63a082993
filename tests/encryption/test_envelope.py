import pickle

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skpriv.encryption import Key, dump, load
from skpriv.exceptions import DecryptionError

from .conftest import assert_no_canary


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, X[:, 0] > 0), X


@pytest.mark.parametrize("serializer", ["skops", "pickle"])
def test_roundtrip(tmp_path, model, serializer):
    est, X = model
    key = Key.generate()
    path = dump(est, tmp_path / "m.skpriv", key, serializer=serializer)
    loaded = load(path, key, allow_pickle=serializer == "pickle")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_pickle_payload_needs_allow_pickle(tmp_path, model):
    key = Key.generate()
    path = dump(model[0], tmp_path / "m", key, serializer="pickle")
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load(path, key)


def test_skops_untrusted_types_listed_after_authentication(tmp_path):
    from sklearn.pipeline import make_pipeline
    from skops.io.exceptions import UntrustedTypesFoundException

    from skpriv.preprocessing import Masker
    from tests.toy import ToyNoisyMean

    key = Key.generate()
    pipe = make_pipeline(Masker(strategy="replace", fill_value=0.5), ToyNoisyMean())
    path = dump(pipe.fit([[1.0]]), tmp_path / "m", key)
    with pytest.raises(UntrustedTypesFoundException, match="ToyNoisyMean"):
        load(path, key)
    loaded = load(path, key, trusted=["tests.toy.ToyNoisyMean"])
    assert loaded.transform([[3.0]])[0, 0] == pytest.approx(0.5 - pipe[1].mean_[0])


def test_tamper_sweep_on_file(tmp_path):
    key = Key.generate()
    path = dump({"weights": [1.0, 2.0], "name": "m"}, tmp_path / "m", key)
    blob = path_bytes = open(path, "rb").read()
    bad = tmp_path / "bad"
    variants = []
    for i in range(len(blob)):  # flip one bit in every byte
        flipped = bytearray(blob)
        flipped[i] ^= 1 << (i % 8)
        variants.append(bytes(flipped))
    step = max(1, len(blob) // 200)
    variants += [blob[:n] for n in range(0, len(blob), step)]  # truncations
    variants += [blob[:-1], blob + b"\x00", blob + blob[-16:], b"", b"\x80\x04N."]
    for data in variants:
        bad.write_bytes(data)
        with pytest.raises(DecryptionError):
            load(bad, key, allow_pickle=True)
    assert path_bytes == blob


def test_wrong_key_other_formats_and_key_ring(tmp_path, model):
    old, new = Key.generate(), Key.generate()
    path = dump(model[0], tmp_path / "m", old)
    with pytest.raises(DecryptionError, match="Wrong key"):
        load(path, new)
    load(path, [new, old])  # a key ring opens files of any of its keys
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(model[0]))
    with pytest.raises(DecryptionError, match="Not an skpriv"):
        load(plain, old, allow_pickle=True)


def test_no_key_material_in_files(tmp_path, model, canary_env, canary_file):
    for key in (canary_env, canary_file):
        path = dump(model[0], tmp_path / "m", key)
        assert_no_canary(open(path, "rb").read())
        header = open(path, "rb").read()[:400]
        assert b"AES-256-GCM" in header and b"scikit-learn" in header


def test_skops_saves_estimators_holding_a_key(tmp_path, canary_env, canary_file):
    # skops read the Key's slots: dump failed ("keys must be str, ... not
    # tuple") and, before the key cached anything, the skops file held the
    # secret's bytes.
    import io
    import zipfile

    import skops.io as sio

    from skpriv.encryption import ColumnEncryptor
    from skpriv.preprocessing import Masker

    X = np.array([["alice"], ["bob"]], dtype=object)
    for key in (canary_env, canary_file, canary_env.derive("emails")):
        for est in (Masker(strategy="hash", key=key), ColumnEncryptor(key)):
            with zipfile.ZipFile(io.BytesIO(sio.dumps(est))) as z:
                assert_no_canary(b"".join(z.read(n) for n in z.namelist()))
            est.fit(X)
            path = dump(est, tmp_path / "est.skpriv", canary_env)
            trusted = sio.get_untrusted_types(data=sio.dumps(est))
            back = load(path, canary_env, trusted=trusted)
            assert repr(back.key) == repr(key)
            np.testing.assert_array_equal(back.transform(X), est.transform(X))


def test_bad_serializer(tmp_path):
    with pytest.raises(ValueError, match="serializer"):
        dump(1, tmp_path / "x", Key.generate(), serializer="json")
    with pytest.raises(TypeError, match="key must be"):
        dump(1, tmp_path / "x", "password")


def test_dump_to_a_missing_directory_names_it(tmp_path):
    path = tmp_path / "no_such_dir" / "model.skpriv"
    with pytest.raises(FileNotFoundError, match="no_such_dir") as info:
        dump(1, path, Key.generate())
    assert ".tmp" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


_MARKS = []


def _mark():
    _MARKS.append("ran")


class _Payload:
    """Pickles as a call to ``_mark``: unpickling it leaves a trace."""

    def __reduce__(self):
        return (_mark, ())


def test_nothing_is_deserialized_before_the_tag_is_verified(tmp_path):
    _MARKS.clear()
    key = Key.generate()
    path = dump(_Payload(), tmp_path / "p", key, serializer="pickle")
    blob = bytearray(open(path, "rb").read())
    blob[-20] ^= 0x40
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(blob))
    for file, k in ((bad, key), (path, Key.generate())):
        with pytest.raises(DecryptionError):
            load(file, k, allow_pickle=True)
        assert not _MARKS
    with pytest.raises(ValueError, match="allow_pickle"):
        load(path, key)  # authentic, but pickle needs explicit consent
    assert not _MARKS
    load(path, key, allow_pickle=True)  # the key holder's pickle does run
    assert _MARKS == ["ran"]


def test_skpriv_types_and_dp_events_are_trusted_by_default(tmp_path, canary_env):
    # load refused skpriv's own classes and dp-accounting's events
    # (UntrustedTypesFoundException listing them); the file is encrypted, so
    # users could not list them first.
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    from skpriv.encryption import ColumnEncryptor, EncryptedEstimator
    from skpriv.preprocessing import LaplaceNoise, Masker

    X = np.array([[0.1, 0.2], [0.8, 0.9], [0.4, 0.6]])
    objs = [
        make_pipeline(LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0)),
        ColumnTransformer(
            [
                ("m", Masker("hash", key=canary_env.derive("x")), [0]),
                ("e", ColumnEncryptor([canary_env]), [1]),
            ]
        ),
        EncryptedEstimator(LaplaceNoise(epsilon=1.0, bounds=(0, 1)), canary_env),
    ]
    for obj in objs:
        obj.fit(X)
        path = dump(obj, tmp_path / "obj.skpriv", canary_env)
        back = load(path, canary_env)
        assert type(back) is type(obj)
    assert back.transform(X).shape == X.shape
    events = load(dump(objs[0][0].dp_event_, tmp_path / "e", canary_env), canary_env)
    assert events == objs[0][0].dp_event_


def test_name_and_version_are_bound_into_the_file(tmp_path):
    # dump files could be rolled back or swapped under another name.
    import shutil

    key = Key.generate()
    old = dump({"v": 1}, tmp_path / "old", key, name="model-a", version=1)
    new = dump({"v": 2}, tmp_path / "new", key, name="model-a", version=2)
    other = dump({"v": 9}, tmp_path / "other", key, name="model-b", version=3)
    assert load(new, key, name="model-a", min_version=2) == {"v": 2}
    shutil.copy(old, new)  # roll-back
    with pytest.raises(DecryptionError, match="roll-back"):
        load(new, key, name="model-a", min_version=2)
    shutil.copy(other, new)  # swap
    with pytest.raises(DecryptionError, match="sealed under the name 'model-b'"):
        load(new, key, name="model-a", min_version=2)
    unlabelled = dump({"v": 0}, tmp_path / "plain", key)
    with pytest.raises(DecryptionError, match="roll-back"):
        load(unlabelled, key, min_version=0)
    # The label is authenticated: editing it in the header fails the tag.
    blob = bytearray(open(old, "rb").read())
    at = blob.index(b'"model-a"')
    blob[at + 7] = ord("b")
    open(old, "wb").write(bytes(blob))
    with pytest.raises(DecryptionError, match="authentication"):
        load(old, key, name="model-b")
    with pytest.raises(ValueError, match="version"):
        dump({}, tmp_path / "x", key, version=-1)
    with pytest.raises(TypeError, match="name"):
        load(new, key, name=3)
