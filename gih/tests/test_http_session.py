"""The provider's HTTP session: the environment's proxies and CA bundle honoured, read once per origin; no ~/.netrc."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from gih import http_session
from gih.http_session import EnvironmentOnceSession


@pytest.fixture
def server():
    """A local HTTP server recording each request's line and Authorization header (as a proxy, or as the origin)."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.requestline, self.headers.get("Authorization")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_it_sends_requests_through_the_environments_proxy(server, monkeypatch):
    port, seen = server
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")

    response = EnvironmentOnceSession().get("http://images.example.invalid/a.png", timeout=5)

    assert response.status_code == 200
    assert seen == [("GET http://images.example.invalid/a.png HTTP/1.1", None)]  # absolute form: a proxy request


def test_it_goes_direct_to_hosts_no_proxy_names(server, monkeypatch):
    port, seen = server
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard: a request sent there would fail
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    response = EnvironmentOnceSession().get(f"http://127.0.0.1:{port}/direct", timeout=5)

    assert response.status_code == 200
    assert seen == [("GET /direct HTTP/1.1", None)]


def test_it_reads_the_environment_once_per_origin(server, monkeypatch):
    port, seen = server
    reads = []

    def counted(url, no_proxy=None):
        reads.append(url)
        return requests.utils.get_environ_proxies(url, no_proxy=no_proxy)

    monkeypatch.setattr(http_session, "get_environ_proxies", counted)
    session = EnvironmentOnceSession()
    for path in ("/1", "/2", "/3"):
        session.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    session.get(f"http://localhost:{port}/4", timeout=5)

    assert [line for line, _ in seen] == [f"GET /{n} HTTP/1.1" for n in range(1, 5)]
    assert reads == [f"http://127.0.0.1:{port}/1", f"http://localhost:{port}/4"]


def test_it_keeps_the_callers_credentials_where_netrc_names_the_host(server, monkeypatch, tmp_path):
    """requests alone would replace the Bearer header with ~/.netrc's Basic credentials for that host."""
    port, seen = server
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    url = f"http://127.0.0.1:{port}/v1/images"

    requests.Session().get(url, headers={"Authorization": "Bearer sk-ours"}, timeout=5)
    EnvironmentOnceSession().get(url, headers={"Authorization": "Bearer sk-ours"}, timeout=5)

    [(_, plain), (_, ours)] = seen
    assert plain.startswith("Basic ")
    assert ours == "Bearer sk-ours"


def test_it_verifies_tls_with_the_environments_ca_bundle(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))

    settings = EnvironmentOnceSession().merge_environment_settings("https://api.example.invalid/", {}, None, None, None)

    assert settings["verify"] == str(bundle)
