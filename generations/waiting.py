"""`Prefer: wait=N` (RFC 7240): hold a request up to N seconds for its queued generation to finish.

How the waiting request learns of the finish: every process announces terminal moves
(generations/events.py, after COMMIT); the receiver here publishes the generation's id on
a Redis channel of its own, and the waiting request is subscribed to it. So the wait holds
no database connection (it is given back before) and does not poll the database: it reads
the row once after subscribing (a finish before that is not missed), then once at the end
(a message lost with a Redis hiccup costs at most the wait). Without Redis it looks again
with a backoff.
"""

import logging
import time

import redis
from django.conf import settings
from django.db import connection
from django.dispatch import receiver

from generations.events import generation_finished
from generations.failures import is_retryable
from generations.models import Generation
from generations.services import failed_message
from gih import fair_share
from gih.errors import GenerationFailed, InvalidRequest

logger = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60
CHANNEL_PREFIX = "gih:generation-finished:"
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 4.0
_client: redis.Redis | None = None


def prefer_wait(header: str | None) -> int | None:
    """The `wait` preference of a Prefer header, in seconds; None if absent; InvalidRequest out of 1..60.

    RFC 7240: preferences are comma-separated, case-insensitive names, optionally `=value`
    (maybe quoted) and `;parameters`; several Prefer headers arrive joined by commas.
    """
    for preference in (header or "").split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() != "wait":
            continue
        value = value.strip().strip('"')
        if not value.isdigit() or not 1 <= int(value) <= MAX_WAIT_SECONDS:
            raise InvalidRequest(f"Prefer: wait must be a whole number of seconds from 1 to {MAX_WAIT_SECONDS}.")
        return int(value)
    return None


def _redis() -> redis.Redis | None:
    global _client
    if _client is None and settings.REDIS_URL:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    return _client


def _channel(generation_id: str) -> str:
    return CHANNEL_PREFIX + generation_id


@receiver(generation_finished, dispatch_uid="generations.waiting.publish")
def publish_finished(sender, generation, status: str, **kwargs) -> None:
    """Tell any request waiting on this generation (a quick PUBLISH; failures are logged by events.py).

    Only async generations: a request waits only on the one it submitted, and `Prefer: wait` submits it as a job
    (queued_if_waiting). A sync generation finishes in its own request, so its PUBLISH would reach no one:
    a Redis round trip and ~2 % of a web worker's CPU per image (bench/RESULTS.md).
    """
    client = _redis()
    if client is not None and generation.is_async:
        client.publish(_channel(generation.pk), status)


def _look(generation_id: str) -> Generation:
    generation = Generation.objects.select_related("model").prefetch_related("images").get(pk=generation_id)
    if not connection.in_atomic_block:
        connection.close()  # back to the pool before waiting on
    return generation


def _wait_for_message(generation_id: str, deadline: float) -> Generation:
    with _redis().pubsub(ignore_subscribe_messages=True) as pubsub:
        pubsub.subscribe(_channel(generation_id))
        generation = _look(generation_id)
        while not generation.is_terminal and (left := deadline - time.monotonic()) > 0:
            if pubsub.get_message(timeout=left) is not None:
                break
    return _look(generation_id)


def _wait_with_backoff(generation_id: str, deadline: float) -> Generation:
    pause = BACKOFF_FIRST
    generation = _look(generation_id)
    while not generation.is_terminal and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(pause, left))
        pause = min(pause * 2, BACKOFF_MAX)
        generation = _look(generation_id)
    return generation


def generation_await(*, generation: Generation, seconds: int) -> Generation:
    """The generation once finished, or as it is after `seconds`; GenerationFailed if it failed meanwhile."""
    generation_id = generation.pk
    if not generation.is_terminal:
        if not connection.in_atomic_block:
            connection.close()
        deadline = time.monotonic() + seconds
        with fair_share.released():  # the wait costs no CPU: the client's other requests may run
            try:
                generation = _wait_for_message(generation_id, deadline) if _redis() else None
            except redis.RedisError:
                logger.warning("Prefer: wait on %s: Redis unavailable, looking with a backoff", generation_id)
                generation = None
            if generation is None:
                generation = _wait_with_backoff(generation_id, deadline)
    if generation.status == Generation.Status.FAILED:
        raise GenerationFailed(failed_message(generation), retryable=is_retryable(generation.error_code))
    return generation
