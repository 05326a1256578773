"""OpenAI's image answer parsed without copying its megabytes of base64 into Python strings.

Why: `orjson.loads` builds a str of every `b64_json` value (2.2 MB for one 1024x1024 photo)
only for it to be decoded once and dropped: the largest single item of a web worker's
profile (bench/RESULTS.md). Instead, each `"b64_json": "<base64>"` value is found with
bytes.find (memchr speed), replaced by a marker (a per-call random nonce and its index) in
a much smaller document that orjson parses, and handed on as a memoryview of the body that
pybase64 decodes directly.

The short cut is taken only when the result proves it parsed the same thing: every marker
at `data[i].b64_json`, in order, once each, and no escape inside a value. Anything else (an
escaped key, a duplicate key, a non-string value, the key inside another string) is
parsed the plain way, so the answer is always what `orjson.loads` would have given.
"""

import secrets

import orjson

_KEY = b'"b64_json"'
_WHITESPACE = b" \t\n\r"


def _skip_whitespace(body: bytes, at: int) -> int:
    while at < len(body) and body[at] in _WHITESPACE:
        at += 1
    return at


def _b64_spans(body: bytes) -> list[tuple[int, int]] | None:
    """(start, end) of each quoted `b64_json` string value, quotes included; None if one is not plain."""
    spans = []
    at = body.find(_KEY)
    while at != -1:
        at = _skip_whitespace(body, at + len(_KEY))
        if body[at : at + 1] != b":":
            return None
        start = _skip_whitespace(body, at + 1)
        if body[start : start + 1] != b'"':
            return None
        end = body.find(b'"', start + 1)
        if end == -1 or body.find(b"\\", start + 1, end) != -1:
            return None
        spans.append((start, end + 1))
        at = body.find(_KEY, end + 1)
    return spans


def _loads_around(body: bytes, spans: list[tuple[int, int]]) -> dict | None:
    nonce = secrets.token_hex(8)
    markers = [f"{nonce}:{index}" for index in range(len(spans))]
    parts, previous = [], 0
    for marker, (start, end) in zip(markers, spans, strict=True):
        parts += [body[previous:start], b'"%s"' % marker.encode()]
        previous = end
    parts.append(body[previous:])
    try:
        parsed = orjson.loads(b"".join(parts))
    except orjson.JSONDecodeError:
        return None
    entries = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        return None
    if [entry.get("b64_json") for entry in entries] != markers:
        return None
    view = memoryview(body)
    for entry, (start, end) in zip(entries, spans, strict=True):
        entry["b64_json"] = view[start + 1 : end - 1]
    return parsed


def loads(body: bytes):
    """`orjson.loads(body)`, except that `data[i].b64_json` values are memoryviews of `body` (ASCII base64)."""
    spans = _b64_spans(body)
    if spans:
        parsed = _loads_around(body, spans)
        if parsed is not None:
            return parsed
    return orjson.loads(body)
