"""Secure aggregation (Bonawitz et al. 2017, with SecAgg+ neighbourhoods).

The server learns the sum of the clients' vectors and nothing else about any
single vector: each client adds pairwise masks, agreed with its neighbours
(X25519 key agreement, HKDF, AES-CTR), that cancel in the sum over the ring
of integers modulo 2**64, plus a fresh self mask. Each round a client
Shamir-shares two fresh secrets among its neighbours: its self-mask seed and
a recovery key under which it deposits, encrypted with the server, that
round's pairwise mask seeds. The server rebuilds the self-mask seed of a
survivor and the recovery key of a dropout (whose seeds then remove the
masks it left in its neighbours' inputs), as long as at least ``threshold``
neighbours of every client survive; otherwise it aborts and releases nothing.

Shares travel encrypted and authenticated (ChaCha20-Poly1305 under a key
agreed between dealer and recipient) and each share is committed to by its
own hash, so a share tampered with in transit or when revealed is rejected.
A surviving client reveals, per dealer, only the share the server needs (the
self-mask share of a survivor, the recovery-key share of a dropout) -- never
both, so the server cannot rebuild both secrets of any client.

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
    "FixedPointOverflowError",
    "SecureAggregationError",
    "SecureAggregator",
    "dequantize",
    "fixed_point_sum",
    "quantize",
]

STAGES = ("advertise_keys", "share_keys", "masked_input", "unmask")


class SecureAggregationError(RuntimeError):
    """Secure aggregation aborted: too few clients survived; nothing released."""


class FixedPointOverflowError(ValueError):
    """A value is too large for the fixed-point ring of secure aggregation."""


def quantize(x: np.ndarray, fractional_bits: int, n_summands: int = 1) -> np.ndarray:
    """Fixed-point encoding of floats into the ring Z / 2**64 (two's complement).

    Every value must satisfy ``|x| * 2**fractional_bits < 2**62 / n_summands``,
    so that the sum of ``n_summands`` encodings never wraps around the ring
    (a wrapped sum would decode to a wrong value without any sign of it).
    The error names the bound, never the value, which is private.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("secure aggregation got a non-finite value to encode.")
    scaled = np.rint(x * 2.0**fractional_bits)
    n = max(1, int(n_summands))
    if scaled.size and np.max(np.abs(scaled)) >= 2.0**62 / n:
        limit = 2.0 ** (62 - fractional_bits) / n
        raise FixedPointOverflowError(
            f"a value to encode is outside the fixed-point range of secure "
            f"aggregation: with {fractional_bits} fractional bits and {n} "
            f"summands every value must stay below {limit:.3g} in magnitude so "
            f"that their sum cannot wrap around the 64-bit ring. Bound the "
            f"updates (clip_norm), rescale the data (e.g. the target of a "
            f"regressor), or lower fractional_bits."
        )
    return scaled.astype(np.int64).view(np.uint64)


def dequantize(q: np.ndarray, fractional_bits: int) -> np.ndarray:
    """Inverse of :func:`quantize` for a (summed) ring element."""
    return q.view(np.int64).astype(np.float64) / 2.0**fractional_bits


def fixed_point_sum(vectors: np.ndarray, fractional_bits: int) -> np.ndarray:
    """The sum of ``vectors``' rows computed as secure aggregation computes it.

    Each row is encoded with :func:`quantize` and the encodings are added in
    the ring, exactly; this is the value the masked protocol returns, so a
    federation that aggregates with it in the clear gets bit for bit the same
    model as with secure aggregation on. Raises :class:`FixedPointOverflowError`
    where the protocol would.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    q = quantize(vectors, fractional_bits, n_summands=vectors.shape[0])
    return dequantize(q.sum(axis=0, dtype=np.uint64), fractional_bits)


_ZERO_SALT = bytes(32)


def _kdf(secret: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) with no salt and a 32-byte output.

    Written out with :func:`hmac.digest` (extract, then one expand block):
    the same function as ``cryptography``'s ``HKDF(SHA256(), 32, None, info)``,
    without constructing an HKDF object per key.
    """
    return _expand(_extract(secret), info)


def _extract(secret: bytes) -> bytes:
    """HKDF-Extract with no salt (a zero salt of the hash length)."""
    return hmac.digest(_ZERO_SALT, secret, "sha256")


def _expand(prk: bytes, info: bytes) -> bytes:
    """HKDF-Expand to one 32-byte block."""
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
    """One client's state in one round (held by the client, not the server).

    ``cid`` is the client's position in the round (its share point is
    ``cid + 1``), ``rid`` its id across rounds. ``key`` is its long-term
    X25519 key (see SecureAggregator): never shared or revealed. The
    recovery key, the self-mask seed and the freshness nonce are new every
    round.
    """

    def __init__(self, cid: int, rid, key, shared: dict):
        self.cid, self.rid = cid, rid
        # Simulation shortcuts, documented in SecureAggregator: both ends of a
        # pair derive the same keys and the same pairwise mask, so each is
        # computed once per pair and shared (real clients each compute their
        # own, in parallel); public keys are parsed once. The server never
        # reads ``shared``.
        self.shared = shared
        self.key = key
        self.recovery_key = os.urandom(32)  # encrypts this round's mask seeds
        self.self_seed = os.urandom(32)
        self.nonce = os.urandom(16)  # makes the round's pair keys fresh
        self.received = {}  # dealer -> ciphertext

    def advertise(self):
        """Stage 0: the long-term public key and this round's nonce."""
        return self.shared["pub_raw"][self.rid], self.nonce

    def _pair_keys(self, session, keys, peer):
        """This round's (channel key, mask seed) with ``peer``.

        HKDF-Expand of the pair's long-term secret (X25519, extracted once
        per pair) with the server's session id and both clients' fresh
        nonces: new in every round, even if the server reused a session id.
        """
        u = self.cid
        pair = (u, peer) if u < peer else (peer, u)
        cache = self.shared["pair"]
        out = cache.get(pair)
        if out is None:
            rids = self.shared["rids"]
            a, b = self.rid, rids[peer]
            rpair = (a, b) if a < b else (b, a)
            prk = self.shared["prk"].get(rpair)
            if prk is None:  # once per pair for the aggregator's life
                pub = self.shared["pub"].get(b)
                if pub is None:
                    pub = X25519PublicKey.from_public_bytes(keys[peer][0])
                    self.shared["pub"][b] = pub
                prk = _extract(self.key.exchange(pub))
                self.shared["prk"][rpair] = prk
            context = session + keys[pair[0]][1] + keys[pair[1]][1]
            out = (
                ChaCha20Poly1305(_expand(prk, b"skpriv-secagg-enc" + context)),
                _expand(prk, b"skpriv-secagg-mask" + context),
            )
            cache[pair] = out
        return out

    def share_keys(self, session, keys, neighbours, threshold):
        """Stage 1: Shamir-share the recovery key and the self-mask seed (one
        encrypted pair of shares per neighbour), and deposit this round's
        pairwise mask seeds encrypted under the recovery key."""
        xs = [v + 1 for v in neighbours]
        shares_r, shares_b = _shamir.split_many(
            [self.recovery_key, self.self_seed], xs, threshold
        )
        vault = AESGCM(self.recovery_key)
        out, commits, deposits = {}, {}, {}
        pairs, u = self.shared["pair"], self.cid
        for v in neighbours:
            sr = shares_r[v + 1].to_bytes(_SB, "big")
            sb = shares_b[v + 1].to_bytes(_SB, "big")
            header = struct.pack(">II", self.cid, v)
            # Each (channel key, nonce) is used once: the key is this round's.
            nonce = header + b"\x00\x00\x00\x00"
            channel, seed = pairs[(u, v) if u < v else (v, u)]
            out[v] = nonce + channel.encrypt(nonce, header + sr + sb, session + header)
            commits[v] = (
                _commit(session, header, b"s", sr),
                _commit(session, header, b"b", sb),
            )
            deposits[v] = vault.encrypt(nonce, seed, session + header)
        return out, commits, deposits

    def mask(self, session, keys, peers, size):
        """``PRG(b) + sum_{v > u} PRG(s_uv) - sum_{v < u} PRG(s_uv)`` mod 2**64.

        It depends on the keys and the live neighbours only, not on the input,
        so a client computes it before its input is ready (while it trains).
        """
        y = _prg(self.self_seed, size).copy()
        masks, u = self.shared["s"], self.cid
        for v in peers:
            pair = (u, v) if u < v else (v, u)
            mask = masks.pop(pair, None)
            if mask is None:
                mask = _prg(self.shared["pair"][pair][1], size)
                masks[pair] = mask
            if v > u:
                y += mask
            else:
                y -= mask
        return y

    def reveal(self, session, keys, survivors, dropped):
        """Decrypt received shares; reveal the b-share of a survivor, the
        recovery-key share of a dropout -- never both shares of one dealer."""
        revealed = {}
        pairs, me = self.shared["pair"], self.cid
        for u, blob in self.received.items():
            if u not in survivors and u not in dropped:
                continue
            nonce, ct = blob[:12], blob[12:]
            header = struct.pack(">II", u, self.cid)
            try:
                plain = pairs[(u, me) if u < me else (me, u)][0].decrypt(
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
        vectors is exact up to ``n * 2**-(fractional_bits + 1)``. Each of the
        ``n`` vectors must stay below ``2**(62 - fractional_bits) / n`` in
        magnitude, so that the sum cannot wrap around the ring; a larger
        value raises :class:`FixedPointOverflowError` (it is never wrapped).
    min_clients : int, default=3
        The protocol aborts when fewer clients are left at any stage.
    random_state : numpy.random.Generator, default=None
        Chooses the neighbourhood graph (public). Keys and masks always come
        from the operating system's entropy.

    Notes
    -----
    Keys. A client draws one long-term X25519 key the first time it takes
    part and keeps it for the life of the aggregator (one federated fit);
    each pair of neighbours agrees on a secret once (X25519, HKDF-Extract).
    Every round, each pair derives that round's channel key and pairwise
    mask seed from it with HKDF-Expand over the server's session id and a
    fresh random nonce from each of the two clients, so round keys never
    repeat, even under a server that replays session ids. Each client also
    draws, every round, a self-mask seed ``b`` and a recovery key ``r``; it
    Shamir-shares both among its neighbours and deposits with the server its
    round's pairwise mask seeds encrypted under ``r`` (AES-GCM). For a
    dropout the server rebuilds ``r`` and decrypts that round's seeds; for a
    survivor it rebuilds ``b``. This is Bonawitz et al.'s double masking with
    one change: they share an ephemeral mask *key* per round (a fresh X25519
    key pair and an agreement with every neighbour each round); sharing a
    per-round recovery key for per-round seeds reveals the same thing on a
    dropout (that client's masks of that round, nothing of other rounds,
    since the long-term key and pair secrets are never shared or revealed)
    without any per-round key agreement. What it costs is forward secrecy
    within a fit: an attacker who takes a client's device during the fit and
    holds the server's transcripts can rebuild that client's earlier masks
    of the fit and so its earlier updates (which it could mostly recompute
    from the device's data anyway). Long-term keys are never pickled.

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

    Stages 0 and 1 and each client's mask do not depend on the inputs, so
    :meth:`start` runs them before the inputs exist (real clients can do this
    while they train).
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

    def _long_term(self):
        """The clients' long-term keys and pair secrets (client-side state)."""
        lt = self.__dict__.get("_lt")
        if lt is None:
            lt = self._lt = {"key": {}, "pub_raw": {}, "pub": {}, "prk": {}}
        return lt

    def __getstate__(self):
        # The clients' long-term keys are never pickled.
        state = dict(self.__dict__)
        state.pop("_lt", None)
        return state

    def _cached_graph(self, n: int) -> list[list[int]]:
        """:meth:`_graph`, built once per size (it is public and fixed)."""
        cache = self.__dict__.setdefault("_graphs", {})
        if n not in cache:
            cache[n] = self._graph(n)
        return cache[n]

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

    def aggregate(
        self, vectors, *, ids=None, dropouts=None, tamper=None, keep_masked=False
    ):
        """The sum of ``vectors`` (one per client), computed on masked inputs.

        Parameters
        ----------
        vectors : array-like of shape (n_clients, n_params)
        ids : sequence of int, default=None
            The clients' ids, see :meth:`start`.
        dropouts : dict, default=None
            ``{stage: set of client indices}`` that drop out at (before
            completing) that stage; stages are ``STAGES``. For testing.
        tamper : callable, default=None
            ``tamper(kind, dealer, holder, payload) -> payload`` applied to
            shares in transit (``kind="transit"``, payload bytes), to the
            encrypted mask seeds deposited with the server (``kind="deposit"``,
            ``holder`` the seed's other client, payload bytes) and to shares
            when revealed (``kind="reveal"``, payload the share int). For
            testing.
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
        if vectors.ndim != 2:
            raise ValueError(
                f"vectors must be 2-d (n_clients, n_params); got shape {vectors.shape}."
            )
        n, size = vectors.shape
        return self.start(n, size, ids=ids, dropouts=dropouts, tamper=tamper).finish(
            vectors, keep_masked=keep_masked
        )

    def start(
        self,
        n_clients,
        size,
        *,
        ids=None,
        session=None,
        dropouts=None,
        tamper=None,
    ):
        """Run the input-independent part of the protocol for one aggregation.

        Key advertisement, key sharing and each client's mask (stages 0 and
        1, and the masks of stage 2) do not depend on the clients' inputs, so
        a client does them while it trains; :meth:`aggregate` is
        ``start(...).finish(vectors)``.

        Parameters
        ----------
        n_clients : int
        size : int
            Length of each client's vector.
        ids : sequence of int, default=None
            The participants' client ids (``range(n_clients)`` by default):
            a client keeps its long-term key across rounds by id.
        session : bytes of length 16, default=None
            The round's session id, chosen by the server (fresh random by
            default). Round keys stay fresh even if it repeats, because each
            client adds its own random nonce.
        dropouts, tamper
            As in :meth:`aggregate`.

        Returns
        -------
        round : object
            Its ``finish(vectors, keep_masked=False)`` returns the sum (as
            :meth:`aggregate`); ``discard()`` abandons the round.
        """
        return _Round(self, n_clients, size, dropouts, tamper, ids, session)

    def error_bound(self, n_clients: int) -> float:
        """Max absolute error per coordinate of the sum from fixed-point rounding."""
        return n_clients * 2.0 ** -(self.fractional_bits + 1)


class _Round:
    """One run of the protocol over in-process clients (see SecureAggregator)."""

    def __init__(self, agg, n, size, dropouts, tamper, ids=None, session=None):
        dropouts = {k: set(v) for k, v in (dropouts or {}).items()}
        unknown = set(dropouts) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; use {STAGES}.")
        self.agg, self.n, self.size = agg, n, size
        self.dropouts, self.tamper = dropouts, tamper
        agg._check(range(n), "start", n)
        if session is None:
            session = os.urandom(16)
        if not isinstance(session, bytes) or len(session) != 16:
            raise ValueError(f"session must be 16 bytes; got {session!r}.")
        self.session = session
        rids = list(range(n)) if ids is None else [int(i) for i in ids]
        if len(rids) != n or len(set(rids)) != n:
            raise ValueError(f"ids must be {n} distinct client ids; got {ids!r}.")
        lt = agg._long_term()
        for rid in rids:  # a client's long-term key, made when it first joins
            if rid not in lt["key"]:
                key = X25519PrivateKey.generate()
                lt["key"][rid] = key
                lt["pub_raw"][rid] = key.public_key().public_bytes_raw()
        shared = {"pair": {}, "s": {}, "rids": rids, **lt}
        self.clients = clients = [
            _Client(i, rid, lt["key"][rid], shared) for i, rid in enumerate(rids)
        ]
        self.graph = graph = agg._cached_graph(n)
        agg.graph_ = graph
        k = min(len(g) for g in graph)
        t = int(math.floor(agg.threshold * k)) + 1
        self.t = t = max(2, min(t, k))
        agg.share_threshold_ = t

        # Stage 0: advertise keys.
        u1 = [i for i in range(n) if i not in dropouts.get("advertise_keys", ())]
        agg._check(u1, "advertise_keys", n)
        self.keys = keys = {i: clients[i].advertise() for i in u1}
        # Every pair of live neighbours derives its round keys (computed once
        # per pair here, for both ends; see the Notes of SecureAggregator).
        for i in u1:
            for v in graph[i]:
                if v > i and v in keys:
                    clients[i]._pair_keys(session, keys, v)

        # Stage 1: share keys (each client shares among its neighbours in U1).
        u2, self.commits, self.deposits = [], {}, {}
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
            out, com, dep = clients[i].share_keys(session, keys, nbrs, t)
            if tamper is not None:
                dep = {v: tamper("deposit", i, v, blob) for v, blob in dep.items()}
            self.commits[i], self.deposits[i] = com, dep
            for v, blob in out.items():
                if tamper is not None:
                    blob = tamper("transit", i, v, blob)
                clients[v].received[i] = blob
            u2.append(i)
        agg._check(u2, "share_keys", n)
        self.u2 = u2
        u2set = set(u2)

        # Stage 2, input-independent part: every client's mask (pairwise masks
        # with its neighbours in U2, plus its self mask).
        self.masks = {
            i: clients[i].mask(session, keys, [v for v in graph[i] if v in u2set], size)
            for i in u2
        }

    def discard(self):
        self.clients = self.masks = None

    def finish(self, vectors, keep_masked=False):
        """Stages 2 (masked inputs) and 3 (unmasking); the dequantized sum."""
        if self.clients is None:
            raise RuntimeError("this secure-aggregation round has already finished.")
        agg, n, size, session = self.agg, self.n, self.size, self.session
        clients, keys, graph, t = self.clients, self.keys, self.graph, self.t
        dropouts, tamper, commits, u2 = (
            self.dropouts,
            self.tamper,
            self.commits,
            self.u2,
        )
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.shape != (n, size):
            raise ValueError(
                f"expected vectors of shape {(n, size)} for this round; got "
                f"{vectors.shape}."
            )
        # Each client quantizes its own vector; element-wise, so done for all
        # rows at once here.
        # Bounded by the number of summands: the sum itself must not wrap.
        q = quantize(vectors, agg.fractional_bits, n_summands=n)
        u2set = set(u2)

        # Stage 2: masked inputs.
        u3, total = [], np.zeros(size, dtype=np.uint64)
        agg.masked_inputs_ = {}
        drop2 = dropouts.get("masked_input", ())
        for i in u2:
            if i in drop2:
                continue
            masked = q[i] + self.masks[i]
            if keep_masked:
                agg.masked_inputs_[i] = masked
            total += masked
            u3.append(i)
        agg._check(u3, "masked_input", n)
        u3set = set(u3)
        dropped = u2set - u3set

        # Stage 3: unmasking. Survivors reveal one share per dealer; the server
        # checks each against the dealer's commitment to that share.
        u4 = [i for i in u3 if i not in dropouts.get("unmask", ())]
        agg._check(u4, "unmask", n)
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
        self.discard()
        agg.rejected_ = {u: len(commits[u]) - len(got[u]) for u in u2}
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
            vault = AESGCM(secret(u))
            for v in graph[u]:
                if v not in u3set:
                    continue
                header = struct.pack(">II", u, v)
                try:
                    seed = vault.decrypt(
                        header + b"\x00\x00\x00\x00",
                        self.deposits[u][v],
                        session + header,
                    )
                except InvalidTag:
                    raise SecureAggregationError(
                        f"secure aggregation aborted at stage 'unmask': client "
                        f"{u}'s deposited mask seed for client {v} failed "
                        f"authentication; no aggregate was released."
                    ) from None
                mask = _prg(seed, size)
                # v added +mask if u > v and -mask if u < v.
                if u > v:
                    total -= mask
                else:
                    total += mask
        agg.survivors_ = u3
        return dequantize(total, agg.fractional_bits)
