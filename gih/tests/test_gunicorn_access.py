"""gunicorn's access-log fields are built only when the access log is on (gih/gunicorn_access.py).

That it still writes the line when WEB_ACCESS_LOG turns it on: generations/tests/test_request_ids.py (live gunicorn).
"""

from gunicorn.config import Config
from gunicorn.glogging import Logger

from gih.gunicorn_access import AccessLogWhenEnabled
from gih.logs import gunicorn_logconfig

NOT_A_RESPONSE = NOT_A_REQUEST = None  # building the fields from these raises


def _config(*, access_log: bool) -> Config:
    cfg = Config()
    cfg.set("logconfig_dict", gunicorn_logconfig(fmt="json", access_log=access_log))
    return cfg


def test_with_the_access_log_off_it_builds_nothing():
    AccessLogWhenEnabled(_config(access_log=False)).access(NOT_A_RESPONSE, NOT_A_REQUEST, {}, None)


def test_gunicorn_itself_builds_the_fields_even_then():
    """Why the subclass exists: should a gunicorn release stop doing this, it can go."""
    try:
        Logger(_config(access_log=False)).access(NOT_A_RESPONSE, NOT_A_REQUEST, {}, None)
    except AttributeError:
        return
    raise AssertionError("gunicorn no longer builds access-log fields for a disabled access log")
