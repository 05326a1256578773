"""moto's S3 server for the bench: werkzeug's threaded server speaking HTTP/1.1, so connections stay open.

Why not `python -m moto.server`: its werkzeug server answers HTTP/1.0 with `Connection: close`, so
each upload opened a new TCP connection (a DNS lookup in gevent's thread pool, a connect,
botocore's connection setup): ~3 ms of the hub's web CPU per image that a real object store,
which keeps connections alive, does not cost.

Why not gunicorn (tried): its request-body reader copies a body through Python in 1 KB steps
(gunicorn/http/body.py). For a 1.6 MB image that was ~40 % of moto's CPU per PutObject
(py-spy, 2026-12-07): 14.9 ms per upload against 11.1 ms here, measured alone. What is left is
moto's own work (the ETag's MD5, Flask's dispatch), which a real object store does in C.

One process (moto keeps its buckets in memory): `python -m bench.moto_app PORT`.
"""

import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; werkzeug sends Content-Length on moto's answers

    def log_request(self, *args, **kwargs) -> None:  # one line per upload is noise in bench/out
        pass


def main(port: int) -> None:
    app = DomainDispatcherApplication(create_backend_app)
    make_server("127.0.0.1", port, app, threaded=True, request_handler=KeepAliveHandler).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]))
