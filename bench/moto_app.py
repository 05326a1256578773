"""moto's S3 server as a WSGI app, served by gunicorn with keep-alive (bench/stack.py starts it).

Why not `python -m moto.server`: its werkzeug development server answers every request with
`Connection: close`, so each upload opened a new TCP connection (a DNS lookup in gevent's thread
pool, a connect, botocore's connection setup): ~3 ms of the hub's web CPU per image that a real
object store, which keeps connections alive, does not cost. One process (moto keeps its buckets
in memory), a few threads.

This module is also gunicorn's configuration (`-c python:bench.moto_app`), so the hub's own
gunicorn.conf.py, which gunicorn would otherwise read from the working directory, stays out.
"""

from moto.server import DomainDispatcherApplication, create_backend_app

app = DomainDispatcherApplication(create_backend_app)

# gunicorn settings (the port comes on the command line).
worker_class = "gthread"
workers = 1
threads = 8
keepalive = 75
graceful_timeout = 5
