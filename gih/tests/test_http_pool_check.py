"""urllib3's look at kept-alive connections (gih/http_pool_check.py): the same answers, without gevent's poll."""

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import urllib3
from urllib3.connection import HTTPConnection

from gih.http_pool_check import _is_connected

ROOT = Path(__file__).resolve().parents[2]
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


@pytest.fixture
def server():
    """A keep-alive HTTP server that answers each request once; `close_idle()` closes every idle connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            while conn.recv(65536):
                conn.sendall(ANSWER)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()

    def close_idle() -> None:
        for conn in accepted:
            conn.shutdown(socket.SHUT_RDWR)

    yield listener.getsockname()[1], accepted, close_idle
    listener.close()


def test_it_is_what_urllib3_asks(settings):
    """Installed by the app (gih/apps.py): urllib3's connections, and so botocore's, are looked at through it."""
    from botocore.awsrequest import AWSHTTPConnection

    assert HTTPConnection.is_connected.fget is _is_connected
    assert AWSHTTPConnection.is_connected.fget is _is_connected


def test_a_kept_alive_connection_is_reused(server):
    port, accepted, _ = server
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1)

    assert [pool.request("GET", "/").data for _ in range(3)] == [b"ok"] * 3
    assert len(accepted) == 1


def test_a_connection_the_server_closed_is_replaced_not_used(server):
    port, accepted, close_idle = server
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, retries=False)
    assert pool.request("GET", "/").data == b"ok"

    close_idle()
    # retries=False: had the closed connection been used, the request would fail instead of being answered.
    threading.Event().wait(0.2)
    assert pool.request("GET", "/").data == b"ok"
    assert len(accepted) == 2


def test_an_unconnected_or_closed_connection_is_not_connected():
    connection = HTTPConnection("127.0.0.1", 9)
    assert connection.is_connected is False
    connection.sock = socket.socket()
    connection.sock.close()
    assert connection.is_connected is False


_UNDER_GEVENT = """
from gevent import monkey
monkey.patch_all()
import select, socket, sys
polls = []
gevent_poll = select.poll
select.poll = lambda: polls.append(1) or gevent_poll()
from urllib3.connection import HTTPConnection
a, b = socket.socketpair()
connection = HTTPConnection("127.0.0.1", 9)
connection.sock = a
if sys.argv[1] == "ours":
    from gih.http_pool_check import install_http_pool_check
    install_http_pool_check()
quiet = connection.is_connected
b.sendall(b"x")
readable = connection.is_connected
print(quiet, readable, len(polls))
"""


@pytest.mark.parametrize("which", ["urllib3", "ours"])
def test_under_gevent_it_answers_the_same_without_gevents_poll(which):
    """Both say a quiet socket is connected and a readable one is not; only urllib3's own look polls through gevent."""
    result = subprocess.run(
        [sys.executable, "-c", _UNDER_GEVENT, which], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )

    quiet, readable, gevent_polls = result.stdout.split()
    assert (quiet, readable) == ("True", "False"), result.stderr
    assert (int(gevent_polls) == 0) == (which == "ours"), gevent_polls
