"""A requests Session that reads the environment once per origin instead of on every call.

requests consults the environment on every request: the proxy variables and `no_proxy`
(scanning all of os.environ, twice), the CA bundle variables, and ~/.netrc (two stat calls,
and, if the file names the host, a Basic `Authorization` that replaces the caller's own).
That was 2.4 % of a web worker's CPU per relayed image (bench/RESULTS.md), for settings that
do not change while the process runs. This session honours the same proxy and CA-bundle
variables, read when it first calls an origin (scheme, host and port), and never ~/.netrc:
its callers send their own credentials.
"""

import os
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies

_MAX_ORIGINS = 256  # provider APIs and their image hosts: a handful; bounded all the same


class EnvironmentOnceSession(requests.Session):
    def __init__(self):
        super().__init__()
        self.trust_env = False  # requests' per-call reading; done below, once per origin
        self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._origin_proxies: dict[tuple[str, str], dict[str, str]] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        environment = self._origin_proxies.get(origin)
        if environment is None:
            if len(self._origin_proxies) >= _MAX_ORIGINS:
                self._origin_proxies.clear()
            environment = self._origin_proxies[origin] = get_environ_proxies(url)
        # A call's own proxies win over the environment's, as with requests' own merge.
        return super().merge_environment_settings(url, {**environment, **(proxies or {})}, stream, verify, cert)
