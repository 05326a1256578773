"""moto's S3 server for the bench, on gevent's WSGI server: connections stay open, bodies are read in C.

Why not `python -m moto.server`: its werkzeug server answers every request with
`Connection: close` (werkzeug does so even over HTTP/1.1), so each upload opened a new TCP
connection (a DNS lookup in gevent's thread pool, a connect, botocore's connection setup):
~3 ms of the hub's web CPU per image that a real object store, which keeps connections
alive, does not cost.

Why not gunicorn (used until 2026-12-07): its request-body reader copies a body through
Python in 1 KB steps (gunicorn/http/body.py), ~40 % of moto's CPU per 1.6 MB PutObject in a
py-spy profile. Measured alone, 200 uploads of 1.6 MB: 14.9 ms of moto's CPU each under
gunicorn, 11.1 under werkzeug, 9.8 here; then 7.0 with the hub's allocator tuning and 6.0 without moto's
dispatcher (both below). What is left is moto's own work (copies of the body, the ETag's MD5, Flask's
dispatch), which a real object store does in native code.

One process (moto keeps its buckets in memory): `python -m bench.moto_app PORT`.
"""

from gevent import monkey

monkey.patch_all()  # before moto imports threading: its locks are then gevent's

import sys  # noqa: E402

from gevent.pywsgi import WSGIServer  # noqa: E402
from moto.server import create_backend_app  # noqa: E402


def main(port: int) -> None:
    # The hub's own allocator tuning (gih/process.py): moto copies each upload's body several times
    # (the request, its spooled buffer, the read-back for the ETag), and with glibc's defaults every copy
    # of 1.6 MB page-faulted in afresh: 45 % of moto's CPU in a py-spy profile.
    from gih.process import keep_buffers_on_heap

    keep_buffers_on_heap()
    _etag_from_the_bytes_in_hand()
    # S3 alone, without moto's dispatcher: it works out each request's service from its host and
    # signature, listing moto's modules on disk every time (12 % of moto's CPU per upload).
    app = create_backend_app("s3")
    WSGIServer(("127.0.0.1", port), app, log=None).serve_forever()


def _etag_from_the_bytes_in_hand() -> None:
    """moto works out an object's ETag (the MD5 of its body) when it first answers, by reading the body back
    out of the buffer it was just written to: one more copy of every upload (12 % of moto's CPU per 1.6 MB
    PutObject in a py-spy profile; 8.6 -> 8.0 ms measured alone). Here the same MD5 is taken from the bytes as
    they are stored. An ETag moto was given (a multipart upload's, an unpickled key's) is kept. moto writes a
    key's value only when it makes the key (each PUT makes a new one)."""
    from moto.s3.models import FakeKey
    from moto.utilities.utils import md5_hash

    store = FakeKey.value.fset

    def value(key, new_value) -> None:
        store(key, new_value)
        if isinstance(new_value, bytes) and key._etag is None:
            key._etag = md5_hash(new_value).hexdigest()

    FakeKey.value = FakeKey.value.setter(value)


if __name__ == "__main__":
    main(int(sys.argv[1]))
