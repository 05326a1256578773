"""Server-sent events (the WHATWG event-stream format): a parser for upstream streams and an encoder for ours.

The parser follows the spec's field rules (`event`, `data` lines joined by newlines,
`id`, `retry`; lines starting with ':' are comments; an event is dispatched at a
blank line; CRLF, LF and CR all end a line), because upstream proxies re-chunk,
reorder line endings and insert keep-alive comments.
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    event: str  # "message" when the stream named none
    data: str
    id: str = ""

    def json(self) -> object:
        return json.loads(self.data)


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    buffer = b""
    for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        # A lone CR at the end might be the first half of a CRLF: wait for the next chunk.
        while True:
            positions = [position for position in (buffer.find(b"\r"), buffer.find(b"\n")) if position >= 0]
            if not positions:
                break
            end = min(positions)
            if buffer[end : end + 1] == b"\r" and end == len(buffer) - 1:
                break
            line, width = buffer[:end], 2 if buffer[end : end + 2] == b"\r\n" else 1
            buffer = buffer[end + width :]
            yield line.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.rstrip(b"\r").decode("utf-8", errors="replace")


def iter_events(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """Parse a byte stream into events; an unterminated last event is dropped, as the spec says."""
    event, data, last_id = "", [], ""
    for line in _lines(chunks):
        if not line:
            if data:
                yield ServerSentEvent(event=event or "message", data="\n".join(data), id=last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value


def encode_event(event: str, data: object) -> bytes:
    """One event whose data is a JSON document (JSON has no raw newlines, so one data line)."""
    return b"event: " + event.encode() + b"\ndata: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def encode_comment(text: str = "") -> bytes:
    """A comment line: clients ignore it, proxies see traffic (keep-alive)."""
    return b": " + text.encode() + b"\n\n"
