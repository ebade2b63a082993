import numpy as np
import pytest
from scipy import stats

from skpriv.federated import SecureAggregationError
from skpriv.federated._secagg import (
    STAGES,
    SecureAggregator,
    dequantize,
    quantize,
)
from skpriv.federated._shamir import reconstruct, split, split_many

N, D = 10, 40


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(0).standard_normal((N, D)) * 5


def test_shamir_threshold():
    secret = bytes(range(32))
    shares = split(secret, list(range(1, 8)), threshold=4)
    assert reconstruct({x: shares[x] for x in (1, 3, 5, 7)}) == secret
    assert reconstruct({x: shares[x] for x in (2, 4, 6, 7)}) == secret
    # Three shares (below the threshold) give some other value, not the secret.
    with pytest.raises(ValueError):
        reconstruct({x: shares[x] for x in (1, 2, 3)})
    with pytest.raises(ValueError, match="threshold"):
        split(secret, [1, 2], threshold=3)


@pytest.mark.parametrize("threshold", [1, 2, 9])
def test_shamir_split_many_lanes_are_independent(threshold):
    # Several secrets shared in one packed pass: each reconstructs alone from
    # any threshold of its shares, and the polynomials differ between them.
    secrets = [bytes(32), bytes(range(32)), b"\xff" * 32]
    xs = list(range(1, 18)) + [999]
    out = split_many(secrets, xs, threshold)
    for secret, shares in zip(secrets, out):
        for pts in (xs[:threshold], xs[-threshold:]):
            assert reconstruct({x: shares[x] for x in pts}) == secret
    if threshold > 1:
        assert out[0][1] != out[1][1] != out[2][1]


def test_quantization_roundtrip_and_overflow():
    x = np.array([-3.25, 0.0, 1e-9, 12345.678])
    np.testing.assert_allclose(dequantize(quantize(x, 24), 24), x, atol=2.0**-25)
    with pytest.raises(ValueError, match="outside the fixed-point range") as info:
        quantize(np.array([2.0**40]), 24)
    assert "1.1e+12" not in str(info.value)  # the value itself is private
    with pytest.raises(ValueError, match="non-finite"):
        quantize(np.array([np.nan]), 24)


@pytest.mark.parametrize("n_neighbours", [None, 4])
def test_masks_cancel_exactly(vectors, n_neighbours):
    agg = SecureAggregator(n_neighbours=n_neighbours, random_state=0)
    total = agg.aggregate(vectors, keep_masked=True)
    # Exact in the ring: the masked sum equals the sum of the quantized inputs.
    masked = sum(agg.masked_inputs_.values())
    expected_q = sum(quantize(v, agg.fractional_bits) for v in vectors)
    assert not np.array_equal(masked, expected_q)  # the masks are there ...
    np.testing.assert_array_equal(  # ... and removing them is exact
        quantize(total, agg.fractional_bits), expected_q
    )
    # Equal to the plain sum within the stated quantization bound.
    assert np.max(np.abs(total - vectors.sum(0))) <= agg.error_bound(N)
    if n_neighbours == 4:
        assert max(len(g) for g in agg.graph_) < N - 1


def _chi2_uniform_top_bits(values, bits=8):
    counts = np.bincount(
        (values >> np.uint64(64 - bits)).astype(np.int64), minlength=2**bits
    )
    return stats.chisquare(counts).pvalue


def test_masked_vector_looks_uniform():
    # One client's masked vector: the top 8 bits of each ring element should
    # be uniform. False-failure rate of the test: 1e-6.
    x = np.random.default_rng(1).standard_normal((5, 20_000))
    agg = SecureAggregator(random_state=0)
    agg.aggregate(x, keep_masked=True)
    assert _chi2_uniform_top_bits(agg.masked_inputs_[0]) > 1e-6
    # Power: the quantized input itself, and a mask with 32 random bits only
    # (a deliberately weakened mask), both fail the same test.
    q = quantize(x[0], 24)
    assert _chi2_uniform_top_bits(q) < 1e-6
    weak = q + (agg.masked_inputs_[0] & np.uint64(0xFFFFFFFF))
    assert _chi2_uniform_top_bits(weak) < 1e-6


@pytest.mark.parametrize("stage", STAGES)
def test_dropouts_recover_above_threshold(vectors, stage):
    agg = SecureAggregator(random_state=0)  # complete graph, threshold 5 of 9
    drop = {1, 6}
    total = agg.aggregate(vectors, dropouts={stage: drop})
    # Clients dropping before sending their masked input are not in the sum;
    # those dropping during unmasking already sent it and are.
    kept = [i for i in range(N) if stage == "unmask" or i not in drop]
    np.testing.assert_allclose(total, vectors[kept].sum(0), atol=agg.error_bound(N))
    assert agg.survivors_ == (list(range(N)) if stage == "unmask" else kept)


@pytest.mark.parametrize("stage", STAGES)
def test_dropouts_abort_below_threshold(vectors, stage):
    agg = SecureAggregator(random_state=0)
    drop = set(range(8))  # 2 of 10 left: below min_clients and the threshold
    with pytest.raises(SecureAggregationError, match="no aggregate was released"):
        agg.aggregate(vectors, dropouts={stage: drop})


def test_abort_when_too_few_shares_survive(vectors):
    # 4 drop after masking, 2 more during unmasking: 4 < threshold 5 shares
    # remain for the dropped clients' keys, so the masks cannot be removed.
    agg = SecureAggregator(random_state=0)
    with pytest.raises(SecureAggregationError, match="valid shares"):
        agg.aggregate(
            vectors, dropouts={"masked_input": {0, 1, 2, 3}, "unmask": {4, 5}}
        )
    with pytest.raises(ValueError, match="unknown stages"):
        agg.aggregate(vectors, dropouts={"nap": {1}})


def _flip_byte(blob):
    return blob[:-1] + bytes([blob[-1] ^ 1])


def test_tampered_shares_are_rejected(vectors):
    agg = SecureAggregator(random_state=0)

    def in_transit(kind, dealer, holder, payload):
        if kind == "transit" and dealer == 3 and holder in (0, 1):
            return _flip_byte(payload)
        return payload

    total = agg.aggregate(vectors, dropouts={"masked_input": {3}}, tamper=in_transit)
    assert agg.rejected_[3] == 2  # two shares failed authentication
    np.testing.assert_allclose(
        total, np.delete(vectors, 3, 0).sum(0), atol=agg.error_bound(N)
    )

    def at_reveal(kind, dealer, holder, payload):
        if kind == "reveal" and dealer == 2 and holder != 9:
            return payload + 1  # a lying client or server
        return payload

    with pytest.raises(SecureAggregationError, match="valid shares of client 2"):
        agg.aggregate(vectors, tamper=at_reveal)
    assert agg.rejected_[2] == N - 2

    def few(kind, dealer, holder, payload):
        if kind == "reveal" and dealer == 2 and holder in (0, 1):
            return payload + 1
        return payload

    total = agg.aggregate(vectors, tamper=few)
    assert agg.rejected_[2] == 2
    np.testing.assert_allclose(total, vectors.sum(0), atol=agg.error_bound(N))


def test_min_clients():
    with pytest.raises(SecureAggregationError, match="min_clients"):
        SecureAggregator().aggregate(np.ones((2, 3)))


def test_kdf_is_hkdf_sha256():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from skpriv.federated._secagg import _kdf

    secret, info = bytes(range(32)), b"skpriv-secagg-mask" + bytes(16)
    ref = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
    assert _kdf(secret, info) == ref.derive(secret)


def test_prg_paths_agree(monkeypatch):
    # Small vectors take the AES-GCM shortcut, large ones the CTR encryptor:
    # both are the same AES-256-CTR keystream.
    from skpriv.federated import _secagg

    seed = bytes(range(32))
    small = _secagg._prg(seed, 1000)
    monkeypatch.setattr(_secagg, "_GCM_MAX", 0)
    np.testing.assert_array_equal(_secagg._prg(seed, 1000), small)
    np.testing.assert_array_equal(_secagg._prg(seed, 10)[:10], small[:10])


def test_server_gets_one_share_per_dealer(vectors, monkeypatch):
    # Holders reveal the b-share of a survivor and the s-share of a dropout,
    # never both shares of one dealer (which would let the server rebuild
    # both of a client's secrets and unmask its input).
    from skpriv.federated import _secagg

    seen = []
    original = _secagg._Client.reveal

    def spy(self, *args):
        out = original(self, *args)
        seen.extend(out.values())
        return out

    monkeypatch.setattr(_secagg._Client, "reveal", spy)
    agg = SecureAggregator(random_state=0)
    total = agg.aggregate(vectors, dropouts={"masked_input": {3}})
    np.testing.assert_allclose(
        total, np.delete(vectors, 3, 0).sum(0), atol=agg.error_bound(N)
    )
    assert seen and all(
        len(r) == 2 and r[0] in ("b", "s") and len(r[1]) == 66 for r in seen
    )
    assert {r[0] for r in seen} == {"b", "s"}


def _count_agreements(monkeypatch):
    from cryptography.hazmat.primitives.asymmetric import x25519

    from skpriv.federated import _secagg

    calls = []

    class Counting:
        @staticmethod
        def generate():
            key = x25519.X25519PrivateKey.generate()
            return _Spy(key, calls)

    monkeypatch.setattr(_secagg, "X25519PrivateKey", Counting)
    return calls


class _Spy:
    def __init__(self, key, calls):
        self._key, self._calls = key, calls

    def public_key(self):
        return self._key.public_key()

    def exchange(self, peer):
        self._calls.append(1)
        return self._key.exchange(peer)


def test_long_term_keys_agree_once_per_pair(vectors, monkeypatch):
    # Keys and pair secrets are made the first time a client takes part;
    # later rounds need no key agreement, yet every round's masks are fresh.
    calls = _count_agreements(monkeypatch)
    agg = SecureAggregator(random_state=0)
    first = agg.aggregate(vectors, keep_masked=True)
    masked_1 = dict(agg.masked_inputs_)
    n_pairs = sum(len(g) for g in agg.graph_) // 2
    assert len(calls) == n_pairs
    second = agg.aggregate(vectors, keep_masked=True)
    assert len(calls) == n_pairs  # no new agreement
    np.testing.assert_array_equal(first, second)
    for i in range(N):
        assert not np.any(masked_1[i] == agg.masked_inputs_[i])
    # A new client id brings its own key: agreements with its neighbours only.
    ids = list(range(1, N)) + [N + 5]
    total = agg.aggregate(vectors, ids=ids)
    np.testing.assert_allclose(total, vectors.sum(0), atol=agg.error_bound(N))
    assert n_pairs < len(calls) <= n_pairs + N - 1


def test_replayed_session_id_still_gives_fresh_masks(vectors, monkeypatch):
    # A server that reuses a session id cannot make a pair reuse its round
    # keys (which would let it subtract two rounds' inputs): each client's
    # fresh nonce enters every round key.
    from skpriv.federated import _secagg

    agg = SecureAggregator(random_state=0)

    def seed_and_channel(session):
        rnd = agg.start(N, D, session=session)
        channel, seed = rnd.clients[0]._pair_keys(rnd.session, rnd.keys, 1)
        return seed, channel.encrypt(bytes(12), b"x", None)

    replayed = bytes(16)
    a, b = seed_and_channel(replayed), seed_and_channel(replayed)
    assert a[0] != b[0] and a[1] != b[1]
    # Control: with the clients' nonces fixed too, the keys do repeat.
    real = _secagg.os.urandom
    monkeypatch.setattr(
        _secagg.os, "urandom", lambda n: bytes(n) if n == 16 else real(n)
    )
    assert seed_and_channel(replayed) == seed_and_channel(replayed)
    with pytest.raises(ValueError, match="session"):
        agg.start(N, D, session=b"short")


def test_tampered_deposit_aborts(vectors):
    agg = SecureAggregator(random_state=0)

    def deposit(kind, dealer, holder, payload):
        return _flip_byte(payload) if kind == "deposit" and dealer == 3 else payload

    # Client 3 survives: its deposit is never opened.
    total = agg.aggregate(vectors, tamper=deposit)
    np.testing.assert_allclose(total, vectors.sum(0), atol=agg.error_bound(N))
    with pytest.raises(SecureAggregationError, match="failed authentication"):
        agg.aggregate(vectors, dropouts={"masked_input": {3}}, tamper=deposit)


def test_long_term_keys_never_pickled(vectors):
    import pickle

    agg = SecureAggregator(random_state=0)
    agg.aggregate(vectors)
    secrets = [k.private_bytes_raw() for k in agg._lt["key"].values()]
    secrets += list(agg._lt["prk"].values())
    blob = pickle.dumps(agg)
    assert not any(s in blob for s in secrets)
    clone = pickle.loads(blob)
    assert "_lt" not in clone.__dict__
    total = clone.aggregate(vectors)  # fresh keys
    np.testing.assert_allclose(total, vectors.sum(0), atol=agg.error_bound(N))


def test_ids_must_be_distinct(vectors):
    with pytest.raises(ValueError, match="distinct client ids"):
        SecureAggregator().aggregate(vectors, ids=[0] * N)
