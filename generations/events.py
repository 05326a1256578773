"""The moment a generation reaches a terminal state, announced once, after its COMMIT.

Webhooks, metrics and waiting clients listen here, so the state machine in
transitions.py never imports them (and a listener's failure never undoes a move).
"""

import logging
from functools import partial

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Sent with sender=Generation and keyword arguments `generation` (the row as the move
# left it) and `status` (succeeded, failed or canceled). Listeners must be quick:
# they run on the request or task that made the move. Queue anything slow.
generation_finished = Signal()


def announce_finished(generation) -> None:
    """Send `generation_finished` once the current transaction commits (never if it rolls back)."""
    transaction.on_commit(partial(_send, generation, generation.status))


def _send(generation, status: str) -> None:
    for receiver, result in generation_finished.send_robust(
        sender=type(generation), generation=generation, status=status
    ):
        if isinstance(result, Exception):
            logger.error("generation_finished listener %r failed for %s", receiver, generation.pk, exc_info=result)
