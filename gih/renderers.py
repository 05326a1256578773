"""A DRF renderer for responses that carry images: orjson instead of the json module.

An OpenAI-face answer is megabytes of base64 (`b64_json`); the json module scans and
copies it several times (~3 ms of web CPU per 1024x1024 image), orjson once.
"""

import orjson
from rest_framework.renderers import JSONRenderer


def _fallback(value):
    return str(value)  # lazy translations and other str-like values


class OrjsonRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_fallback)
