"""Secure aggregation (Bonawitz et al. 2017, with SecAgg+ neighbourhoods).

The server learns the sum of the clients' vectors and nothing else about any
single vector: each client adds pairwise masks, agreed with its neighbours by
X25519 key exchange and expanded by HKDF + AES-CTR, that cancel in the sum
over the ring of integers modulo 2**64, plus a self mask. Mask seeds are
Shamir-shared among neighbours, so the server can remove the masks of clients
that drop out, as long as at least ``threshold`` neighbours of every client
survive; otherwise it aborts and releases nothing.

Shares travel encrypted and authenticated (ChaCha20-Poly1305 under a key
agreed between dealer and recipient) and each share is committed to by its
own hash, so a share tampered with in transit or when revealed is rejected.
A surviving client reveals, per dealer, only the share the server needs (the
self-mask share of a survivor, the mask-key share of a dropout) -- never both,
so the server cannot rebuild both secrets of any client.

What it does not protect: the sum itself (combine with DP for that), inputs
poisoned by malicious clients (they are summed like any other), or a server
that lies about who dropped out to two different sets of clients (the
consistency round of the malicious-server variant is not implemented).
"""

import hashlib
import hmac
import math
import os
import struct

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from . import _shamir

__all__ = [
    "STAGES",
    "SecureAggregationError",
    "SecureAggregator",
    "dequantize",
    "quantize",
]

STAGES = ("advertise_keys", "share_keys", "masked_input", "unmask")


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


_ZERO_SALT = bytes(32)


def _kdf(secret: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) with no salt and a 32-byte output.

    Written out with :func:`hmac.digest` (extract, then one expand block):
    the same function as ``cryptography``'s ``HKDF(SHA256(), 32, None, info)``,
    without constructing an HKDF object per key.
    """
    prk = hmac.digest(_ZERO_SALT, secret, "sha256")
    return hmac.digest(prk, info + b"\x01", "sha256")


# The keystream starts at counter block 0**96 || 2, where AES-GCM's
# encryption keystream starts: for small vectors GCM encryption of zeros
# (one Rust call, no per-call Python object construction) gives exactly the
# same bytes as the CTR encryptor, whose GHASH work would dominate for large.
_CTR0 = bytes(12) + (2).to_bytes(4, "big")
_NONCE = bytes(12)
_GCM_MAX = 1 << 15  # bytes


def _prg(seed: bytes, size: int) -> np.ndarray:
    """``size`` pseudo-random ring elements: AES-256-CTR keystream of ``seed``."""
    n_bytes = 8 * size
    if n_bytes <= _GCM_MAX:
        stream = AESGCM(seed).encrypt(_NONCE, bytes(n_bytes), None)[:n_bytes]
    else:
        enc = Cipher(algorithms.AES(seed), modes.CTR(_CTR0)).encryptor()
        stream = enc.update(bytes(n_bytes))
    return np.frombuffer(stream, dtype="<u8")


def _commit(session: bytes, header: bytes, kind: bytes, share: bytes) -> bytes:
    """Hash commitment to one share (``kind`` b"s" or b"b"), checked at reveal."""
    return hashlib.sha256(session + header + kind + share).digest()


class _Client:
    """One client's state in the protocol (held by the client, not the server)."""

    def __init__(self, cid: int, q: np.ndarray, shared: dict):
        self.cid = cid
        # Simulation shortcuts, documented in SecureAggregator: both ends of a
        # pair derive the same channel key and the same pairwise mask, so each
        # is computed once per pair and shared (real clients each compute
        # their own, in parallel); public keys are parsed once. The server
        # never reads ``shared``.
        self.shared = shared
        self.q = q  # the quantized input
        self.c_key = X25519PrivateKey.generate()  # encrypts shares
        self.s_key = X25519PrivateKey.generate()  # seeds pairwise masks
        self.self_seed = os.urandom(32)
        self.received = {}  # dealer -> ciphertext

    def public_keys(self):
        return (
            self.c_key.public_key().public_bytes_raw(),
            self.s_key.public_key().public_bytes_raw(),
        )

    def _peer_key(self, keys, peer, which):
        pubs = self.shared["pub"]
        parsed = pubs.get(peer)
        if parsed is None:
            parsed = pubs[peer] = tuple(
                X25519PublicKey.from_public_bytes(b) for b in keys[peer]
            )
        return parsed[which]

    def _channel(self, session, keys, peer):
        u = self.cid
        pair = (u, peer) if u < peer else (peer, u)
        channels = self.shared["c"]
        chan = channels.get(pair)
        if chan is None:
            secret = self.c_key.exchange(self._peer_key(keys, peer, 0))
            chan = ChaCha20Poly1305(_kdf(secret, b"skpriv-secagg-enc" + session))
            channels[pair] = chan
        return chan

    def share_keys(self, session, keys, neighbours, threshold):
        """Shamir-share the mask key and self-mask seed; encrypt one pair per peer."""
        xs = [v + 1 for v in neighbours]
        shares_s, shares_b = _shamir.split_many(
            [self.s_key.private_bytes_raw(), self.self_seed], xs, threshold
        )
        out, commits = {}, {}
        for v in neighbours:
            ss = shares_s[v + 1].to_bytes(_SB, "big")
            sb = shares_b[v + 1].to_bytes(_SB, "big")
            header = struct.pack(">II", self.cid, v)
            nonce = header + b"\x00\x00\x00\x00"
            aead = self._channel(session, keys, v)
            out[v] = nonce + aead.encrypt(nonce, header + ss + sb, session + header)
            commits[v] = (
                _commit(session, header, b"s", ss),
                _commit(session, header, b"b", sb),
            )
        return out, commits

    def masked_input(self, session, keys, peers):
        """``x + PRG(b) + sum_{v > u} PRG(s_uv) - sum_{v < u} PRG(s_uv)`` mod 2**64."""
        size = self.q.shape[0]
        y = self.q + _prg(self.self_seed, size)
        masks, u = self.shared["s"], self.cid
        for v in peers:
            pair = (u, v) if u < v else (v, u)
            mask = masks.pop(pair, None)
            if mask is None:
                seed = pairwise_seed(self.s_key, self._peer_key(keys, v, 1), session)
                mask = _prg(seed, size)
                masks[pair] = mask
            if v > u:
                y += mask
            else:
                y -= mask
        return y

    def reveal(self, session, keys, survivors, dropped):
        """Decrypt received shares; reveal the b-share of a survivor, the s-share
        of a dropout -- never both shares of one dealer."""
        revealed = {}
        for u, blob in self.received.items():
            if u not in survivors and u not in dropped:
                continue
            nonce, ct = blob[:12], blob[12:]
            header = struct.pack(">II", u, self.cid)
            try:
                plain = self._channel(session, keys, u).decrypt(
                    nonce, ct, session + header
                )
            except InvalidTag:
                continue  # tampered in transit: rejected, never used
            if plain[:8] != header:
                continue
            if u in survivors:
                revealed[u] = ("b", plain[8 + _SB :])
            else:
                revealed[u] = ("s", plain[8 : 8 + _SB])
        return revealed


_SB = _shamir.SHARE_BYTES


def pairwise_seed(private_key, other_public, session: bytes) -> bytes:
    """The mask seed two clients agree on: HKDF of their X25519 shared secret.

    ``other_public`` is the peer's public key, raw bytes or already parsed.
    """
    if isinstance(other_public, bytes):
        other_public = X25519PublicKey.from_public_bytes(other_public)
    shared = private_key.exchange(other_public)
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

    Notes
    -----
    In-process simulation shortcuts (cost only, not what any party learns;
    the server-side code never reads the clients' shared cache):

    - Both ends of a pair run the same X25519 agreement and HKDF and get the
      same channel key and the same pairwise mask; each is computed once per
      pair and used by both clients (real clients each compute their own, in
      parallel, so the per-client cost of the real protocol is unchanged).
    - Public keys are parsed once, not once per recipient; all clients
      quantize their vectors in one vectorized call.
    - Lagrange coefficients, which depend only on the public share points,
      are cached across calls (the graph is fixed for a fit).
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
        shared = {"pub": {}, "c": {}, "s": {}}
        # Each client quantizes its own vector; element-wise, so done for all
        # rows at once here.
        q = quantize(vectors, self.fractional_bits)
        clients = [_Client(i, q[i], shared) for i in range(n)]
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
        drop1 = dropouts.get("share_keys", ())
        for i in u1:
            if i in drop1:
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
        drop2 = dropouts.get("masked_input", ())
        for i in u2:
            if i in drop2:
                continue
            peers = [v for v in graph[i] if v in u2set]
            masked = clients[i].masked_input(session, keys, peers)
            if keep_masked:
                self.masked_inputs_[i] = masked
            total += masked
            u3.append(i)
        self._check(u3, "masked_input", n)
        u3set = set(u3)
        dropped = u2set - u3set

        # Stage 3: unmasking. Survivors reveal one share per dealer; the server
        # checks each against the dealer's commitment to that share.
        u4 = [i for i in u3 if i not in dropouts.get("unmask", ())]
        self._check(u4, "unmask", n)
        got = {u: {} for u in u2}
        for v in u4:
            for u, (kind, share) in (
                clients[v].reveal(session, keys, u3set, dropped).items()
            ):
                if tamper is not None:
                    value = tamper("reveal", u, v, int.from_bytes(share, "big"))
                    try:
                        share = value.to_bytes(_SB, "big")
                    except OverflowError:
                        continue  # cannot be a share: rejected
                header = struct.pack(">II", u, v)
                expected = commits[u].get(v)
                index = 0 if kind == "s" else 1
                if expected is None or expected[index] != _commit(
                    session, header, kind.encode(), share
                ):
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

        def secret(u):
            first = list(got[u].items())[:t]
            return _shamir.reconstruct({x: int.from_bytes(b, "big") for x, b in first})

        for u in u3:  # remove self masks
            total -= _prg(secret(u), size)
        for u in dropped:  # remove the pairwise masks dropouts left in others
            s_key = X25519PrivateKey.from_private_bytes(secret(u))
            for v in graph[u]:
                if v in u3set:
                    mask = _prg(pairwise_seed(s_key, keys[v][1], session), size)
                    # v added +mask if u > v and -mask if u < v.
                    if u > v:
                        total -= mask
                    else:
                        total += mask
        self.survivors_ = u3
        return dequantize(total, self.fractional_bits)

    def error_bound(self, n_clients: int) -> float:
        """Max absolute error per coordinate of the sum from fixed-point rounding."""
        return n_clients * 2.0 ** -(self.fractional_bits + 1)
