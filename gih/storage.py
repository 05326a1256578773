"""S3 storage with one boto3 connection per process.

django-storages keeps its boto3 resource in a threading.local. The web and worker
processes run gevent, where every greenlet counts as a thread, so each request
built a new boto3 session and resource, re-reading botocore's JSON service
models: tens of milliseconds of CPU before every upload, presigned URL and
existence check (bench/RESULTS.md). boto3 clients are thread-safe and the
storage already shares its Bucket across threads, so one resource per process
does; it is created once, under a lock.
"""

import threading

from storages.backends.s3 import S3Storage as _S3Storage


class S3Storage(_S3Storage):
    _shared_lock = threading.Lock()

    def _shared(self, name: str, create):
        resource = self.__dict__.get(name)
        if resource is None:
            with self._shared_lock:
                resource = self.__dict__.get(name)
                if resource is None:
                    resource = self.__dict__[name] = create()
        return resource

    @property
    def connection(self):
        return self._shared("_shared_connection", lambda: _S3Storage.connection.fget(self))

    @property
    def unsigned_connection(self):
        # Used for URLs when AWS_QUERYSTRING_AUTH is off.
        return self._shared("_shared_unsigned_connection", lambda: _S3Storage.unsigned_connection.fget(self))

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_shared_connection", None)
        state.pop("_shared_unsigned_connection", None)
        return state
