"""The server-sent events parser reads streams however they are chunked; the encoder writes what it reads."""

import pytest

from gih.sse import ServerSentEvent, encode_comment, encode_event, iter_events

STREAM = (
    b": keep-alive\r\n\r\n"
    b"event: image_generation.partial_image\r\n"
    b'data: {"partial_image_index": 0}\r\n\r\n'
    b"id: 7\n"
    b"data: first line\n"
    b"data: second line\n\n"
    b"event: error\r"
    b'data: {"error": {"code": "x"}}\r\r'
    b"data: never terminated"
)
EXPECTED = [
    ServerSentEvent(event="image_generation.partial_image", data='{"partial_image_index": 0}'),
    ServerSentEvent(event="message", data="first line\nsecond line", id="7"),
    ServerSentEvent(event="error", data='{"error": {"code": "x"}}', id="7"),
]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, len(STREAM)])
def test_it_parses_events_across_any_chunking_and_line_ending(chunk_size):
    chunks = [STREAM[start : start + chunk_size] for start in range(0, len(STREAM), chunk_size)]

    assert list(iter_events(chunks)) == EXPECTED


def test_it_reads_back_what_it_encodes():
    stream = encode_comment("waiting") + encode_event("image_generation.completed", {"b64_json": "QUJD", "n": 1})

    [event] = iter_events([stream])

    assert event.event == "image_generation.completed"
    assert event.json() == {"b64_json": "QUJD", "n": 1}
