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

Checksums: botocore (1.36+) computes a CRC32 of every upload and validates one on every
download by default. Our uploads travel over TLS (which already protects them in transit)
and S3-compatible stores differ in their support for the new checksum headers, so the
client computes them only where an operation requires one. Over https, payloads are not
SHA-256 hashed for SigV4 either (UNSIGNED-PAYLOAD): TLS covers them. Operators can pass
their own botocore Config through django-storages' AWS_S3_CLIENT_CONFIG.

No `Expect: 100-continue`: botocore sends it before every PUT body and waits for the store's
"100 Continue" before the first byte, one more round trip to S3 per upload, to spare a body
the store would refuse. Ours are signed, a few MB, and refused only when the store is
misconfigured; the round trip (and moto's interim answer: 1.2 ms of its CPU per upload in the
bench) is paid on every image.

A body already in memory (a ContentFile, as every generated image is) reaches urllib3 as its bytes: urllib3 sends
a file object in 16 KB reads, each through a read wrapper and a socket send of its own (~100 of each per image,
3 % of a web worker's CPU per image: bench/RESULTS.md), and bytes in one. Parameter validation is
off: our calls have fixed parameter shapes, and it walked the operation's model on every call (0.7 %).
"""

import io
import os
import threading

from botocore.config import Config
from botocore.handlers import add_expect_header, convert_body_to_file_like_object
from django.conf import settings as django_settings
from storages.backends.s3 import S3Storage as _S3Storage
from storages.utils import ReadBytesWrapper, clean_name, is_seekable


class S3Storage(_S3Storage):
    _shared_lock = threading.Lock()

    def __init__(self, **settings):
        super().__init__(**settings)
        operator_config = settings.get("client_config") or getattr(django_settings, "AWS_S3_CLIENT_CONFIG", None)
        if operator_config is None:
            self.client_config = self.client_config.merge(
                Config(
                    parameter_validation=False,
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    s3={"addressing_style": self.addressing_style, "payload_signing_enabled": False},
                )
            )

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
        return self._shared("_shared_connection", lambda: _uploads_sent_at_once(_S3Storage.connection.fget(self)))

    @property
    def unsigned_connection(self):
        # Used for URLs when AWS_QUERYSTRING_AUTH is off.
        return self._shared(
            "_shared_unsigned_connection", lambda: _uploads_sent_at_once(_S3Storage.unsigned_connection.fget(self))
        )

    def _save(self, name, content):
        # Our files are images of a few MB, far below PutObject's 5 GB limit, so multipart
        # uploads are never needed. Gzipped storage keeps the parent's path.
        if self.gzip:
            return super()._save(name, content)
        cleaned_name = clean_name(name)
        key = self._normalize_name(cleaned_name)
        params = self._get_write_parameters(key, content)
        body = _bytes_in_memory(content)
        if body is None:
            if is_seekable(content):
                content.seek(0, os.SEEK_SET)
            body = ReadBytesWrapper(content)
        self.connection.meta.client.put_object(Bucket=self.bucket_name, Key=key, Body=body, **params)
        return cleaned_name

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_shared_connection", None)
        state.pop("_shared_unsigned_connection", None)
        return state


def _bytes_in_memory(content) -> bytes | None:
    """The whole content of a file held in a BytesIO (ContentFile, small uploads), whatever its position; else None.

    An untouched BytesIO hands back the bytes it was made from, without a copy."""
    file = getattr(content, "file", None)
    return file.getvalue() if isinstance(file, io.BytesIO) else None


def _uploads_sent_at_once(resource):
    """The resource, its client no longer asking for "100 Continue" before PUT bodies, and keeping a PutObject's
    bytes as bytes (botocore wraps them in a BytesIO, which urllib3 then sends in 16 KB pieces): see the module's
    docstring."""
    events = resource.meta.client.meta.events
    events.unregister("before-call.s3", add_expect_header)
    events.unregister("before-parameter-build.s3.PutObject", convert_body_to_file_like_object)
    return resource
