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
    # S3 alone, without moto's dispatcher: it works out each request's service from its host and
    # signature, listing moto's modules on disk every time (12 % of moto's CPU per upload).
    app = create_backend_app("s3")
    WSGIServer(("127.0.0.1", port), app, log=None).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]))
