"""The account area in English, Simplified Chinese and Thai; the API always in English."""

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from billing.services import credits_grant
from conftest import TEST_PASSWORD

GOOD_PASSWORD = "Correct-Horse-Battery-42"
# One phrase per language that the login page shows.
LOG_IN = {"en": "Log in", "zh-hans": "登录", "th": "เข้าสู่ระบบ"}
PAGES = ["home", "keys", "credits", "generations", "playground", "docs"]
PUBLIC_PAGES = ["login", "signup", "password_reset", "docs", "home"]


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def signed_in(user, **headers) -> Client:
    client = Client(**headers)
    client.force_login(user)
    return client


@pytest.mark.parametrize(("accept", "language"), [("zh-CN,zh;q=0.9", "zh-hans"), ("th-TH,th;q=0.8", "th"),
                                                   ("de-DE,de", "en"), ("", "en")])
def test_it_picks_the_language_from_accept_language(db, accept, language):
    response = Client(HTTP_ACCEPT_LANGUAGE=accept).get(reverse("accounts:login"))
    body = response.content.decode()
    assert f'<html lang="{language}">' in body
    assert f"<h1>{LOG_IN[language]}</h1>" in body
    assert response["Content-Language"] == language


@pytest.mark.parametrize("language", ["en", "zh-hans", "th"])
def test_it_renders_every_account_page_in_each_language(user, language):
    client = signed_in(user, HTTP_ACCEPT_LANGUAGE=language)
    for name in PAGES:
        response = client.get(reverse(f"accounts:{name}"))
        assert response.status_code == 200, name
        assert f'<html lang="{language}">' in response.content.decode(), name


@pytest.mark.parametrize("language", ["zh-hans", "th"])
def test_it_renders_the_public_pages_translated(db, language):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    for name in PUBLIC_PAGES:
        body = client.get(reverse(f"accounts:{name}")).content.decode()
        assert f'<html lang="{language}">' in body, name
        assert LOG_IN[language] in body, name  # the header's log-in link at least


def test_it_switches_language_from_any_page_and_keeps_it_in_a_cookie(db):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(reverse("accounts:docs")).content.decode()
    assert 'name="language" value="th"' in page  # the switcher is on the page

    response = client.post(reverse("accounts:set_language"), {"language": "th", "next": "/docs/"})
    assert response.status_code == 302 and response["Location"] == "/docs/"
    assert "การรับรองความถูกต้อง" in client.get("/docs/").content.decode()  # "Authentication", the seed's term


def test_it_refuses_a_foreign_redirect_and_an_unknown_language(db):
    client = Client()
    response = client.post(reverse("accounts:set_language"), {"language": "th", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    client.post(reverse("accounts:set_language"), {"language": "xx", "next": "/"})
    assert "<h1>Log in</h1>" in Client().get(reverse("accounts:login")).content.decode()


def test_it_remembers_a_signed_in_users_choice_on_every_device(user):
    first_device = signed_in(user, HTTP_ACCEPT_LANGUAGE="en")
    first_device.post(reverse("accounts:set_language"), {"language": "zh-hans", "next": "/"})
    user.refresh_from_db()
    assert user.language == "zh-hans"

    # Another browser, asking for English, without the cookie: the account's choice wins.
    other_device = signed_in(user, HTTP_ACCEPT_LANGUAGE="en-US,en")
    body = other_device.get(reverse("accounts:home")).content.decode()
    assert '<html lang="zh-hans">' in body and "积分余额" in body


def test_it_keeps_the_language_a_visitor_signed_up_in(db):
    client = Client(HTTP_ACCEPT_LANGUAGE="th")
    response = client.post(
        reverse("accounts:signup"),
        {"email": "somchai@example.com", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
        follow=True,
    )
    assert User.objects.get(email="somchai@example.com").language == "th"
    assert "ยินดีต้อนรับ! บัญชีของคุณพร้อมใช้งานแล้ว" in response.content.decode()  # the flash message


@pytest.mark.parametrize(
    ("language", "mismatch", "required"),
    [("zh-hans", "两次输入的密码不一致。", "该字段是必填项。"), ("th", "รหัสผ่านทั้งสองช่องไม่ตรงกัน", "ฟิลด์นี้จำเป็น")],
)
def test_it_translates_form_errors(db, language, mismatch, required):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    body = client.post(
        reverse("accounts:signup"), {"email": "a@example.com", "password1": GOOD_PASSWORD, "password2": "other-42x"}
    ).content.decode()
    assert mismatch in body
    body = client.post(reverse("accounts:signup"), {"email": "", "password1": "", "password2": ""}).content.decode()
    assert required in body


def test_it_translates_the_login_error_and_throttle(user, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 1
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = client.post(reverse("accounts:login"), {"username": user.email, "password": "wrong"}).content.decode()
    assert "邮箱地址或密码错误。" in body
    response = client.post(reverse("accounts:login"), {"username": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 429 and "登录失败次数过多" in response.content.decode()


def test_it_sends_the_password_reset_email_in_the_visitors_language(user):
    Client(HTTP_ACCEPT_LANGUAGE="th").post(reverse("accounts:password_reset"), {"email": user.email})
    [message] = mail.outbox
    assert message.subject == "รีเซ็ตรหัสผ่าน GPT Image Hub ของคุณ"
    assert "ตั้งรหัสผ่านใหม่ได้ที่นี่:" in message.body and "/password-reset/" in message.body


def test_it_formats_dates_and_numbers_for_the_language(user):
    credits_grant(user=user, amount=12_345, note="bulk")
    pages = {language: signed_in(user, HTTP_ACCEPT_LANGUAGE=language).get(reverse("accounts:credits")).content.decode()
             for language in ("en", "zh-hans", "th")}
    assert "12,445" in pages["en"]  # 100 from the fixture + 12,345
    assert "年" in pages["zh-hans"] and "月" in pages["zh-hans"]
    thai_months = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
    assert any(month in pages["th"] for month in thai_months)


def test_it_answers_the_api_in_english_whatever_the_browser_or_account_language(api, user):
    user.language = "zh-hans"
    user.save(update_fields=["language"])
    response = api.post(
        "/api/v1/images/generations",
        {"model": "gpt-image-2", "prompt": "x", "n": 10},
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "n: Ensure this value is less than or equal to 4."
    assert "Content-Language" not in response
    missing = APIClient().get("/api/v1/credits", HTTP_ACCEPT_LANGUAGE="th")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missingApiKey"
    assert missing.json()["error"]["message"].isascii()
