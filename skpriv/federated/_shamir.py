"""Shamir threshold secret sharing over the prime field GF(2^521 - 1)."""

import functools
import os

__all__ = ["PRIME", "SHARE_BYTES", "reconstruct", "split", "split_many"]

#: A Mersenne prime larger than every 32-byte secret.
PRIME = 2**521 - 1
SHARE_BYTES = 66


def _random_elements(count: int) -> list[int]:
    """``count`` uniform elements of GF(PRIME) from the OS entropy, in one read.

    A 521-bit draw is uniform on [0, 2**521); the one value outside the field
    (PRIME itself) is rejected and drawn again.
    """
    raw = os.urandom(SHARE_BYTES * count)
    out = []
    for i in range(count):
        c = int.from_bytes(raw[SHARE_BYTES * i : SHARE_BYTES * (i + 1)], "big") & PRIME
        while c == PRIME:
            c = int.from_bytes(os.urandom(SHARE_BYTES), "big") & PRIME
        out.append(c)
    return out


def split(secret: bytes, xs: list[int], threshold: int) -> dict[int, int]:
    """Shares ``{x: f(x)}`` of ``secret`` with a random polynomial of degree t-1.

    Any ``threshold`` shares reconstruct the secret; fewer reveal nothing
    about it. ``xs`` are distinct non-zero evaluation points.
    """
    return split_many([secret], xs, threshold)[0]


def split_many(
    secrets: list[bytes], xs: list[int], threshold: int
) -> list[dict[int, int]]:
    """:func:`split` of several secrets over the same points, each with its own
    independent random polynomial.

    The polynomials are evaluated together: their coefficients are packed
    side by side into one integer, in lanes wide enough that Horner's rule
    without modular reduction (``xs`` are small) never carries from one lane
    into the next, so one pass of big-integer arithmetic serves all secrets.
    """
    if not 1 <= threshold <= len(xs):
        raise ValueError(
            f"threshold must lie in [1, {len(xs)}] (the number of shares); "
            f"got {threshold}."
        )
    if len(set(xs)) != len(xs) or any(x <= 0 or x >= PRIME for x in xs):
        raise ValueError("share points must be distinct and in [1, PRIME).")
    m = len(secrets)
    # Each lane's value stays below PRIME * sum_j x**j < 2**(521 + t*bits(x) + 1).
    width = 522 + threshold * max(xs).bit_length()
    rand = _random_elements(m * (threshold - 1))
    # Highest degree first, for Horner; the secret is the constant term.
    packed = []
    for d in range(threshold - 1):
        c = 0
        for k in range(m):
            c |= rand[k * (threshold - 1) + d] << (k * width)
        packed.append(c)
    c = 0
    for k, secret in enumerate(secrets):
        c |= int.from_bytes(secret, "big") << (k * width)
    packed.append(c)
    lane = (1 << width) - 1
    out = [{} for _ in range(m)]
    for x in xs:
        acc = 0
        for c in packed:
            acc = acc * x + c
        for k in range(m):
            out[k][x] = ((acc >> (k * width)) & lane) % PRIME
    return out


@functools.lru_cache(maxsize=4096)
def _lagrange_at_zero(xs: tuple[int, ...]) -> tuple[int, ...]:
    """Coefficients ``l_i`` with ``f(0) = sum_i l_i f(x_i)`` mod PRIME.

    They depend only on the (public) evaluation points, so they are cached:
    with a fixed neighbourhood graph the same sets recur round after round.
    ``l_i = prod_{j != i} x_j / (x_j - x_i)``; the denominators are inverted
    together (one modular inverse, Montgomery's trick).
    """
    full = 1
    for x in xs:
        full *= x
    dens = []
    for i in xs:
        d = 1
        for j in xs:
            if j != i:
                d *= j - i
        dens.append(d % PRIME)
    prefix, acc = [], 1
    for d in dens:
        prefix.append(acc)
        acc = acc * d % PRIME
    inv = pow(acc, -1, PRIME)
    out = [0] * len(xs)
    for k in range(len(xs) - 1, -1, -1):
        out[k] = (full // xs[k]) * (inv * prefix[k] % PRIME) % PRIME
        inv = inv * dens[k] % PRIME
    return tuple(out)


def reconstruct(shares: dict[int, int], n_bytes: int = 32) -> bytes:
    """The secret from ``{x: f(x)}`` (at least ``threshold`` shares) by Lagrange."""
    coeffs = _lagrange_at_zero(tuple(shares))
    secret = sum(y * c for y, c in zip(shares.values(), coeffs)) % PRIME
    if secret >= 1 << (8 * n_bytes):
        raise ValueError("shares are inconsistent: the reconstructed value is too big.")
    return secret.to_bytes(n_bytes, "big")
