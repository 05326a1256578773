"""S3 storage with one boto3 connection per process, and uploads as one PutObject.

django-storages keeps its boto3 resource in a threading.local. The web and worker
processes run gevent, where every greenlet counts as a thread, so each request
built a new boto3 session and resource, re-reading botocore's JSON service
models: tens of milliseconds of CPU before every upload, presigned URL and
existence check (bench/RESULTS.md). boto3 clients are thread-safe and the
storage already shares its Bucket across threads, so one resource per process
does; it is created once, under a lock.

Uploads: django-storages saves through `bucket.Object(name).upload_fileobj()`, where
boto3 builds a resource class on every call and s3transfer runs a transfer manager
(futures, a thread pool) for what is one request: ~9 ms of CPU per 1.6 MB image,
against ~5 ms for a plain PutObject through the same client (bench/RESULTS.md).
"""

import os
import threading

from storages.backends.s3 import S3Storage as _S3Storage
from storages.utils import ReadBytesWrapper, clean_name, is_seekable


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

    def _save(self, name, content):
        # Our files are images of a few MB, far below PutObject's 5 GB limit, so multipart
        # uploads are never needed. Gzipped storage keeps the parent's path.
        if self.gzip:
            return super()._save(name, content)
        cleaned_name = clean_name(name)
        key = self._normalize_name(cleaned_name)
        params = self._get_write_parameters(key, content)
        if is_seekable(content):
            content.seek(0, os.SEEK_SET)
        self.connection.meta.client.put_object(
            Bucket=self.bucket_name, Key=key, Body=ReadBytesWrapper(content), **params
        )
        return cleaned_name

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_shared_connection", None)
        state.pop("_shared_unsigned_connection", None)
        return state
