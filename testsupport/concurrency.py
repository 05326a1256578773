"""Run work in many threads released at the same instant, each on its own database connection."""

import threading
from collections.abc import Callable

from django.db import connection


def run_together(count: int, work: Callable[[int], object], *, timeout: float = 120) -> list[object]:
    """Run work(0..count-1) in `count` threads released together; each result or raised exception."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()  # each thread has its own connection; give it back to the pool

    # The main thread's connection goes back to the pool too, so every worker gets one at once.
    connection.close()
    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads)
    return results
