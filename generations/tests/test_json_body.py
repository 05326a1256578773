"""OpenAI's image answer parsed around its base64 (generations/providers/json_body.py): always what orjson gives."""

import base64
import os

import orjson
import pytest

from generations.providers import json_body

B64 = base64.b64encode(os.urandom(3000)).decode()


def _plain(value):
    """The parsed answer with memoryviews read as text, to compare with orjson's."""
    if isinstance(value, memoryview):
        return bytes(value).decode()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps({"created": 1, "data": [{"b64_json": B64}], "usage": {"total_tokens": 3}}),
        orjson.dumps({"data": [{"b64_json": B64, "revised_prompt": "p"}, {"b64_json": B64[::-1]}]}),
        b'{ "data" : [ { "b64_json"\n :\t"' + B64.encode() + b'" } ] }',
    ],
)
def test_it_hands_each_image_on_as_a_view_of_the_body(body):
    parsed = json_body.loads(body)

    assert all(isinstance(entry["b64_json"], memoryview) for entry in parsed["data"])
    assert _plain(parsed) == orjson.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        # An escape inside the value, an escaped key, a duplicate key, a non-string value.
        b'{"data": [{"b64_json": "AB\\/CD"}]}',
        b'{"data": [{"b64\\u005fjson": "ABCD"}, {"b64_json": "EFGH"}]}',
        b'{"data": [{"b64_json": "ABCD", "b64_json": "EFGH"}]}',
        b'{"data": [{"b64_json": null}], "x": "ABCD"}',
        # The key's text inside another string, and a value outside data[].
        b'{"revised_prompt": "say \\"b64_json\\": \\"x\\"", "data": [{"b64_json": "ABCD"}]}',
        b'{"data": [{"url": "https://x"}], "usage": {"b64_json": "ABCD"}}',
        b'{"data": [{"b64_json": "ABCD"}], "note": "x\\"b64_json"}',
        b"{}",
        b"[]",
    ],
)
def test_it_parses_anything_unusual_exactly_as_orjson_does(body):
    assert _plain(json_body.loads(body)) == orjson.loads(body)


@pytest.mark.parametrize("body", [b'{"data": [{"b64_json": "ABCD"}', b'{"data": [{"b64_json": "AB', b""])
def test_it_refuses_a_malformed_body_as_orjson_does(body):
    with pytest.raises(orjson.JSONDecodeError):
        json_body.loads(body)
