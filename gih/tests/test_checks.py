"""`manage.py check --deploy` warns when the app sits behind a TLS proxy it cannot see past (gih/checks.py)."""

from django.core.checks import run_checks

from gih.checks import PROXY_WITHOUT_TRUSTED_HOPS


def deploy_warnings() -> list[str]:
    return [message.id for message in run_checks(include_deployment_checks=True)]


def test_it_warns_behind_a_proxy_without_trusted_hops(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXY_COUNT = 0
    settings.TRUSTED_PROXIES = []
    assert PROXY_WITHOUT_TRUSTED_HOPS in deploy_warnings()


def test_it_is_quiet_once_the_proxies_are_named_or_without_a_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXY_COUNT = 1
    assert PROXY_WITHOUT_TRUSTED_HOPS not in deploy_warnings()
    settings.TRUSTED_PROXY_COUNT = 0
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert PROXY_WITHOUT_TRUSTED_HOPS not in deploy_warnings()
    settings.TRUSTED_PROXIES = []
    settings.SECURE_PROXY_SSL_HEADER = None
    assert PROXY_WITHOUT_TRUSTED_HOPS not in deploy_warnings()
