"""Signing secrets: `whsec_` + base64 of 32 random bytes, shown once, stored encrypted.

Stored with Fernet under a key derived from WEBHOOK_SECRET_KEY (default: SECRET_KEY), so the
database alone never yields a secret; only the hub, which signs with them, can recover one.
"""

import base64
import hashlib
import secrets
from datetime import datetime
from functools import cache

from cryptography.fernet import Fernet
from django.conf import settings
from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@cache
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(b"gih-webhook-secrets:" + key_material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def secret_encrypt(secret: str) -> str:
    return _fernet(settings.WEBHOOK_SECRET_KEY).encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    return _fernet(settings.WEBHOOK_SECRET_KEY).decrypt(token.encode()).decode()


def signature_header(secrets_in_use: list[str], *, msg_id: str, timestamp: datetime, body: bytes) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret in use, space-separated (Standard Webhooks)."""
    return " ".join(Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in secrets_in_use)
