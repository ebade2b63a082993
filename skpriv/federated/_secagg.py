"""Secure aggregation (Bonawitz et al. 2017, with SecAgg+ neighbourhoods).

The server learns the sum of the clients' vectors and nothing else about any
single vector: each client adds pairwise masks, agreed with its neighbours by
X25519 key exchange and expanded by HKDF + AES-CTR, that cancel in the sum
over the ring of integers modulo 2**64, plus a self mask. Mask seeds are
Shamir-shared among neighbours, so the server can remove the masks of clients
that drop out, as long as at least ``threshold`` neighbours of every client
survive; otherwise it aborts and releases nothing.

Shares travel encrypted and authenticated (ChaCha20-Poly1305 under a key
agreed between dealer and recipient) and are committed to by a hash, so a
share tampered with in transit or when revealed is rejected.

What it does not protect: the sum itself (combine with DP for that), inputs
poisoned by malicious clients (they are summed like any other), or a server
that lies about who dropped out to two different sets of clients (the
consistency round of the malicious-server variant is not implemented).
"""

import hashlib
import math
import os
import struct

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _shamir

__all__ = [
    "STAGES",
    "SecureAggregationError",
    "SecureAggregator",
    "dequantize",
    "quantize",
]

STAGES = ("advertise_keys", "share_keys", "masked_input", "unmask")
_RAW = serialization.Encoding.Raw


class SecureAggregationError(RuntimeError):
    """Secure aggregation aborted: too few clients survived; nothing released."""


def quantize(x: np.ndarray, fractional_bits: int) -> np.ndarray:
    """Fixed-point encoding of floats into the ring Z / 2**64 (two's complement)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("secure aggregation got a non-finite value to encode.")
    scaled = np.rint(x * 2.0**fractional_bits)
    if scaled.size and np.max(np.abs(scaled)) >= 2.0**62:
        raise ValueError(
            f"a value of magnitude {np.max(np.abs(x)):.3g} overflows the fixed-point "
            f"range of secure aggregation (|x| < 2**{62 - fractional_bits}); "
            f"clip the updates (clip_norm) or lower fractional_bits."
        )
    return scaled.astype(np.int64).view(np.uint64)


def dequantize(q: np.ndarray, fractional_bits: int) -> np.ndarray:
    """Inverse of :func:`quantize` for a (summed) ring element."""
    return q.view(np.int64).astype(np.float64) / 2.0**fractional_bits


def _kdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        secret
    )


def _prg(seed: bytes, size: int) -> np.ndarray:
    """``size`` pseudo-random ring elements: AES-256-CTR keystream of ``seed``."""
    enc = Cipher(algorithms.AES(seed), modes.CTR(b"\x00" * 16)).encryptor()
    return np.frombuffer(enc.update(b"\x00" * (8 * size)), dtype="<u8").copy()


def _commit(session: bytes, dealer: int, holder: int, share_s: int, share_b: int):
    data = struct.pack(">II", dealer, holder) + share_s.to_bytes(66, "big")
    return hashlib.sha256(session + data + share_b.to_bytes(66, "big")).digest()


class _Client:
    """One client's state in the protocol (held by the client, not the server)."""

    def __init__(self, cid: int, vector: np.ndarray, pair_cache: dict):
        self.cid = cid
        # Simulation shortcut: both ends of a pair derive the same key, so it
        # is computed once and shared (real clients each compute their own,
        # in parallel). The server never reads this cache.
        self.pair_cache = pair_cache
        self.vector = vector
        self.c_key = X25519PrivateKey.generate()  # encrypts shares
        self.s_key = X25519PrivateKey.generate()  # seeds pairwise masks
        self.self_seed = os.urandom(32)
        self.received = {}  # dealer -> ciphertext
        self._channels = {}  # peer -> AEAD, one key agreement per pair

    def public_keys(self):
        return (
            self.c_key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw),
            self.s_key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw),
        )

    def _channel(self, session, other_c_pk, peer):
        if peer not in self._channels:
            pair = ("c", min(self.cid, peer), max(self.cid, peer))
            if pair not in self.pair_cache:
                pk = X25519PublicKey.from_public_bytes(other_c_pk)
                secret = self.c_key.exchange(pk)
                self.pair_cache[pair] = _kdf(secret, b"skpriv-secagg-enc" + session)
            self._channels[peer] = ChaCha20Poly1305(self.pair_cache[pair])
        return self._channels[peer]

    def share_keys(self, session, keys, neighbours, threshold):
        """Shamir-share the mask key and self-mask seed; encrypt one pair per peer."""
        s_sk = self.s_key.private_bytes(
            _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        xs = [v + 1 for v in neighbours]
        shares_s = _shamir.split(s_sk, xs, threshold)
        shares_b = _shamir.split(self.self_seed, xs, threshold)
        out, commits = {}, {}
        for v in neighbours:
            ss, sb = shares_s[v + 1], shares_b[v + 1]
            plain = struct.pack(">II", self.cid, v) + ss.to_bytes(66, "big")
            plain += sb.to_bytes(66, "big")
            nonce = struct.pack(">IIxxxx", self.cid, v)
            aad = session + struct.pack(">II", self.cid, v)
            aead = self._channel(session, keys[v][0], v)
            out[v] = nonce + aead.encrypt(nonce, plain, aad)
            commits[v] = _commit(session, self.cid, v, ss, sb)
        return out, commits

    def masked_input(self, session, keys, peers, fractional_bits):
        """``x + PRG(b) + sum_{v > u} PRG(s_uv) - sum_{v < u} PRG(s_uv)`` mod 2**64."""
        size = self.vector.shape[0]
        y = quantize(self.vector, fractional_bits)
        y = y + _prg(self.self_seed, size)
        for v in peers:
            pair = ("s", min(self.cid, v), max(self.cid, v))
            mask = self.pair_cache.pop(pair, None)
            if mask is None:
                seed = pairwise_seed(self.s_key, keys[v][1], session)
                mask = _prg(seed, size)
                self.pair_cache[pair] = mask
            y = y + mask if v > self.cid else y - mask
        return y

    def reveal(self, session, keys, survivors, dropped):
        """Decrypt received shares; reveal b-shares of survivors, s-shares of dropouts."""
        revealed = {}
        for u, blob in self.received.items():
            if u not in survivors and u not in dropped:
                continue
            nonce, ct = blob[:12], blob[12:]
            aad = session + struct.pack(">II", u, self.cid)
            try:
                plain = self._channel(session, keys[u][0], u).decrypt(nonce, ct, aad)
            except InvalidTag:
                continue  # tampered in transit: rejected, never used
            dealer, holder = struct.unpack(">II", plain[:8])
            if (dealer, holder) != (u, self.cid):
                continue
            ss = int.from_bytes(plain[8:74], "big")
            sb = int.from_bytes(plain[74:140], "big")
            # Never reveal both shares of one dealer: b if it survived, else s.
            revealed[u] = ("b", sb, ss) if u in survivors else ("s", ss, sb)
        return revealed


def pairwise_seed(private_key, other_public: bytes, session: bytes) -> bytes:
    """The mask seed two clients agree on: HKDF of their X25519 shared secret."""
    shared = private_key.exchange(X25519PublicKey.from_public_bytes(other_public))
    return _kdf(shared, b"skpriv-secagg-mask" + session)


class SecureAggregator:
    """Runs the secure-aggregation protocol over in-process clients.

    Parameters
    ----------
    n_neighbours : int, default=None
        Size of each client's neighbourhood (SecAgg+, Bell et al. 2020): masks
        and shares are exchanged with neighbours only, which makes the cost
        per client ``O(n_neighbours)`` instead of ``O(n_clients)``. ``None``
        uses ``min(n - 1, 2 * ceil(log2 n) + 2)``; ``n - 1`` is the complete
        graph of the original protocol.
    threshold : float, default=0.5
        Fraction of a neighbourhood whose shares reconstruct a secret; the
        Shamir threshold is ``floor(threshold * n_neighbours) + 1`` (a strict
        majority by default).
    fractional_bits : int, default=24
        Fixed-point precision. Each client's rounding error is at most
        ``2**-(fractional_bits + 1)`` per coordinate, so the sum of ``n``
        vectors is exact up to ``n * 2**-(fractional_bits + 1)``; the sum must
        stay below ``2**(63 - fractional_bits)`` in magnitude.
    min_clients : int, default=3
        The protocol aborts when fewer clients are left at any stage.
    random_state : numpy.random.Generator, default=None
        Chooses the neighbourhood graph (public). Keys and masks always come
        from the operating system's entropy.
    """

    def __init__(
        self,
        n_neighbours=None,
        threshold=0.5,
        fractional_bits=24,
        min_clients=3,
        random_state=None,
    ):
        self.n_neighbours = n_neighbours
        self.threshold = threshold
        self.fractional_bits = fractional_bits
        self.min_clients = min_clients
        self.random_state = random_state

    def _graph(self, n: int) -> list[list[int]]:
        k = self.n_neighbours
        if k is None:
            k = 2 * math.ceil(math.log2(max(n, 2))) + 2
        k = int(min(max(k, 2), n - 1))
        if k >= n - 1:
            return [[v for v in range(n) if v != u] for u in range(n)]
        rng = np.random.default_rng(self.random_state)
        perm = rng.permutation(n)
        pos = np.empty(n, dtype=int)
        pos[perm] = np.arange(n)
        half = k // 2
        graph = []
        for u in range(n):
            steps = [s for s in range(-half, half + 1) if s != 0]
            if k % 2:  # odd degree needs n even; approximate with one more step
                steps.append(half + 1)
            graph.append(sorted({int(perm[(pos[u] + s) % n]) for s in steps} - {u}))
        # Make the relation symmetric.
        for u in range(n):
            for v in graph[u]:
                if u not in graph[v]:
                    graph[v] = sorted(set(graph[v]) | {u})
        return graph

    def _check(self, alive, stage, n):
        if len(alive) < self.min_clients:
            raise SecureAggregationError(
                f"secure aggregation aborted at stage {stage!r}: only {len(alive)} "
                f"of {n} clients left, fewer than min_clients={self.min_clients}; "
                f"no aggregate was released."
            )

    def aggregate(self, vectors, *, dropouts=None, tamper=None, keep_masked=False):
        """The sum of ``vectors`` (one per client), computed on masked inputs.

        Parameters
        ----------
        vectors : array-like of shape (n_clients, n_params)
        dropouts : dict, default=None
            ``{stage: set of client indices}`` that drop out at (before
            completing) that stage; stages are ``STAGES``. For testing.
        tamper : callable, default=None
            ``tamper(kind, dealer, holder, payload) -> payload`` applied to
            shares in transit (``kind="transit"``, payload bytes) and when
            revealed (``kind="reveal"``, payload the share int). For testing.
        keep_masked : bool, default=False
            Keep what the server received from each client in
            ``masked_inputs_`` (for inspection; it is all the server sees).

        Returns
        -------
        total : ndarray of shape (n_params,)
            The sum over the clients that sent masked inputs.

        Raises
        ------
        SecureAggregationError
            When too few clients survive to remove the masks.
        """
        vectors = np.asarray(vectors, dtype=np.float64)
        n, size = vectors.shape
        dropouts = {k: set(v) for k, v in (dropouts or {}).items()}
        unknown = set(dropouts) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; use {STAGES}.")
        self._check(range(n), "start", n)
        session = os.urandom(16)
        pair_cache = {}
        clients = [_Client(i, vectors[i], pair_cache) for i in range(n)]
        graph = self._graph(n)
        self.graph_ = graph
        k = min(len(g) for g in graph)
        t = int(math.floor(self.threshold * k)) + 1
        t = max(2, min(t, k))
        self.share_threshold_ = t

        # Stage 0: advertise keys.
        u1 = [i for i in range(n) if i not in dropouts.get("advertise_keys", ())]
        self._check(u1, "advertise_keys", n)
        keys = {i: clients[i].public_keys() for i in u1}

        # Stage 1: share keys (each client shares among its neighbours in U1).
        u2, commits = [], {}
        for i in u1:
            if i in dropouts.get("share_keys", ()):
                continue
            nbrs = [v for v in graph[i] if v in keys]
            if len(nbrs) < t:
                raise SecureAggregationError(
                    f"secure aggregation aborted at stage 'share_keys': client {i} "
                    f"has {len(nbrs)} live neighbours, fewer than the threshold "
                    f"{t}; no aggregate was released."
                )
            out, com = clients[i].share_keys(session, keys, nbrs, t)
            commits[i] = com
            for v, blob in out.items():
                if tamper is not None:
                    blob = tamper("transit", i, v, blob)
                clients[v].received[i] = blob
            u2.append(i)
        self._check(u2, "share_keys", n)
        u2set = set(u2)

        # Stage 2: masked inputs (pairwise masks with neighbours in U2).
        u3, total = [], np.zeros(size, dtype=np.uint64)
        self.masked_inputs_ = {}
        for i in u2:
            if i in dropouts.get("masked_input", ()):
                continue
            peers = [v for v in graph[i] if v in u2set]
            masked = clients[i].masked_input(session, keys, peers, self.fractional_bits)
            if keep_masked:
                self.masked_inputs_[i] = masked
            total += masked
            u3.append(i)
        self._check(u3, "masked_input", n)
        u3set = set(u3)
        dropped = u2set - u3set

        # Stage 3: unmasking. Survivors reveal shares; the server checks them.
        u4 = [i for i in u3 if i not in dropouts.get("unmask", ())]
        self._check(u4, "unmask", n)
        got = {u: {} for u in u2}
        for v in u4:
            for u, (kind, share, other) in (
                clients[v].reveal(session, keys, u3set, dropped).items()
            ):
                if tamper is not None:
                    share = tamper("reveal", u, v, share)
                pair = (share, other) if kind == "s" else (other, share)
                if commits[u].get(v) != _commit(session, u, v, *pair):
                    continue  # does not match the dealer's commitment: rejected
                got[u][v + 1] = share
        self.rejected_ = {u: len(commits[u]) - len(got[u]) for u in u2}
        for u in u2:
            if len(got[u]) < t:
                raise SecureAggregationError(
                    f"secure aggregation aborted at stage 'unmask': only "
                    f"{len(got[u])} valid shares of client {u}'s secrets, fewer than "
                    f"the threshold {t}; no aggregate was released."
                )
        for u in u3:  # remove self masks
            seed = _shamir.reconstruct(dict(list(got[u].items())[:t]))
            total -= _prg(seed, size)
        for u in dropped:  # remove the pairwise masks dropouts left in others
            raw = _shamir.reconstruct(dict(list(got[u].items())[:t]))
            s_key = X25519PrivateKey.from_private_bytes(raw)
            for v in graph[u]:
                if v in u3set:
                    mask = _prg(pairwise_seed(s_key, keys[v][1], session), size)
                    # v added +mask if u > v and -mask if u < v.
                    total = total - mask if u > v else total + mask
        self.survivors_ = u3
        return dequantize(total, self.fractional_bits)

    def error_bound(self, n_clients: int) -> float:
        """Max absolute error per coordinate of the sum from fixed-point rounding."""
        return n_clients * 2.0 ** -(self.fractional_bits + 1)
