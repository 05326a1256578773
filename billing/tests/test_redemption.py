"""Redemption codes: their format and storage, the API and page that redeem them, the limits, the staff tools."""

import base64
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_key_create
from billing import codes
from billing.codes import CodeTerms, redemption_codes_create
from billing.models import CreditBatch, LedgerEntry, Redemption, RedemptionCode
from billing.redeeming import INVALID_CODE_MESSAGE
from billing.selectors import balance_get, billing_audit
from billing.tests.factories import frozen_clock

pytestmark = pytest.mark.django_db

URL = "/api/v1/credits/redeem"
CODE_PATTERN = re.compile(r"GIH(-[0-9A-HJKMNP-TV-Z]{4}){4}")


@pytest.fixture(autouse=True)
def clean_counters():
    cache.clear()  # the failure windows of earlier tests' users (ids are reused after a flush)
    yield
    cache.clear()


@pytest.fixture
def client_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user).raw_key}")
        return client

    return make


def make_code(**terms) -> str:
    return redemption_codes_create(count=1, terms=CodeTerms(**{"credits": 50, **terms}))[0]


def test_it_makes_codes_of_80_random_bits_in_an_unambiguous_alphabet():
    made = {codes.generate_code() for _ in range(2000)}
    assert len(made) == 2000
    assert all(CODE_PATTERN.fullmatch(code) for code in made)
    assert len(codes.ALPHABET) == 32 and not set("ILOU") & set(codes.ALPHABET)
    assert codes.CODE_LENGTH * 5 - codes.GROUP_LENGTH * 5 >= 60  # secret bits beyond the shown prefix


def test_it_stores_only_a_keyed_digest_and_a_display_prefix(settings):
    raw = make_code(label="Launch event")
    row = RedemptionCode.objects.get()
    body = raw.replace("-", "")[3:]
    assert row.prefix == raw[:8] and body not in row.digest and raw not in str(row.__dict__)
    assert row.digest == codes.code_digest(body) and len(row.digest) == 64
    settings.REDEMPTION_CODE_PEPPER = "another-pepper"
    assert codes.code_digest(body) != row.digest  # keyed: the table alone cannot be checked against guesses


def test_it_reads_codes_as_people_type_them():
    raw = make_code()
    body = raw.replace("-", "")[3:]
    sloppy = " " + raw.lower().replace("-", " ") + " "
    assert codes.canonical(sloppy) == codes.canonical(body) == body
    assert codes.canonical(raw.replace("0", "O").replace("1", "I")) == body
    for bad in ("", "GIH-", "x" * 100, raw + "A", None, 12):
        assert codes.canonical(bad) is None


def test_it_redeems_a_code_through_the_api_into_one_batch_and_ledger_row(make_user, client_for):
    user = make_user(credits=5)
    raw = make_code(credits=50, credit_expiry_days=30, label="Gift cards")

    response = client_for(user).post(URL, {"code": raw}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    batch = CreditBatch.objects.get(source=CreditBatch.Source.REDEMPTION)
    assert body["object"] == "redemption" and body["credits"] == 50
    assert body["batch"]["id"] == batch.pk and body["batch"]["source"] == "redemption"
    assert body["balance"]["credits"] == 55 == balance_get(user=user)["credits"]
    assert timedelta(days=29, hours=23) < batch.expires_at - timezone.now() <= timedelta(days=30)
    assert body["batch"]["expires_at"].endswith("Z")
    entry = LedgerEntry.objects.get(batch=batch)
    assert (entry.kind, entry.amount) == ("grant", 50)
    assert RedemptionCode.objects.get().uses == 1
    assert Redemption.objects.get().batch == batch
    assert billing_audit() == []


def test_it_gives_one_answer_for_unknown_used_up_expired_and_revoked_codes(make_user, client_for):
    owner, other = make_user(), make_user()
    used = make_code()
    assert client_for(owner).post(URL, {"code": used}, format="json").status_code == 200
    expiring = make_code()
    revoked = make_code()
    codes.redemption_codes_revoke(codes=RedemptionCode.objects.filter(prefix=revoked[:8]))
    client = client_for(other)

    answers = []
    for raw in (codes.generate_code(), used, revoked, "not-a-code"):
        answers.append(client.post(URL, {"code": raw}, format="json"))
    with frozen_clock(timezone.now()):
        RedemptionCode.objects.filter(prefix=expiring[:8]).update(valid_until=timezone.now())
        answers.append(client.post(URL, {"code": expiring}, format="json"))

    for response in answers:
        assert response.status_code == 400
        assert response.json() == {"error": {"message": INVALID_CODE_MESSAGE, "code": "invalid_code"}}
    assert balance_get(user=other)["credits"] == 0
    assert billing_audit() == []


def test_it_lets_a_user_redeem_a_multi_use_code_once(make_user, client_for):
    user = make_user()
    raw = make_code(max_uses=5)
    client = client_for(user)

    assert client.post(URL, {"code": raw}, format="json").status_code == 200
    again = client.post(URL, {"code": raw}, format="json")

    assert again.status_code == 400 and again.json()["error"]["code"] == "already_redeemed"
    assert RedemptionCode.objects.get().uses == 1  # the refused attempt claimed no use
    assert balance_get(user=user)["credits"] == 50


@pytest.mark.parametrize(
    "body", [{}, {"code": ""}, {"code": 123}, {"code": None}, {"code": ["GIH"]}, [], "GIH"], ids=repr
)
def test_it_rejects_a_malformed_body_with_a_clear_400(make_user, client_for, body):
    response = client_for(make_user()).post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request" and "code" in response.json()["error"]["message"]


def test_it_needs_an_api_key(anon_api):
    response = anon_api.post(URL, {"code": "GIH-0000-0000-0000-0000"}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "missingApiKey"


def test_it_refuses_the_eleventh_failed_redemption_in_an_hour_with_429(make_user, client_for, settings):
    user = make_user()
    client = client_for(user)
    for _ in range(10):
        assert client.post(URL, {"code": codes.generate_code()}, format="json").status_code == 400

    refused = client.post(URL, {"code": make_code()}, format="json")  # even a good code, until the window ends

    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused["Retry-After"]) <= settings.REDEEM_FAILURE_WINDOW_SECONDS
    other = client_for(make_user())
    assert other.post(URL, {"code": codes.generate_code()}, format="json").status_code == 400  # per user
    cache.clear()  # the window ended
    assert client.post(URL, {"code": make_code()}, format="json").status_code == 200


def test_it_does_not_count_successful_redemptions_against_the_limit(make_user, client_for):
    user = make_user()
    client = client_for(user)
    for _ in range(9):
        assert client.post(URL, {"code": codes.generate_code()}, format="json").status_code == 400
    for _ in range(3):
        assert client.post(URL, {"code": make_code(credits=1)}, format="json").status_code == 200
    assert client.post(URL, {"code": codes.generate_code()}, format="json").status_code == 400  # the 10th failure
    assert client.post(URL, {"code": codes.generate_code()}, format="json").status_code == 429


def test_it_redeems_on_the_credits_page(make_user, client):
    user = make_user()
    client.force_login(user)
    raw = make_code(credits=7, max_uses=2)

    page = client.post("/credits/redeem/", {"code": raw}, follow=True)

    assert page.status_code == 200
    assert "7 credits were added" in page.content.decode()
    assert balance_get(user=user)["credits"] == 7
    wrong = client.post("/credits/redeem/", {"code": raw}, follow=True)
    assert "already redeemed" in wrong.content.decode()
    assert client.get("/credits/").status_code == 200


def test_the_command_prints_one_code_per_line_and_nothing_else():
    out, err = StringIO(), StringIO()
    call_command(
        "create_redemption_codes", "--count", "3", "--credits", "25", "--credit-expiry-days", "90",
        "--valid-days", "30", "--max-uses", "2", "--label", "Reseller A", stdout=out, stderr=err,
    )
    printed = out.getvalue().split()
    assert len(printed) == 3 and all(CODE_PATTERN.fullmatch(code) for code in printed)
    rows = list(RedemptionCode.objects.all())
    terms = {(row.credits, row.credit_expiry_days, row.max_uses, row.label) for row in rows}
    assert terms == {(25, 90, 2, "Reseller A")}
    assert all(timedelta(days=29) < row.valid_until - timezone.now() <= timedelta(days=30) for row in rows)
    assert {row.digest for row in rows} == {codes.code_digest(codes.canonical(code)) for code in printed}


@pytest.mark.parametrize("args", [["--count", "0", "--credits", "5"], ["--count", "2", "--credits", "-1"],
                                  ["--count", "20000", "--credits", "5"], ["--credits", "5"]])
def test_the_command_refuses_bad_arguments(args):
    with pytest.raises(CommandError):
        call_command("create_redemption_codes", *args, stdout=StringIO(), stderr=StringIO())
    assert not RedemptionCode.objects.exists()


def test_staff_create_a_batch_in_the_admin_and_see_the_codes_once_with_a_csv(admin_client, admin_user):
    page = admin_client.post(
        "/admin/billing/redemptioncode/add/",
        {"count": "4", "credits": "30", "credit_expiry_days": "", "valid_days": "7", "max_uses": "1", "label": "Expo"},
    )

    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    shown = re.findall(r"GIH(?:-[0-9A-HJKMNP-TV-Z]{4}){4}", html)
    assert len(set(shown)) == 4
    csv_uri = re.search(r'href="data:text/csv;base64,([^"]+)"', html).group(1)
    csv_text = base64.b64decode(csv_uri).decode()
    assert csv_text.splitlines()[0].startswith("code,credits") and all(code in csv_text for code in shown)
    assert RedemptionCode.objects.filter(label="Expo", created_by=admin_user).count() == 4
    listing = admin_client.get("/admin/billing/redemptioncode/").content.decode()
    assert not any(code in listing for code in shown)  # never shown again


def test_staff_see_who_redeemed_and_revoke_codes(admin_client, make_user, client_for):
    user = make_user("redeemer@example.com")
    raw = make_code(max_uses=3)
    client_for(user).post(URL, {"code": raw}, format="json")
    code = RedemptionCode.objects.get()

    detail = admin_client.get(f"/admin/billing/redemptioncode/{code.pk}/change/").content.decode()
    assert "redeemer@example.com" in detail
    admin_client.post(
        "/admin/billing/redemptioncode/", {"action": "revoke", "_selected_action": [code.pk]}, follow=True
    )

    code.refresh_from_db()
    assert code.revoked_at is not None and code.status == "revoked"
    late = client_for(make_user()).post(URL, {"code": raw}, format="json")
    assert late.status_code == 400 and late.json()["error"]["code"] == "invalid_code"
    assert balance_get(user=user)["credits"] == 50  # redeemed credits stay
    assert billing_audit() == []


def test_the_audit_flags_a_code_whose_uses_do_not_match_its_redemptions(make_user, client_for):
    raw = make_code(max_uses=3)
    client_for(make_user()).post(URL, {"code": raw}, format="json")
    assert billing_audit() == []

    RedemptionCode.objects.update(uses=2)  # as a bug or a hand edit would

    (problem,) = billing_audit()
    assert problem.account_id is None and "2 uses but 1 redemptions" in problem.message
    with pytest.raises(CommandError):
        call_command("billing_audit", stdout=StringIO(), stderr=StringIO())
