"""Opaque, unguessable public ids (`gen_…`, `img_…`): never sequential integers."""

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits


def _random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_generation_id() -> str:
    return _random_id("gen_")


def new_image_id() -> str:
    return _random_id("img_")
