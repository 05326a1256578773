"""The account area, through the Django test client on Postgres, with the real services underneath."""

import io
import logging
import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from accounts.login_throttle import login_throttle_reset
from accounts.models import ApiKey, User
from accounts.services import api_key_create
from billing.models import LedgerEntry
from billing.selectors import balance_get
from billing.services import credits_grant
from conftest import TEST_PASSWORD
from generations.attempts import generation_run
from generations.models import Generation, ImageModel, ModelPrice
from generations.services import generation_request

GOOD_PASSWORD = "Correct-Horse-Battery-42"


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    """Generated images go to a temporary folder; the login throttle starts empty."""
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice_client(client, user) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def hidden_value(page: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', page).group(1)


def csrf_token_from(client: Client, url: str) -> str:
    """GET a page like a browser does, and read the CSRF token its form carries."""
    response = client.get(url)
    assert response.status_code == 200
    return hidden_value(response.content.decode(), "csrfmiddlewaretoken")


def png_upload(name: str = "reference.png", colour: str = "orange"):
    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = name
    return buffer


def generate(user, **data):
    """A finished generation made through the real service (the local renderer draws real PNGs)."""
    body = {"model": "gpt-image-2", "prompt": "A red bicycle", "aspect_ratio": "1:1", "quality": "1K", "n": 1, **data}
    return generation_request(user=user, data=body, files=[]).generation


# --- Anonymous visitors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("accounts:keys", {}),
        ("accounts:key_create", {}),
        ("accounts:key_revoke", {"key_id": 1}),
        ("accounts:credits", {}),
        ("accounts:generations", {}),
        ("accounts:generation_detail", {"generation_id": "gen_x"}),
        ("accounts:generation_status", {"generation_id": "gen_x"}),
        ("accounts:playground", {}),
    ],
)
def test_it_sends_anonymous_visitors_to_the_login_page(db, client, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    method = client.post if name == "accounts:key_create" else client.get
    response = method(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"


def test_it_shows_anonymous_visitors_a_landing_page_at_the_root(db, client):
    response = client.get("/")
    assert response.status_code == 200
    content = response.content.decode()
    assert reverse("accounts:signup") in content
    assert reverse("accounts:docs") in content
    assert reverse("accounts:login") in content


# --- Sign-up, log-in, log-out, password reset ----------------------------------------------------


def test_it_signs_up_a_user_and_logs_them_in(db, csrf_client):
    token = csrf_token_from(csrf_client, reverse("accounts:signup"))
    response = csrf_client.post(
        reverse("accounts:signup"),
        {"email": "New.Person@Example.com", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD,
         "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:home")
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password(GOOD_PASSWORD)
    assert csrf_client.session[SESSION_KEY] == str(user.pk)
    dashboard = csrf_client.get("/")
    assert b"Dashboard" in dashboard.content and b"new.person@example.com" in dashboard.content


def test_it_refuses_a_sign_up_without_a_csrf_token(db, csrf_client):
    response = csrf_client.post(
        reverse("accounts:signup"), {"email": "x@example.com", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    )
    assert response.status_code == 403
    assert not User.objects.filter(email="x@example.com").exists()


@pytest.mark.parametrize(
    ("password1", "password2", "message"),
    [
        (GOOD_PASSWORD, GOOD_PASSWORD + "x", "The two passwords differ."),
        ("short", "short", "This password is too short."),
        ("password123", "password123", "This password is too common."),
        ("48213957602", "48213957602", "This password is entirely numeric."),
    ],
)
def test_it_rejects_mismatched_and_weak_passwords(db, client, password1, password2, message):
    response = client.post(
        reverse("accounts:signup"), {"email": "weak@example.com", "password1": password1, "password2": password2}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="weak@example.com").exists()


def test_it_rejects_a_sign_up_with_an_address_that_already_has_an_account(client, user):
    response = client.post(
        reverse("accounts:signup"),
        {"email": "ALICE@example.com", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


def test_it_logs_in_with_email_and_password(csrf_client, user):
    token = csrf_token_from(csrf_client, reverse("accounts:login"))
    data = {"username": "alice@example.com", "password": TEST_PASSWORD, "csrfmiddlewaretoken": token}
    response = csrf_client.post(reverse("accounts:login"), data)
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:home")
    assert csrf_client.session[SESSION_KEY] == str(user.pk)


def test_it_refuses_a_log_in_without_a_csrf_token(csrf_client, user):
    response = csrf_client.post(reverse("accounts:login"), {"username": "alice@example.com", "password": TEST_PASSWORD})
    assert response.status_code == 403
    assert SESSION_KEY not in csrf_client.session


def login(client: Client, password: str, *, email: str = "alice@example.com", ip: str = "203.0.113.7"):
    return client.post(reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=ip)


def test_it_throttles_failed_log_ins_per_email_and_ip(settings, client, user):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 300
    for _ in range(3):
        response = login(client, "wrong password")
        assert response.status_code == 200
        assert "The email address or password is wrong." in response.content.decode()

    refused = login(client, TEST_PASSWORD)  # the right password, but too late
    assert refused.status_code == 429
    assert "Too many failed log-in attempts. Try again in 5 minutes." in refused.content.decode()
    assert SESSION_KEY not in client.session

    # Another address from the same IP, and the same address from another IP, are not affected.
    assert login(Client(), "wrong", email="bob@example.com").status_code == 200
    other_ip = Client()
    assert login(other_ip, TEST_PASSWORD, ip="198.51.100.1").status_code == 302

    login_throttle_reset()
    assert login(client, TEST_PASSWORD).status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)


def test_it_lets_a_throttled_user_in_once_the_window_has_passed(settings, client, user):
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    settings.LOGIN_THROTTLE_WINDOW_SECONDS = 1
    login(client, "wrong")
    login(client, "wrong")
    refused = login(client, TEST_PASSWORD)
    assert refused.status_code == 429
    assert "Try again in 1 minute." in refused.content.decode()
    time.sleep(1.5)
    assert login(client, TEST_PASSWORD).status_code == 302


def test_it_forgets_earlier_failures_after_a_successful_log_in(settings, client, user):
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    login(client, "wrong")
    assert login(client, TEST_PASSWORD).status_code == 302
    client.post(reverse("accounts:logout"))
    login(client, "wrong")
    assert login(client, TEST_PASSWORD).status_code == 302


def test_it_logs_out_with_a_post_only(alice_client):
    assert alice_client.get(reverse("accounts:logout")).status_code == 405
    response = alice_client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert SESSION_KEY not in alice_client.session


def test_it_emails_a_password_reset_link_that_sets_a_new_password(client, user):
    response = client.post(reverse("accounts:password_reset"), {"email": "alice@example.com"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    link = re.search(r"http://testserver(/password-reset/\S+/)", mail.outbox[0].body).group(1)

    form_page = client.get(link, follow=True)
    assert b"Choose a new password" in form_page.content
    new_password = "Another-Strong-Pass-77"
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password})
    assert done["Location"] == reverse("accounts:password_reset_complete")
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_it_sends_no_reset_email_for_an_unknown_address_but_says_the_same(db, client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mail.outbox == []


# --- Home -----------------------------------------------------------------------------------


def test_it_shows_the_balance_account_type_and_expiring_credits_at_home(alice_client, user):
    expires_at = (timezone.now() + timedelta(days=10)).replace(hour=12, minute=0, second=0, microsecond=0)
    credits_grant(user=user, amount=25, expires_at=expires_at, note="promo")
    response = alice_client.get("/")
    assert response.status_code == 200
    content = response.content.decode()
    assert '<div class="stat-value" data-testid="balance">125</div>' in content
    assert "Pro" in content
    assert expires_at.strftime("%b %-d, %Y, 12:00") in content
    for name in ("keys", "credits", "generations", "playground", "docs"):
        assert reverse(f"accounts:{name}") in content


# --- API keys ---------------------------------------------------------------------------------


def create_key(client: Client, name: str = "CI server", expires_on: str = "", **extra):
    token = hidden_value(client.get(reverse("accounts:keys")).content.decode(), "form_token")
    return client.post(
        reverse("accounts:key_create"), {"name": name, "expires_on": expires_on, "form_token": token, **extra}
    )


def test_it_shows_a_new_keys_secret_once_and_never_stores_it(csrf_client, user, columns_containing, caplog):
    csrf_client.force_login(user)
    page = csrf_client.get(reverse("accounts:keys")).content.decode()
    token, form_token = hidden_value(page, "csrfmiddlewaretoken"), hidden_value(page, "form_token")
    with caplog.at_level(logging.DEBUG):
        response = csrf_client.post(
            reverse("accounts:key_create"),
            {"name": "CI server", "expires_on": "", "form_token": form_token, "csrfmiddlewaretoken": token},
        )
    assert response.status_code == 200
    raw_key = re.search(r"gih_live_[A-Za-z0-9]{32}", response.content.decode()).group(0)
    assert "no-store" in response["Cache-Control"]
    assert "will not be shown again" in response.content.decode()
    key = ApiKey.objects.get(user=user)
    assert key.name == "CI server"
    assert raw_key.startswith(key.display_prefix.rstrip("…"))

    assert raw_key not in caplog.text
    assert columns_containing(key.digest) == ["accounts_apikey.digest"]  # the search does see the keys table
    assert columns_containing(raw_key) == []
    for _ in range(2):
        listing = csrf_client.get(reverse("accounts:keys")).content.decode()
        assert raw_key not in listing
        assert key.display_prefix in listing
    assert raw_key not in csrf_client.get("/").content.decode()
    assert raw_key not in csrf_client.get(reverse("accounts:docs")).content.decode()

    # The secret works against the API.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api.get("/api/v1/credits").json()["credits"] == 100


def test_it_refuses_to_create_a_key_without_a_csrf_token(csrf_client, user):
    csrf_client.force_login(user)
    response = csrf_client.post(reverse("accounts:key_create"), {"name": "x"})
    assert response.status_code == 403
    assert not ApiKey.objects.filter(user=user).exists()


def test_it_does_not_mint_a_second_key_when_the_create_form_is_submitted_again(alice_client, user):
    page = alice_client.get(reverse("accounts:keys")).content.decode()
    data = {"name": "once", "form_token": hidden_value(page, "form_token")}
    first = alice_client.post(reverse("accounts:key_create"), data)
    assert re.search(r"gih_live_[A-Za-z0-9]{32}", first.content.decode())

    replay = alice_client.post(reverse("accounts:key_create"), data, follow=True)  # a browser reload of the POST
    assert replay.redirect_chain == [(reverse("accounts:keys"), 302)]
    assert "no new key was created" in replay.content.decode()
    assert not re.search(r"gih_live_[A-Za-z0-9]{32}", replay.content.decode())
    assert ApiKey.objects.filter(user=user).count() == 1


def test_it_creates_a_key_that_expires_at_the_end_of_the_chosen_day(alice_client, user):
    day = (timezone.now() + timedelta(days=30)).date()
    assert create_key(alice_client, expires_on=day.isoformat()).status_code == 200
    key = ApiKey.objects.get(user=user)
    assert key.expires_at.date() == day
    assert (key.expires_at.hour, key.expires_at.minute) == (23, 59)


def test_it_rejects_an_expiry_date_in_the_past(alice_client, user):
    yesterday = (timezone.now() - timedelta(days=1)).date()
    response = create_key(alice_client, expires_on=yesterday.isoformat())
    assert response.status_code == 200
    assert "The expiry date must be today or later." in response.content.decode()
    assert not ApiKey.objects.filter(user=user).exists()


def test_it_lists_only_the_users_own_keys_with_their_details(alice_client, user, other_user):
    mine = api_key_create(user=user, name="Laptop").api_key
    theirs = api_key_create(user=other_user, name="Mallory's key").api_key
    content = alice_client.get(reverse("accounts:keys")).content.decode()
    assert "Laptop" in content and mine.display_prefix in content
    assert "Mallory" not in content and theirs.display_prefix not in content
    assert "Never" in content  # last used / expiry
    assert 'badge-active">active' in content


def test_it_revokes_a_key_after_a_confirmation_page(csrf_client, user):
    issued = api_key_create(user=user, name="Old laptop")
    csrf_client.force_login(user)
    url = reverse("accounts:key_revoke", kwargs={"key_id": issued.api_key.pk})
    confirm = csrf_client.get(url)
    assert confirm.status_code == 200
    assert "Revoke this key?" in confirm.content.decode() and issued.api_key.display_prefix in confirm.content.decode()
    issued.api_key.refresh_from_db()
    assert not issued.api_key.is_revoked  # a GET changes nothing

    assert csrf_client.post(url).status_code == 403  # no CSRF token
    token = hidden_value(confirm.content.decode(), "csrfmiddlewaretoken")
    response = csrf_client.post(url, {"csrfmiddlewaretoken": token}, follow=True)
    assert response.redirect_chain == [(reverse("accounts:keys"), 302)]
    assert "is revoked" in response.content.decode()
    issued.api_key.refresh_from_db()
    assert issued.api_key.is_revoked

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    assert api.get("/api/v1/credits").json()["error"]["code"] == "invalidApiKey"


def test_it_answers_404_for_another_users_key(alice_client, other_user):
    theirs = api_key_create(user=other_user, name="theirs").api_key
    url = reverse("accounts:key_revoke", kwargs={"key_id": theirs.pk})
    assert alice_client.get(url).status_code == 404
    assert alice_client.post(url).status_code == 404
    theirs.refresh_from_db()
    assert not theirs.is_revoked


# --- Credits ------------------------------------------------------------------------------------


def test_it_paginates_the_ledger_25_movements_a_page(client, make_user):
    user = make_user("many@example.com")
    for number in range(30):
        credits_grant(user=user, amount=number + 1, note=f"grant {number + 1}")
    client.force_login(user)
    first = client.get(reverse("accounts:credits"))
    assert len(first.context["page"].object_list) == 25
    assert "grant 30" in first.content.decode() and "grant 5<" not in first.content.decode()
    assert "Page 1 of 2" in first.content.decode()
    second = client.get(reverse("accounts:credits"), {"page": 2})
    assert [entry.note for entry in second.context["page"].object_list] == [f"grant {n}" for n in range(5, 0, -1)]


def test_it_shows_each_movement_with_its_sign_reason_expiry_and_generation(alice_client, user, other_user):
    expires_at = timezone.now() + timedelta(days=3)
    credits_grant(user=user, amount=7, expires_at=expires_at, note="welcome bonus")
    generation = generate(user, n=2)
    generate(other_user, prompt="not yours")
    content = alice_client.get(reverse("accounts:credits")).content.decode()
    assert "welcome bonus" in content and "+7" in content
    assert expires_at.strftime("%b %-d, %Y") in content
    assert ">-2<" in content
    assert reverse("accounts:generation_detail", kwargs={"generation_id": generation.pk}) in content
    assert "not yours" not in content and LedgerEntry.objects.filter(account_id=other_user.pk).count() == 2


# --- Generations --------------------------------------------------------------------------------


def test_it_lists_the_users_generations_with_thumbnails(alice_client, user, other_user):
    mine = generate(user, prompt="A lighthouse at dawn")
    theirs = generate(other_user, prompt="Mallory's secret prompt")
    response = alice_client.get(reverse("accounts:generations"))
    content = response.content.decode()
    assert mine.pk in content and "A lighthouse at dawn" in content
    assert mine.images.get().file.url in content
    assert theirs.pk not in content and "Mallory" not in content


def test_it_paginates_the_generation_history(alice_client, user):
    for number in range(22):
        generate(user, prompt=f"prompt {number}")
    first = alice_client.get(reverse("accounts:generations"))
    assert len(first.context["page"].object_list) == 20
    assert len(alice_client.get(reverse("accounts:generations"), {"page": 2}).context["page"].object_list) == 2


def test_it_shows_full_images_with_download_links(alice_client, user):
    generation = generate(user, n=2)
    content = alice_client.get(reverse("accounts:generation_detail", kwargs={"generation_id": generation.pk})).content
    content = content.decode()
    for number, image in enumerate(generation.images.all(), start=1):
        assert f'href="{image.file.url}" download="{generation.pk}-{number}.png"' in content
    assert "generation_status" not in content and "status.json" not in content  # finished: no polling


def test_it_answers_404_for_another_users_generation(alice_client, other_user):
    theirs = generate(other_user)
    for name in ("accounts:generation_detail", "accounts:generation_status"):
        assert alice_client.get(reverse(name, kwargs={"generation_id": theirs.pk})).status_code == 404


def test_it_polls_a_queued_generation_until_a_worker_finishes_it(alice_client, user):
    generation = generate(user, **{"async": True})
    assert generation.status == Generation.Status.QUEUED
    status_url = reverse("accounts:generation_status", kwargs={"generation_id": generation.pk})
    detail = alice_client.get(reverse("accounts:generation_detail", kwargs={"generation_id": generation.pk}))
    assert status_url in detail.content.decode()
    assert "setTimeout(poll, 2000)" in detail.content.decode()

    queued = alice_client.get(status_url)
    assert queued["Content-Type"] == "application/json"
    assert "no-store" in queued["Cache-Control"]
    assert queued.json()["status"] == "queued" and queued.json()["images"] == []

    generation_run(generation_id=generation.pk)  # what the Celery worker runs
    finished = alice_client.get(status_url).json()
    assert finished["status"] == "succeeded"
    assert finished["images"][0]["url"].startswith("http://testserver/")
    assert finished["usage"]["credits"] == 1


# --- Playground -----------------------------------------------------------------------------------


def playground_post(client: Client, **fields):
    data = {"model": "gpt-image-2", "prompt": "A red bicycle", "aspect_ratio": "1:1", "quality": "1K", "n": "2",
            "size": "", **fields}
    return client.post(reverse("accounts:playground"), data)


def test_it_generates_from_the_playground_and_charges_credits(alice_client, user):
    page = alice_client.get(reverse("accounts:playground"))
    assert page.status_code == 200 and b'name="reference_images"' in page.content and b"multiple" in page.content
    response = playground_post(alice_client, reference_images=[png_upload(), png_upload("second.png", "blue")])
    generation = Generation.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:generation_detail", kwargs={"generation_id": generation.pk})
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.api_key is None
    assert generation.images.count() == 2
    assert generation.credits_used == 2
    assert balance_get(user=user)["credits"] == 98
    assert LedgerEntry.objects.filter(generation=generation, kind="charge").get().amount == -2


def test_it_accepts_an_openai_style_size_and_quality(alice_client, user):
    playground_post(alice_client, aspect_ratio="", size="1536x1024", quality="low", n="1")
    generation = Generation.objects.get(user=user)
    assert (generation.size, generation.quality) == ("1536x1024", "low")
    assert generation.images.get().width == 1536


def test_it_shows_insufficient_credits_on_the_form_and_charges_nothing(client, make_user):
    poor = make_user("poor@example.com", credits=3)
    client.force_login(poor)
    response = playground_post(client, n="4")
    assert response.status_code == 200
    assert "Not enough credits: this request costs 4, your balance is 3." in response.content.decode()
    assert 'A red bicycle</textarea>' in response.content.decode()  # the prompt is kept
    assert not Generation.objects.filter(user=poor).exists()
    assert balance_get(user=poor)["credits"] == 3
    assert LedgerEntry.objects.filter(account_id=poor.pk).count() == 1  # only the grant


def test_it_shows_invalid_input_on_the_form(alice_client, user):
    response = playground_post(alice_client, aspect_ratio="", size="1024x1024", quality="1K")
    assert response.status_code == 200
    assert "size: cannot be combined with quality &#x27;1K&#x27;" in response.content.decode()
    response = playground_post(alice_client, n="5")
    assert "Ensure this value is less than or equal to 4." in response.content.decode()
    assert not Generation.objects.filter(user=user).exists()
    assert balance_get(user=user)["credits"] == 100


def test_it_shows_a_failed_generation_on_the_form_with_its_refund(settings, alice_client, user):
    # A model whose provider is not configured: the real service fails it and refunds.
    base = ImageModel.objects.get(pk="gpt-image-2")
    broken = ImageModel.objects.create(
        id="broken-model", display_name="Broken", provider="not-configured", provider_model="x",
        aspect_ratios=base.aspect_ratios, tier_qualities=base.tier_qualities, openai_qualities=base.openai_qualities,
    )
    ModelPrice.objects.create(model=broken, quality="1K", max_pixels=2_000_000, credits_per_image=1)
    settings.IMAGE_PROVIDER = "openai"
    response = playground_post(alice_client, model="broken-model", n="1")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Image generation failed" in content and "credits were refunded" in content
    assert Generation.objects.get(user=user).status == Generation.Status.FAILED
    assert balance_get(user=user)["credits"] == 100


def test_it_generates_once_when_the_form_is_submitted_twice(alice_client, user):
    key = hidden_value(alice_client.get(reverse("accounts:playground")).content.decode(), "idempotency_key")
    first = playground_post(alice_client, idempotency_key=key)
    second = playground_post(alice_client, idempotency_key=key)
    assert first["Location"] == second["Location"]
    assert Generation.objects.filter(user=user).count() == 1
    assert balance_get(user=user)["credits"] == 98


def test_it_queues_an_async_generation_from_the_playground(alice_client, user):
    response = playground_post(alice_client, run_async="on", n="1")
    generation = Generation.objects.get(user=user)
    assert generation.is_async and generation.status == Generation.Status.QUEUED
    detail = alice_client.get(response["Location"]).content.decode()
    assert "Waiting for a worker" in detail


# --- Docs ----------------------------------------------------------------------------------------------


def test_it_serves_the_docs_with_the_visitors_base_url_in_every_example(db, client, settings):
    settings.ALLOWED_HOSTS = ["images.example.test"]
    response = client.get(reverse("accounts:docs"), HTTP_HOST="images.example.test")
    assert response.status_code == 200
    content = response.content.decode()
    urls = re.findall(r"curl (\S+)", content)
    assert len(urls) >= 8
    assert all(url.startswith("http://images.example.test/api/v1/") for url in urls), urls
    for topic in ("Idempotency-Key", "poll_url", "reference_image", "insufficientCredits", "expiredApiKey",
                  "generationFailed", "idempotency_key_reused", "async"):
        assert topic in content
    assert "gih_live_" + "x" * 32 in content


def test_it_shows_the_users_key_prefix_in_the_docs(alice_client, user):
    api_key_create(user=user, name="old")
    issued = api_key_create(user=user, name="newest")
    content = alice_client.get(reverse("accounts:docs")).content.decode()
    assert f"Authorization: Bearer {issued.api_key.display_prefix}" in content
    assert issued.raw_key not in content


def test_it_links_the_docs_from_every_page(alice_client, user):
    generation = generate(user)
    names = ["home", "keys", "credits", "generations", "playground", "docs"]
    pages = [reverse(f"accounts:{name}") for name in names]
    pages.append(reverse("accounts:generation_detail", kwargs={"generation_id": generation.pk}))
    for url in pages:
        response = alice_client.get(url)
        assert response.status_code == 200, url
        assert f'href="{reverse("accounts:docs")}"' in response.content.decode(), url
    for url in (reverse("accounts:login"), reverse("accounts:signup"), reverse("accounts:password_reset")):
        assert f'href="{reverse("accounts:docs")}"' in Client().get(url).content.decode(), url
