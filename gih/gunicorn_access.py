"""Gunicorn's access log, built only when it is on.

gunicorn builds every request's access-log fields (its `atoms`) whenever a logging config is
given, even with the access logger at WARNING, where the line is then dropped: 1.5 % of a
generation's web CPU (bench/RESULTS.md). Our own request line (gih.logs.RequestIdMiddleware)
says the same, so the access log is off unless WEB_ACCESS_LOG asks for it.
"""

import logging

from gunicorn.glogging import Logger


class AccessLogWhenEnabled(Logger):
    def access(self, resp, req, environ, request_time) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)
