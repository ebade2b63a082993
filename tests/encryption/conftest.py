import base64

import pytest

from skpriv.encryption import Key

#: A key whose bytes are easy to search for in outputs.
CANARY = (b"KEYCANARY" * 4)[:32]
CANARY_TEXT = base64.urlsafe_b64encode(CANARY).decode("ascii")
CANARY_MARKERS = (CANARY, CANARY_TEXT.encode(), CANARY[:12], CANARY_TEXT[:16].encode())


def assert_no_canary(data):
    """``data`` (str or bytes) holds no trace of the canary key."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    for marker in CANARY_MARKERS:
        assert marker not in data, f"canary key material {marker!r} leaked"


@pytest.fixture
def canary_env(monkeypatch):
    monkeypatch.setenv("SKPRIV_TEST_CANARY", CANARY_TEXT)
    return Key.from_env("SKPRIV_TEST_CANARY")


@pytest.fixture
def canary_file(tmp_path):
    path = tmp_path / "canary.key"
    path.write_text(CANARY_TEXT + "\n")
    path.chmod(0o600)
    return Key.from_file(path)
