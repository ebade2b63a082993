import base64
import io
import logging
import pickle
import zipfile

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sklearn.base import clone

from skpriv.encryption import ColumnEncryptor, Key, KeyPair, PublicKey, _hpke
from skpriv.exceptions import DecryptionError

from .conftest import CANARY, CANARY_TEXT, assert_no_canary
from .test_column import ALPHABET, _col
from .test_key import _assert_no_secret_in_locals


@pytest.fixture
def canary_pair_env(monkeypatch):
    monkeypatch.setenv("SKPRIV_TEST_PAIR", CANARY_TEXT)
    return KeyPair.from_env("SKPRIV_TEST_PAIR")


def _pair_secrets():
    return [CANARY, X25519PrivateKey.from_private_bytes(CANARY).private_bytes_raw()]


def test_public_key_encrypts_private_key_decrypts():
    pair = KeyPair.generate()
    X = np.array(
        [["alice", 1, 2.5, True, b"\x00raw"], ["émoji 🎉", -7, -0.0, False, b""]],
        dtype=object,
    )
    tokens = ColumnEncryptor(pair.public_key()).fit(X).transform(X)
    assert all(isinstance(t, str) for t in tokens.ravel())
    back = ColumnEncryptor(pair).fit(X).inverse_transform(tokens)
    assert back.tolist() == X.tolist()
    assert [type(v) for v in back.ravel()] == [type(v) for v in X.ravel()]
    # A KeyPair encrypts to its own public key too.
    again = ColumnEncryptor(pair).fit(X)
    assert again.inverse_transform(again.transform(X)).tolist() == X.tolist()


def test_public_key_tokens_are_randomized():
    X = _col(["same"] * 200)
    tokens = ColumnEncryptor(KeyPair.generate().public_key()).fit(X).transform(X)
    assert len(set(tokens.ravel())) == 200
    encs = {base64.urlsafe_b64decode(t)[5:37] for t in tokens.ravel()}
    assert len(encs) == 200  # a fresh ephemeral key per value


def test_decrypting_with_only_the_public_key_says_what_to_do():
    pair = KeyPair.generate()
    enc = ColumnEncryptor(pair.public_key()).fit(_col(["a"]))
    tokens = enc.transform(_col(["a"]))
    with pytest.raises(ValueError, match="only public keys.*KeyPair"):
        enc.inverse_transform(tokens)
    with pytest.raises(ValueError, match="only public keys"):
        enc.rotate(tokens)


def test_deterministic_public_key_encryption_is_refused():
    pk = KeyPair.generate().public_key()
    with pytest.raises(ValueError, match="deterministic=True cannot be used"):
        ColumnEncryptor(pk, deterministic=True).fit(_col(["a"]))
    assert ColumnEncryptor(pk).__sklearn_tags__().non_deterministic
    assert not ColumnEncryptor(Key.generate()).__sklearn_tags__().non_deterministic


def test_wrong_key_pair_fails():
    X = _col(["a", "b"])
    tokens = ColumnEncryptor(KeyPair.generate().public_key()).fit(X).transform(X)
    with pytest.raises(DecryptionError, match="key"):
        ColumnEncryptor(KeyPair.generate()).fit(X).inverse_transform(tokens)
    with pytest.raises(DecryptionError):
        ColumnEncryptor(Key.generate()).fit(X).inverse_transform(tokens)


def test_tamper_sweep_on_public_key_tokens():
    pair = KeyPair.generate()
    enc = ColumnEncryptor(pair).fit(_col(["x"]))
    token = (
        ColumnEncryptor(pair.public_key())
        .fit(_col(["x"]))
        .transform(_col(["4111-1111-1111-1111"]))[0, 0]
    )
    tampered = []
    for i, char in enumerate(token):
        nxt = ALPHABET[(ALPHABET.index(char) + 1) % 64] if char != "=" else "A"
        for new in {nxt, "=", "+", "A", "_"} - {char}:
            tampered.append(token[:i] + new + token[i + 1 :])
    tampered += [token[:n] for n in range(len(token))]  # every truncation
    tampered += [token + "A", token + "AAAA", token + "====", " " + token, token + "\n"]
    for bad in tampered:
        with pytest.raises(DecryptionError):
            enc.inverse_transform(_col([bad]))


def test_every_single_byte_alteration_is_rejected_and_never_decoded(monkeypatch):
    from skpriv.encryption import _tokens

    pair = KeyPair.generate()
    enc = ColumnEncryptor(pair).fit(_col(["x"]))
    raw = base64.urlsafe_b64decode(enc.transform(_col(["secret"]))[0, 0])
    decoded = []
    real = _tokens._decode_value
    monkeypatch.setattr(
        _tokens, "_decode_value", lambda p: decoded.append(p) or real(p)
    )
    for i in range(len(raw)):
        for delta in (1, 0x80, 0xFF):
            bad = bytearray(raw)
            bad[i] = (bad[i] + delta) % 256
            token = base64.urlsafe_b64encode(bytes(bad)).decode()
            with pytest.raises(DecryptionError):
                enc.inverse_transform(_col([token]))
    # A low-order (all-zero) ephemeral key gives an all-zero shared secret.
    zero = raw[:5] + bytes(32) + raw[37:]
    with pytest.raises(DecryptionError):
        enc.inverse_transform(_col([base64.urlsafe_b64encode(zero).decode()]))
    assert decoded == []  # nothing unauthenticated reached the value decoder


def test_bind_columns_with_public_keys():
    pair = KeyPair.generate()
    X = np.array([["a", "b"]], dtype=object)
    tokens = ColumnEncryptor(pair.public_key(), bind_columns=True).fit(X).transform(X)
    dec = ColumnEncryptor(pair, bind_columns=True).fit(X)
    assert dec.inverse_transform(tokens).tolist() == X.tolist()
    with pytest.raises(DecryptionError, match="column"):
        dec.inverse_transform(tokens[:, ::-1])


def test_key_rings_and_rotation_from_symmetric_to_public_key():
    old, new = Key.generate(), KeyPair.generate()
    X = _col([f"v{i}" for i in range(20)])
    old_tokens = ColumnEncryptor(old).fit(X).transform(X)
    ring = ColumnEncryptor([new, old]).fit(X)  # "auto": randomized (newest key)
    rotated = ring.rotate(old_tokens)
    assert rotated[0, 0].startswith("A")  # mode byte 0x03 in base64
    assert ColumnEncryptor(new).fit(X).inverse_transform(rotated).tolist() == X.tolist()
    with pytest.raises(DecryptionError):
        ColumnEncryptor(old).fit(X).inverse_transform(rotated)
    # Mixed columns in one ring decrypt too; a public key alone in the ring
    # cannot open its tokens and the error says so.
    both = np.vstack([old_tokens[:10], rotated[10:]])
    assert ring.inverse_transform(both).tolist() == X.tolist()
    half = ColumnEncryptor([new.public_key(), old]).fit(X)
    with pytest.raises(DecryptionError, match="does not hold"):
        half.inverse_transform(both)


def test_repr_and_logs_hide_the_private_key(canary_pair_env, caplog):
    pair = KeyPair(CANARY)
    for obj in (pair, canary_pair_env):
        enc = ColumnEncryptor(obj).fit(_col(["a"]))
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("t").info("%r %s %s", obj, obj, enc.get_params())
        for text in (repr(obj), str(obj), repr(enc), str(enc.get_params())):
            assert_no_canary(text)
        assert obj.key_id in repr(obj)
    assert_no_canary(caplog.text)
    public = pair.public_key()
    assert public.key_id == pair.key_id == canary_pair_env.key_id
    assert_no_canary(repr(public) + public.export())


def test_pickles_hold_no_private_key(canary_pair_env, tmp_path):
    path = tmp_path / "pair.key"
    path.write_text(CANARY_TEXT)
    path.chmod(0o600)
    file_pair = KeyPair.from_file(path)
    X = _col(["a", "b"])
    tokens = ColumnEncryptor(file_pair.public_key()).fit(X).transform(X)
    for pair in (canary_pair_env, file_pair):
        enc = ColumnEncryptor(pair).fit(X)
        enc.inverse_transform(tokens)  # caches the private key object
        data = pickle.dumps(enc)
        assert_no_canary(data)
        back = pickle.loads(data)
        assert back.inverse_transform(tokens).tolist() == X.tolist()
    memory = KeyPair.generate()
    data = pickle.dumps(memory)
    assert memory.export().encode() not in data
    assert base64.urlsafe_b64decode(memory.export()) not in data
    assert pickle.loads(data) == memory  # a process-local handle to its Key
    assert clone(ColumnEncryptor(memory)).key is memory


def test_skops_file_of_an_encryptor_with_a_key_pair(canary_pair_env):
    sio = pytest.importorskip("skops.io")
    enc = ColumnEncryptor(canary_pair_env).fit(_col(["a"]))
    data = sio.dumps(enc)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert_no_canary(b"".join(z.read(n) for n in z.namelist()))
    trusted = sio.get_untrusted_types(data=data)
    back = sio.loads(data, trusted=trusted)
    tokens = enc.transform(_col(["a"]))
    assert back.inverse_transform(tokens).tolist() == [["a"]]


def test_swapped_private_key_is_detected(monkeypatch):
    monkeypatch.setenv("SKPRIV_TEST_SWAP_PAIR", CANARY_TEXT)
    pair = pickle.loads(pickle.dumps(KeyPair.from_env("SKPRIV_TEST_SWAP_PAIR")))
    monkeypatch.setenv("SKPRIV_TEST_SWAP_PAIR", KeyPair.generate().export())
    with pytest.raises(ValueError, match="restore the original key"):
        pair._private_key()


def test_malformed_keys_and_types():
    with pytest.raises(ValueError, match="44 characters"):
        KeyPair("not a key")
    with pytest.raises(ValueError, match="44 characters"):
        PublicKey("not a key")
    with pytest.raises(TypeError, match="KeyPair"):
        ColumnEncryptor("secret").fit(_col(["a"]))
    with pytest.raises(TypeError, match="KeyPair or a PublicKey"):
        ColumnEncryptor(["secret"]).fit(_col(["a"]))
    with pytest.raises(TypeError):
        PublicKey(12)


def test_no_private_key_in_traceback_locals_of_a_bad_token():
    pair = KeyPair(CANARY)
    enc = ColumnEncryptor(pair).fit([["a"]])
    tokens = enc.transform([["a"], ["b"]])
    tokens[1, 0] = tokens[1, 0][:-2] + ("AA" if tokens[1, 0][-2:] != "AA" else "BA")
    with pytest.raises(DecryptionError) as excinfo:
        enc.inverse_transform(tokens)
    _assert_no_secret_in_locals(excinfo, _pair_secrets(), [CANARY_TEXT])


def test_no_key_text_in_traceback_locals_of_a_malformed_pair():
    text = CANARY_TEXT[:-2]
    with pytest.raises(ValueError) as excinfo:
        KeyPair(text)
    _assert_no_secret_in_locals(excinfo, [], [text, text[:24]])


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_large_columns_across_workers(n_jobs):
    pair = KeyPair.generate()
    X = _col([f"user{i}@example.com" for i in range(1000)])
    enc = ColumnEncryptor(pair, n_jobs=n_jobs).fit(X)
    assert enc.inverse_transform(enc.transform(X)).tolist() == X.tolist()


# ------------------------------------------------------------- RFC 9180 HPKE
@pytest.mark.parametrize("plain", [b"", b"hello", bytes(range(256)) * 4])
def test_hpke_from_primitives_interoperates_with_cryptography(plain):
    # The fallback for cryptography releases without an HPKE API must give
    # what cryptography's RFC 9180 implementation opens, and the reverse.
    if _hpke._SUITE is None:
        pytest.skip("this cryptography has no HPKE API to compare with")
    sk = X25519PrivateKey.generate()
    info = b"skpriv/test"
    sealed = _hpke._seal_primitives(plain, sk.public_key(), info)
    assert len(sealed) == len(plain) + _hpke.OVERHEAD
    assert _hpke._SUITE.decrypt(sealed, sk, info=info) == plain
    theirs = _hpke._SUITE.encrypt(plain, sk.public_key(), info=info)
    assert _hpke._open_primitives(theirs, sk, info) == plain
    with pytest.raises(InvalidTag):
        _hpke._open_primitives(theirs, sk, b"other info")


def test_column_tokens_with_the_primitive_hpke(monkeypatch):
    pair = KeyPair.generate()
    X = _col(["a", "b", 3])
    made = ColumnEncryptor(pair).fit(X).transform(X)
    monkeypatch.setattr(_hpke, "_SUITE", None)  # as on cryptography < 46
    enc = ColumnEncryptor(pair).fit(X)
    assert enc.inverse_transform(made).tolist() == X.tolist()
    assert enc.inverse_transform(enc.transform(X)).tolist() == X.tolist()
    bad = made[0, 0][:-2] + ("AA" if made[0, 0][-2:] != "AA" else "BA")
    with pytest.raises(DecryptionError):
        enc.inverse_transform(_col([bad]))
