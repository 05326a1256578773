"""API key format and hashing.

A key is `gih_live_` + 32 random alphanumerics (~190 bits). Because it is
high-entropy, a fast keyed digest (HMAC-SHA256 with a server-side pepper) is
as safe as a slow password hash and costs microseconds per request instead of
~100 ms. The first characters after the marker are a non-secret lookup prefix.
"""

import hashlib
import hmac
import secrets
import string

from django.conf import settings

KEY_PREFIX = "gih_live_"
SECRET_LENGTH = 32
LOOKUP_PREFIX_LENGTH = 8
_ALPHABET = string.ascii_letters + string.digits


def generate_raw_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def key_digest(raw_key: str) -> str:
    return hmac.new(settings.API_KEY_PEPPER.encode(), raw_key.encode(), hashlib.sha256).hexdigest()


def lookup_prefix(raw_key: str) -> str | None:
    """The lookup prefix of a well-formed key, or None if it cannot be one of ours."""
    if not raw_key.startswith(KEY_PREFIX):
        return None
    secret = raw_key[len(KEY_PREFIX) :]
    if len(secret) != SECRET_LENGTH or not all(c in _ALPHABET for c in secret):
        return None
    return secret[:LOOKUP_PREFIX_LENGTH]


def digests_match(raw_key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(key_digest(raw_key), stored_digest)
