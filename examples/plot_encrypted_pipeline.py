"""
==========================================
Encrypting a fitted pipeline at rest
==========================================

A fitted model is a summary of its training data, and model files get copied:
to model stores, caches, laptops. This example keeps a fitted pipeline
encrypted:

- :class:`~skpriv.encryption.EncryptedEstimator` holds the fitted pipeline
  only as authenticated ciphertext and decrypts it transiently to predict;
- :func:`~skpriv.encryption.dump` and :func:`~skpriv.encryption.load` write and
  read an encrypted model file, verifying it before anything is deserialized,
  so a tampered file or a wrong key raises
  :class:`~skpriv.exceptions.DecryptionError`.

Encryption protects the file, not what the model reveals through its
predictions: combine it with a differentially private model for both.
"""

# %%
# A key from the environment
# --------------------------
# In production the key is provisioned outside the code; here we put a fresh
# one in the environment to show the pattern. The key never prints, and a key
# read from the environment pickles as a reference to the variable, never as
# its bytes.
import os
import pickle
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skpriv.encryption import EncryptedEstimator, Key, dump, load
from skpriv.exceptions import DecryptionError

os.environ["SKPRIV_KEY"] = Key.generate().export()
key = Key.from_env("SKPRIV_KEY")
print(key)

# %%
# An encrypted estimator
# ----------------------
X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
pipe = make_pipeline(StandardScaler(), LogisticRegression())

model = EncryptedEstimator(pipe, key).fit(X_train, y_train)
print(f"accuracy: {model.score(X_test, y_test):.3f}")
print("fitted attributes:", sorted(k for k in vars(model) if k.endswith("_")))

# %%
# The pickle of the fitted ``EncryptedEstimator`` holds neither the model's
# parameters nor the key: search it for the bytes of the first coefficient.
plain = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train)
coef_bytes = plain[-1].coef_.tobytes()[:16]
print("coefficients in the plain pickle:    ", coef_bytes in pickle.dumps(plain))
print("coefficients in the encrypted pickle:", coef_bytes in pickle.dumps(model))
print(
    "key in the encrypted pickle:         ",
    key.export().encode() in pickle.dumps(model),
)

# %%
# Encrypted model files
# ---------------------
# :func:`~skpriv.encryption.dump` serializes with skops by default, so that
# :func:`~skpriv.encryption.load` never runs code from the file.
workdir = Path(tempfile.mkdtemp())
path = workdir / "model.skpriv"
dump(plain, path, key)
restored = load(path, key)
print(
    "same predictions after load:",
    (restored.predict(X_test) == plain.predict(X_test)).all(),
)

# %%
# Flipping one byte, or using another key, fails before deserialization.
tampered = workdir / "tampered.skpriv"
data = bytearray(path.read_bytes())
data[len(data) // 2] ^= 0x01
tampered.write_bytes(bytes(data))
for label, file, k in [
    ("tampered file", tampered, key),
    ("wrong key", path, Key.generate()),
]:
    try:
        load(file, k)
    except DecryptionError as exc:
        print(f"{label}: DecryptionError: {exc}")


# %%
# What it costs
# -------------
# Each ``predict`` of an ``EncryptedEstimator`` decrypts and deserializes the
# model: a fixed cost per call, small next to most pipelines' work on a batch.
def per_call(estimator, repeats=50):
    start = time.perf_counter()
    for _ in range(repeats):
        estimator.predict(X_test)
    return (time.perf_counter() - start) / repeats * 1e3


timings = {"plain pipeline": per_call(plain), "EncryptedEstimator": per_call(model)}
fig, ax = plt.subplots(figsize=(5, 3))
ax.barh(list(timings), list(timings.values()), color=["C0", "C2"])
ax.set_xlabel(f"milliseconds per predict of {len(X_test)} rows")
ax.set_title("Prediction latency", fontsize=11)
plt.tight_layout()
for name, ms in timings.items():
    print(f"{name:<20} {ms:.2f} ms")
