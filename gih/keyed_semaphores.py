"""A semaphore per key (an account, a client), alive only while some request holds or waits on it.

Why: the per-account charge slots (gih/slots.py) and the per-client fair share (gih/fair_share.py)
both cap how many requests of one key run at once in a process. Keys come and go (millions of
addresses, thousands of accounts), so each semaphore is counted in on join and dropped when its
last holder or waiter leaves: idle keys cost nothing.
"""

import threading
from collections.abc import Callable, Hashable


class KeyedSemaphores:
    def __init__(self, size: Callable[[], int]):
        self._size = size  # read when a key's semaphore is made: settings may change (tests, reloads)
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[threading.BoundedSemaphore, int]] = {}  # key -> (semaphore, users)

    def join(self, key: Hashable) -> threading.BoundedSemaphore:
        """The key's semaphore, counting the caller in until `leave`."""
        with self._lock:
            semaphore, users = self._entries.get(key) or (threading.BoundedSemaphore(self._size()), 0)
            self._entries[key] = (semaphore, users + 1)
            return semaphore

    def leave(self, key: Hashable) -> None:
        with self._lock:
            semaphore, users = self._entries[key]
            if users == 1:
                del self._entries[key]
            else:
                self._entries[key] = (semaphore, users - 1)

    def users(self, key: Hashable) -> int:
        """Holders and waiters of the key (0 when idle)."""
        with self._lock:
            return self._entries.get(key, (None, 0))[1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
