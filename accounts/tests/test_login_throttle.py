"""Log-in throttling on the account area's and the admin's log-in, with real Redis and real threads on Postgres."""

import threading

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client

from conftest import TEST_PASSWORD
from testsupport.concurrency import run_together

LOGIN_URLS = {"web": "/login/", "admin": "/admin/login/"}
THROTTLED = "Too many failed log-in attempts"
PROXY = "10.0.0.2"


class CountingHasher(MD5PasswordHasher):
    """The test hasher, counting how many times a password is checked (from any thread)."""

    checks = 0
    lock = threading.Lock()

    def verify(self, password: str, encoded: str) -> bool:
        with CountingHasher.lock:
            CountingHasher.checks += 1
        return super().verify(password, encoded)


@pytest.fixture
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.checks = 0
    return CountingHasher


@pytest.fixture
def owner(counting_hasher, make_user):
    # Staff, so the admin log-in accepts the right password too.
    return make_user("owner@example.com", is_staff=True)


def log_in(
    email: str, password: str, *, face: str = "web", client: Client | None = None, ip: str = "203.0.113.7", via=None
):
    """POST a log-in; `via` is our proxy's address, which then forwards `ip` in X-Forwarded-For."""
    client = client or Client()
    headers = {"REMOTE_ADDR": ip} if via is None else {"REMOTE_ADDR": via, "HTTP_X_FORWARDED_FOR": ip}
    data = {"username": email, "password": password}
    if face == "admin":
        data["next"] = "/admin/"
    return client.post(LOGIN_URLS[face], data, **headers)


def throttled(response) -> bool:
    return THROTTLED in response.content.decode()


def logged_in(client: Client) -> bool:
    return SESSION_KEY in client.session


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("face", ["web", "admin"])
def test_it_lets_at_most_the_limit_of_40_parallel_wrong_passwords_reach_the_password_check(
    settings, owner, counting_hasher, face
):
    settings.LOGIN_THROTTLE_ATTEMPTS = 5
    counting_hasher.checks = 0

    responses = run_together(40, lambda index: log_in("owner@example.com", f"guess-{index}", face=face))

    assert not [result for result in responses if isinstance(result, Exception)]
    assert counting_hasher.checks <= 5
    assert sum(throttled(response) for response in responses) >= 35
    if face == "web":
        assert {response.status_code for response in responses if throttled(response)} == {429}
    # The right password from the attacked address is refused without a check until the window closes.
    checks = counting_hasher.checks
    client = Client()
    assert throttled(log_in("owner@example.com", TEST_PASSWORD, face=face, client=client))
    assert not logged_in(client)
    assert counting_hasher.checks == checks


@pytest.mark.parametrize("face", ["web", "admin"])
def test_it_lets_the_owner_log_in_from_another_address_during_an_attack_on_their_email(settings, owner, face):
    """Behind our TLS proxy every request comes from the proxy; the real client is in X-Forwarded-For."""
    settings.TRUSTED_PROXY_COUNT = 1
    for index in range(8):
        log_in("owner@example.com", f"guess-{index}", face=face, ip="198.51.100.66", via=PROXY)
    assert throttled(log_in("owner@example.com", TEST_PASSWORD, face=face, ip="198.51.100.66", via=PROXY))

    owner_client = Client()
    response = log_in("owner@example.com", TEST_PASSWORD, face=face, client=owner_client, ip="192.0.2.10", via=PROXY)

    assert response.status_code == 302
    assert owner_client.session[SESSION_KEY] == str(owner.pk)


def test_it_ignores_a_forwarded_address_from_a_client_that_is_not_our_proxy(settings, owner):
    """Without a trusted proxy, a guesser cannot dodge the throttle by inventing X-Forwarded-For values."""
    settings.TRUSTED_PROXY_COUNT = 0
    for index in range(5):
        log_in("owner@example.com", "wrong", ip=f"192.0.2.{index}", via="198.51.100.66")

    assert throttled(log_in("owner@example.com", TEST_PASSWORD, ip="192.0.2.99", via="198.51.100.66"))


def test_it_caps_one_address_across_many_emails_and_gives_successful_log_ins_back(settings, make_user):
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 6
    make_user("colleague@example.com")
    # An office behind one address: successful log-ins do not use up its allowance.
    for _ in range(10):
        assert log_in("colleague@example.com", TEST_PASSWORD).status_code == 302

    for index in range(6):
        assert not throttled(log_in(f"victim{index}@example.com", "wrong"))

    refused = log_in("victim-next@example.com", "wrong")
    assert refused.status_code == 429
    assert throttled(log_in("colleague@example.com", TEST_PASSWORD))
    assert log_in("colleague@example.com", TEST_PASSWORD, ip="192.0.2.1").status_code == 302


@pytest.mark.parametrize("face", ["web", "admin"])
def test_it_logs_in_with_any_spelling_of_the_email(owner, face):
    client = Client()
    response = log_in("  Owner@EXAMPLE.com ", TEST_PASSWORD, face=face, client=client)

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(owner.pk)


def test_it_counts_every_spelling_of_an_email_as_one(settings, owner):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    for spelling in ("owner@example.com", "OWNER@example.com", "Owner@Example.Com"):
        log_in(spelling, "wrong")

    assert throttled(log_in("oWnEr@example.com", TEST_PASSWORD))


@pytest.mark.parametrize("face", ["web", "admin"])
def test_it_logs_in_while_redis_is_down_and_still_throttles_in_memory(settings, owner, face):
    settings.LOGIN_THROTTLE_STORAGE_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    client = Client()
    assert log_in("owner@example.com", TEST_PASSWORD, face=face, client=client).status_code == 302
    assert logged_in(client)

    for _ in range(3):
        assert not throttled(log_in("owner@example.com", "wrong", face=face))
    assert throttled(log_in("owner@example.com", TEST_PASSWORD, face=face))


def test_its_migration_lower_cases_stored_emails_unless_another_user_has_that_address(make_user, capsys):
    from importlib import import_module

    from django.apps import apps

    from accounts.models import User

    migration = import_module("accounts.migrations.0003_lowercase_emails")
    mixed = make_user("mixed@example.com")
    clash = make_user("clash@example.com")
    twin = make_user("twin@example.com")
    User.objects.filter(pk=mixed.pk).update(email="Mixed@Example.COM")
    User.objects.filter(pk=twin.pk).update(email="Clash@example.com")  # its lower-case form is `clash`'s

    migration.lowercase_emails(apps, None)

    assert User.objects.get(pk=mixed.pk).email == "mixed@example.com"
    assert User.objects.get(pk=clash.pk).email == "clash@example.com"
    assert User.objects.get(pk=twin.pk).email == "Clash@example.com"
    assert "left 'Clash@example.com'" in capsys.readouterr().out
    assert log_in("MIXED@example.com", TEST_PASSWORD).status_code == 302
