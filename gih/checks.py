"""Deployment checks of our own (`python manage.py check --deploy`).

Why: behind the documented TLS proxy every request's socket peer is the proxy. Unless the app is
told which hops are its own proxies, the log-in throttle and the fair share (gih/fair_share.py)
see one client, the proxy: a handful of failed log-ins locks everyone out, and all anonymous
traffic (and every key before its first success in a process) shares one place.
"""

from django.conf import settings
from django.core.checks import Tags, Warning, register

PROXY_WITHOUT_TRUSTED_HOPS = "gih.W001"


@register(Tags.security, deploy=True)
def trusted_proxies_configured(app_configs, **kwargs) -> list[Warning]:
    behind_proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is not None
    if not behind_proxy or settings.TRUSTED_PROXY_COUNT or settings.TRUSTED_PROXIES:
        return []
    return [
        Warning(
            "BEHIND_TLS_PROXY is on, but neither TRUSTED_PROXY_COUNT nor TRUSTED_PROXIES is set: the log-in "
            "throttle and the fair share see every client as the proxy's address.",
            hint="Set TRUSTED_PROXY_COUNT to the number of proxies of yours in front of the app (usually 1), "
            "or TRUSTED_PROXIES to their addresses.",
            id=PROXY_WITHOUT_TRUSTED_HOPS,
        )
    ]
