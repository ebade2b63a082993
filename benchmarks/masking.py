"""Throughput of Masker and ColumnEncryptor against plain per-value Python loops.

Rows per second on N string values (default 1,000,000 distinct e-mail-like
strings, and the same number drawn from N/10 distinct ones) for every Masker
strategy and for ColumnEncryptor (both modes,
transform and inverse_transform), single process and with ``n_jobs`` worker
processes. The baselines are what one writes without skpriv: a Python loop
calling ``hmac`` or ``cryptography`` once per value. Both produce the same
kind of output (hex pseudonyms, URL-safe base64 tokens).

    flock /tmp/skpriv-bench.lock python benchmarks/masking.py [--n 1000000]
"""

import argparse
import base64
import hashlib
import hmac
import os
import platform
import time

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from skpriv.encryption import ColumnEncryptor, Key
from skpriv.preprocessing import Masker


def best_time(func, repeat):
    """Best wall-clock and best CPU time (this process) over ``repeat`` runs."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        func()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu


def baselines(values, key_bytes):
    """Per-value Python loops over hmac / cryptography (what skpriv replaces)."""
    siv = AESSIV(key_bytes * 2)
    gcm = AESGCM(key_bytes)

    def hash_loop():
        return [
            hmac.new(key_bytes, v.encode(), hashlib.sha256).hexdigest()[:16]
            for v in values
        ]

    def siv_loop():
        return [
            base64.urlsafe_b64encode(siv.encrypt(v.encode(), [b"ad"])).decode()
            for v in values
        ]

    def gcm_loop():
        out = []
        for v in values:
            nonce = os.urandom(12)
            ct = gcm.encrypt(nonce, v.encode(), b"ad")
            out.append(base64.urlsafe_b64encode(nonce + ct).decode())
        return out

    siv_tokens = siv_loop()
    gcm_tokens = gcm_loop()

    def siv_dec_loop():
        return [
            siv.decrypt(base64.urlsafe_b64decode(t), [b"ad"]).decode()
            for t in siv_tokens
        ]

    def gcm_dec_loop():
        out = []
        for t in gcm_tokens:
            raw = base64.urlsafe_b64decode(t)
            out.append(gcm.decrypt(raw[:12], raw[12:], b"ad").decode())
        return out

    return {
        "hash": hash_loop,
        "encrypt deterministic": siv_loop,
        "encrypt randomized": gcm_loop,
        "decrypt deterministic": siv_dec_loop,
        "decrypt randomized": gcm_dec_loop,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    n, n_jobs, repeat = args.n, args.n_jobs, args.repeat

    rng = np.random.default_rng(0)
    values = [f"user{i:07d}@example.com" for i in rng.permutation(n)]
    X = np.array(values, dtype=object).reshape(-1, 1)
    days = rng.integers(0, 20_000, size=n).astype("datetime64[D]")
    X_dates = days.astype(str).astype(object).reshape(-1, 1)
    X_numbers = rng.normal(40, 12, size=(n, 1))
    key = Key.generate()
    loops = baselines(values, os.urandom(32))

    rows = []  # (what, n_jobs, wall s, CPU s, baseline name or None)

    def measure(label, transform, X_in, jobs, baseline=None):
        # Warm up with enough rows to start the joblib workers (50,000 each).
        transform(X_in[: 50_000 * jobs + 1])
        seconds, cpu = best_time(lambda: transform(X_in), repeat)
        rows.append((label, jobs, seconds, cpu, baseline))

    for strategy, params, X_in in [
        ("redact", {}, X),
        ("replace", {"fill_value": "?"}, X),
        ("partial", {"keep_last": 4}, X),
        ("generalize (ISO dates)", {}, X_dates),
        ("generalize (numbers, 5 bins)", {}, X_numbers),
        ("random", {"p": 0.3, "fill_value": "?"}, X),
    ]:
        name = strategy.split(" ")[0]
        masker = Masker(strategy=name, **params).fit(X_in)
        measure(f"Masker {strategy}", masker.transform, X_in, 1)
    for jobs in (1, n_jobs):
        masker = Masker(strategy="hash", key=key, n_jobs=jobs).fit(X)
        measure("Masker hash (HMAC-SHA256, 16 hex)", masker.transform, X, jobs, "hash")
    # Real ID columns repeat: 1 row in 10 distinct, deterministic kernels
    # then run once per distinct value.
    X_rep = X[rng.integers(0, max(1, n // 10), size=n)]
    masker = Masker(strategy="hash", key=key, n_jobs=n_jobs).fit(X_rep)
    measure("Masker hash, 10% distinct values", masker.transform, X_rep, n_jobs, "hash")
    enc = ColumnEncryptor(key, n_jobs=n_jobs).fit(X_rep)
    measure(
        "ColumnEncryptor transform (AES-SIV), 10% distinct",
        enc.transform,
        X_rep,
        n_jobs,
        "encrypt deterministic",
    )
    measure(
        "ColumnEncryptor inverse_transform (AES-SIV), 10% distinct",
        enc.inverse_transform,
        enc.transform(X_rep),
        n_jobs,
        "decrypt deterministic",
    )
    for deterministic, mode in ((True, "deterministic"), (False, "randomized")):
        for jobs in (1, n_jobs):
            enc = ColumnEncryptor(key, deterministic=deterministic, n_jobs=jobs).fit(X)
            algo = "AES-SIV" if deterministic else "AES-GCM"
            measure(
                f"ColumnEncryptor transform ({algo})",
                enc.transform,
                X,
                jobs,
                f"encrypt {mode}",
            )
            tokens = enc.transform(X)
            measure(
                f"ColumnEncryptor inverse_transform ({algo})",
                enc.inverse_transform,
                tokens,
                jobs,
                f"decrypt {mode}",
            )

    base_seconds = {name: best_time(loop, repeat) for name, loop in loops.items()}

    print(
        f"# n = {n:,} distinct string values, best of {repeat}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n"
    )
    print(
        "| operation | n_jobs | skpriv values/s | per-value loop values/s | ratio "
        "| skpriv values/CPU-s | loop values/CPU-s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, jobs, seconds, cpu, baseline in rows:
        rate = n / seconds
        # CPU time of this process only covers all the work without workers.
        cpu_rate = f"{n / cpu:,.0f}" if jobs == 1 else "n/a"
        if baseline is None:
            print(f"| {label} | {jobs} | {rate:,.0f} | | | {cpu_rate} | |")
        else:
            base, base_cpu = base_seconds[baseline]
            print(
                f"| {label} | {jobs} | {rate:,.0f} | {n / base:,.0f} "
                f"| {base / seconds:.2f}x | {cpu_rate} | {n / base_cpu:,.0f} |"
            )


if __name__ == "__main__":
    main()
