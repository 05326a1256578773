"""urllib3's look at a kept-alive HTTP connection before reusing it, without a gevent hub round.

Before a pooled connection (to the provider, to S3) carries another request, urllib3 checks that the
other side has not closed it: `HTTPConnection.is_connected`, a zero-timeout poll of its socket. Under
gevent that poll is gevent's (a watcher and a hub round, gih/socket_look.py): 2.4 % of a web worker's
CPU per image, with two such looks per image (bench/RESULTS.md). This gives urllib3 the same look
through the unpatched poll: the same answer (readable, closed or failed means not connected), at once.

urllib3 calls `is_connected` only with that zero timeout (urllib3 2.x: connection.py), and botocore's
connections subclass urllib3's, so one property covers both clients. urllib3 is pinned in requirements.txt;
gih/tests/test_http_pool_check.py checks that both clients' connections carry this property and that a
connection the server closed is replaced, not used.
"""

from urllib3.connection import HTTPConnection

from gih.socket_look import socket_quiet


def _is_connected(connection: HTTPConnection) -> bool:
    fileno = connection.sock.fileno() if connection.sock is not None else -1
    return fileno >= 0 and socket_quiet(fileno)


def install_http_pool_check() -> None:
    """Once per process (gih/apps.py): urllib3's pooled connections are looked at with socket_quiet."""
    HTTPConnection.is_connected = property(_is_connected)
