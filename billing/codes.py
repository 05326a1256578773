"""Redemption codes: their format, their keyed digest, and making and revoking them.

A code reads `GIH-XXXX-XXXX-XXXX-XXXX`: 16 characters of Crockford's base32 alphabet (no I, L, O
or U, so nothing is misread on a printed card), 80 random bits. The first group is kept in plain
as a display prefix for staff, which still leaves 60 secret bits. The database keeps only an
HMAC-SHA256 of the canonical code, keyed from REDEMPTION_CODE_PEPPER (SECRET_KEY by default): a
leaked table cannot be redeemed, and the digest is a fast exact lookup (the code is high-entropy,
so a slow password hash would buy nothing).
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from billing.models import RedemptionCode

CODE_PREFIX = "GIH"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: 5 bits a character
GROUPS = 4
GROUP_LENGTH = 4
CODE_LENGTH = GROUPS * GROUP_LENGTH
# What people type for the characters the alphabet leaves out.
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
_DIGEST_SALT = "gih.billing.redemption-code"
MAX_CODES_PER_BATCH = 10_000


def generate_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return format_code(body)


def format_code(body: str) -> str:
    groups = [body[i : i + GROUP_LENGTH] for i in range(0, CODE_LENGTH, GROUP_LENGTH)]
    return "-".join([CODE_PREFIX, *groups])


def canonical(raw: str) -> str | None:
    """The code's 16 characters, forgiving case, spaces, dashes and look-alikes; None if it cannot be one."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    text = "".join(raw.upper().split()).replace("-", "")
    if text.startswith(CODE_PREFIX) and len(text) == len(CODE_PREFIX) + CODE_LENGTH:
        text = text[len(CODE_PREFIX) :]
    text = text.translate(_READ_AS)
    if len(text) != CODE_LENGTH or any(char not in ALPHABET for char in text):
        return None
    return text


def code_digest(body: str) -> str:
    return salted_hmac(_DIGEST_SALT, body, secret=settings.REDEMPTION_CODE_PEPPER, algorithm="sha256").hexdigest()


def display_prefix(body: str) -> str:
    return f"{CODE_PREFIX}-{body[:GROUP_LENGTH]}"


@dataclass(frozen=True)
class CodeTerms:
    credits: int
    credit_expiry_days: int | None = None
    valid_until: datetime | None = None
    max_uses: int = 1
    label: str = ""


def redemption_codes_create(*, count: int, terms: CodeTerms, created_by=None) -> list[str]:
    """Make `count` codes with the same terms; returns the raw codes, which are never stored or shown again."""
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        raise ValueError(f"Make between 1 and {MAX_CODES_PER_BATCH} codes at a time.")
    if terms.credits <= 0 or terms.max_uses <= 0:
        raise ValueError("Credits and max uses must be positive.")
    if terms.credit_expiry_days is not None and terms.credit_expiry_days <= 0:
        raise ValueError("Credit expiry must be a positive number of days, or none.")
    if terms.valid_until is not None and terms.valid_until <= timezone.now():
        raise ValueError("A code's validity must end in the future.")
    for _ in range(3):  # a digest clash among 80-bit codes would be astronomically rare; retry the batch
        raw_codes = [generate_code() for _ in range(count)]
        rows = []
        for raw in raw_codes:
            body = canonical(raw)
            rows.append(
                RedemptionCode(
                    prefix=display_prefix(body),
                    digest=code_digest(body),
                    credits=terms.credits,
                    credit_expiry_days=terms.credit_expiry_days,
                    valid_until=terms.valid_until,
                    max_uses=terms.max_uses,
                    label=terms.label,
                    created_by=created_by,
                )
            )
        try:
            with transaction.atomic():
                RedemptionCode.objects.bulk_create(rows, batch_size=1000)
        except IntegrityError:
            continue
        return raw_codes
    raise RuntimeError("Could not make unique redemption codes.")


def redemption_codes_revoke(*, codes) -> int:
    """Revoke codes (a queryset); revoking again keeps the first time. Redeemed credits stay with their users."""
    return codes.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
