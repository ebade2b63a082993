"""Encrypted (CKKS) linear inference: HEModel against plaintext scoring and per-row HE.

For breast_cancer (30 features, logistic regression) and digits (64 features,
10 classes), one batch of 4,096 rows (the dataset's rows repeated): client
encryption, server scoring on ciphertexts, client decryption, end-to-end rows
per second and latency per batch, ciphertext bytes per row (sent and
returned), and the largest score error. Peers measured in the same run:
scikit-learn's plaintext ``decision_function``, and the per-row TenSEAL
pattern of its tutorials (one ciphertext per row, ``enc_x.dot(w)`` with
Galois keys; timed on 256 rows). Concrete-ML (TFHE) is not installed here;
its documentation reports its linear models in milliseconds per row.
Target: >= 500 rows/s end to end for breast_cancer on 2 cores.

    flock /tmp/skpriv-bench.lock python benchmarks/he_inference.py
"""

import os
import platform
import time

import numpy as np
import tenseal as ts
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from skpriv.encryption import EncryptedRows, HEModel

BATCH = 4096


def timed(func, *args):
    start = time.perf_counter()
    out = func(*args)
    return out, time.perf_counter() - start


def per_row_peer(model, X, n=256):
    """One ciphertext per row and a rotation-based dot product (TenSEAL tutorial)."""
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    ctx.global_scale = 2**40
    ctx.generate_galois_keys()
    coef = np.atleast_2d(model.coef_)
    start = time.perf_counter()
    for row in X[:n]:
        enc = ts.ckks_vector(ctx, row)
        scores = [
            enc.dot(w) + float(b) for w, b in zip(coef, np.atleast_1d(model.intercept_))
        ]
        [s.decrypt() for s in scores]
    elapsed = time.perf_counter() - start
    size = len(ts.ckks_vector(ctx, X[0]).serialize())
    return n / elapsed, size


def main():
    print(
        f"# {time.strftime('%Y-%m-%d')} {platform.machine()}, {os.cpu_count()} cores "
        f"(shared machine: timings as measured), tenseal {ts.__version__}"
    )
    print(
        "| data | method | rows/s end to end | batch latency s (enc / score / dec) | bytes/row sent | bytes/row back | max abs error |"
    )
    print("|---|---|---:|---|---:|---:|---:|")
    context = HEModel.make_context()
    for name, loader in [
        ("breast_cancer", load_breast_cancer),
        ("digits", load_digits),
    ]:
        X, y = loader(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        model = LogisticRegression(max_iter=1000).fit(X, y)
        rows = X[np.arange(BATCH) % len(X)]
        plain, t_plain = timed(model.decision_function, rows)
        he = HEModel(model)
        he.encrypt(rows[:10], context)  # checks the model once (cached)
        enc, t_enc = timed(he.encrypt, rows, context)
        wire = enc.serialize()
        answer, t_score = timed(
            he.decision_function_encrypted, EncryptedRows.from_bytes(wire)
        )
        back = answer.serialize()
        scores, t_dec = timed(he.decrypt, back, context)
        total = t_enc + t_score + t_dec
        err = np.abs(scores - plain).max()
        print(
            f"| {name} | skpriv HEModel | {BATCH / total:,.0f} | {total:.2f} ({t_enc:.2f} / {t_score:.2f} / {t_dec:.2f}) | {len(wire) / BATCH:,.0f} | {len(back) / BATCH:,.0f} | {err:.1e} |"
        )
        print(
            f"| {name} | plaintext scikit-learn | {BATCH / t_plain:,.0f} | {t_plain:.4f} | {X.shape[1] * 8} | {np.atleast_2d(model.coef_).shape[0] * 8} | 0 |"
        )
        rate, size = per_row_peer(model, rows)
        print(
            f"| {name} | TenSEAL per-row dot (tutorial) | {rate:,.0f} | {BATCH / rate:.2f} | {size:,} | - | - |"
        )
        print(
            f"| {name} | ratio HEModel / per-row | {BATCH / total / rate:.1f}x | | {len(wire) / BATCH / size:.3f}x | | |"
        )


if __name__ == "__main__":
    main()
