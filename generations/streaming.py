"""A generation as a server-sent event stream: partial images as the provider sends them, then the final images.

The request has already been validated and charged (services.generation_accept) when
the stream starts. The generation then runs in a thread of its own (a greenlet under
gunicorn's gevent workers) exactly as a sync call runs it, stored and billed the same;
the response generator only relays what that thread puts on a queue and touches no
database, so a stream that lasts minutes holds no connection. While it waits it sends
an SSE comment every STREAM_KEEPALIVE_SECONDS, so proxies with an idle limit (often
100 s) do not cut a long generation. A failure becomes OpenAI's `error` event; the
generation was failed and fully refunded by then.
"""

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from generations import openai_shapes
from generations.files import output_load
from generations.models import GeneratedImage, Generation
from generations.providers import PartialImage
from generations.services import GenerationOutcome, generation_complete
from gih.sse import encode_comment, encode_event

logger = logging.getLogger(__name__)

_DONE = object()


@dataclass(frozen=True)
class StreamShape:
    """What differs between the faces: the event names (edit or not), the failure object, extra event fields."""

    edit: bool
    failure_error: Callable[[Generation], dict]  # OpenAI's error object for a failed generation
    completed_extra: Callable[[Generation, GeneratedImage], dict] | None = None


def _final_events(generation: Generation, shape: StreamShape) -> list[bytes]:
    """The completed events (one per image) or the error event; reads the images back from storage."""
    if generation.status != Generation.Status.SUCCEEDED:
        return [encode_event("error", openai_shapes.error_event(shape.failure_error(generation)))]
    images = list(generation.images.all())
    events = []
    for image in images:
        content = None if image.expired_at else output_load(image)
        data = openai_shapes.completed_event(generation, images, image, edit=shape.edit, content=content)
        if shape.completed_extra is not None:
            data.update(shape.completed_extra(generation, image))
        events.append(encode_event(data["type"], data))
    return events


def _internal_error() -> dict:
    return {"message": "An internal error occurred.", "type": "server_error", "param": None, "code": "internal_error"}


def generation_stream(outcome: GenerationOutcome, shape: StreamShape) -> Iterator[bytes]:
    """The event stream of an accepted generation (see the module docstring)."""
    events: queue.Queue = queue.Queue()
    generation = outcome.generation

    def on_partial(partial: PartialImage) -> None:
        data = openai_shapes.partial_event(
            generation,
            edit=shape.edit,
            content=partial.content,
            index=partial.partial_image_index,
            created_at=int(time.time()),
        )
        events.put(encode_event(data["type"], data))

    def run() -> None:
        try:
            finished = generation_complete(outcome=outcome, on_partial=on_partial)
            for event in _final_events(finished, shape):
                events.put(event)
        except Exception:
            logger.exception("Streaming generation %s failed unexpectedly", generation.pk)
            events.put(encode_event("error", openai_shapes.error_event(_internal_error())))
        finally:
            events.put(_DONE)
            connection.close()  # this thread's own connection: nothing is held once the stream ends

    # In a copy of this context: the request's fair-share place goes with the work (gih/fair_share.py).
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(run,), name=f"stream-{generation.pk}", daemon=True).start()
    while True:
        try:
            item = events.get(timeout=settings.STREAM_KEEPALIVE_SECONDS)
        except queue.Empty:
            yield encode_comment("keep-alive")
            continue
        if item is _DONE:
            return
        yield item
