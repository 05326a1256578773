"""API key format and hashing.

A key is `gih_live_` (or `gih_test_` for a test key) + 32 random alphanumerics
(~190 bits). Because it is high-entropy, a fast keyed digest (HMAC-SHA256 with a
server-side pepper) is as safe as a slow password hash and costs microseconds per
request instead of ~100 ms. The first characters after the marker are a non-secret
lookup prefix, unique across both modes; the digest covers the marker too, so a
live key's secret behind `gih_test_` does not authenticate.
"""

import hashlib
import hmac
import secrets
import string

from django.conf import settings

KEY_PREFIX = "gih_live_"
TEST_KEY_PREFIX = "gih_test_"
MARKERS = {"live": KEY_PREFIX, "test": TEST_KEY_PREFIX}
SECRET_LENGTH = 32
LOOKUP_PREFIX_LENGTH = 8
_ALPHABET = string.ascii_letters + string.digits


def marker(mode: str) -> str:
    """The start of a key of this mode ("live" or "test")."""
    return MARKERS[mode]


def generate_raw_key(mode: str = "live") -> str:
    return marker(mode) + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def key_digest(raw_key: str) -> str:
    return hmac.new(settings.API_KEY_PEPPER.encode(), raw_key.encode(), hashlib.sha256).hexdigest()


def strip_marker(value: str) -> str:
    """The value without a leading `gih_live_` or `gih_test_`."""
    for start in MARKERS.values():
        if value.startswith(start):
            return value[len(start) :]
    return value


def lookup_prefix(raw_key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None if it cannot be one of ours."""
    secret = strip_marker(raw_key)
    if secret == raw_key or len(secret) != SECRET_LENGTH or not all(c in _ALPHABET for c in secret):
        return None
    return secret[:LOOKUP_PREFIX_LENGTH]


def digests_match(raw_key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(key_digest(raw_key), stored_digest)
