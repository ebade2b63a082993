"""Shamir threshold secret sharing over the prime field GF(2^521 - 1)."""

import secrets

__all__ = ["PRIME", "SHARE_BYTES", "reconstruct", "split"]

#: A Mersenne prime larger than every 32-byte secret.
PRIME = 2**521 - 1
SHARE_BYTES = 66


def split(secret: bytes, xs: list[int], threshold: int) -> dict[int, int]:
    """Shares ``{x: f(x)}`` of ``secret`` with a random polynomial of degree t-1.

    Any ``threshold`` shares reconstruct the secret; fewer reveal nothing
    about it. ``xs`` are distinct non-zero evaluation points.
    """
    if not 1 <= threshold <= len(xs):
        raise ValueError(
            f"threshold must lie in [1, {len(xs)}] (the number of shares); "
            f"got {threshold}."
        )
    if len(set(xs)) != len(xs) or any(x % PRIME == 0 for x in xs):
        raise ValueError("share points must be distinct and non-zero.")
    coeffs = [int.from_bytes(secret, "big")] + [
        secrets.randbelow(PRIME) for _ in range(threshold - 1)
    ]
    shares = {}
    for x in xs:
        acc = 0
        for c in reversed(coeffs):  # Horner
            acc = (acc * x + c) % PRIME
        shares[x] = acc
    return shares


def reconstruct(shares: dict[int, int], n_bytes: int = 32) -> bytes:
    """The secret from ``{x: f(x)}`` (at least ``threshold`` shares) by Lagrange."""
    xs = list(shares)
    secret = 0
    for i in xs:
        num, den = 1, 1
        for j in xs:
            if j != i:
                num = num * (-j) % PRIME
                den = den * (i - j) % PRIME
        secret = (secret + shares[i] * num * pow(den, -1, PRIME)) % PRIME
    if secret >= 1 << (8 * n_bytes):
        raise ValueError("shares are inconsistent: the reconstructed value is too big.")
    return secret.to_bytes(n_bytes, "big")
