"""The account area: server-rendered pages over the same services and selectors as the API.

Views only parse a form, call a service or selector, and render.
"""

import secrets
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views import i18n as i18n_views
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors as account_selectors
from accounts.filters import GenerationFilterForm, LedgerFilterForm, livemode_shown
from accounts.forms import ApiKeyCreateForm, LoginForm, SignupForm
from accounts.keys import KEY_PREFIX, SECRET_LENGTH
from accounts.playground import model_with_price_grid
from accounts.services import api_key_create, api_key_revoke, user_language_set, user_sign_up
from accounts.usage import usage_summary
from billing.forms import RedeemForm
from billing.models import AccountType, CreditBatch
from billing.selectors import balance_get, ledger_entries_for_user, orders_for_user
from generations import selectors as generation_selectors
from generations.failures import public_failure_reason
from generations.serializers import generation_payload, model_payload
from gih.locale import supported_language

LEDGER_PAGE_SIZE = 25
GENERATIONS_PAGE_SIZE = 20
ORDERS_SHOWN = 20
# Single-use tokens of rendered "create key" forms: a reloaded POST must not mint a second key.
KEY_FORM_TOKENS_SESSION_KEY = "api_key_form_tokens"
KEY_FORM_TOKENS_KEPT = 5


# --- Home, sign-up, log-in ---------------------------------------------------------


def _base_url(request: HttpRequest) -> str:
    """The visitor's own origin, for copy-pasteable examples."""
    return request.build_absolute_uri("/").rstrip("/")


def _balance(user) -> dict:
    """The API's balance object with its ISO dates parsed, for the templates' date filters."""
    balance = balance_get(user=user)

    def parsed(item: dict) -> dict:
        source = item.get("source", "")
        return {
            **item,
            "expires_at": datetime.fromisoformat(item["expires_at"]),
            "source_label": dict(CreditBatch.Source.choices).get(source, source),
        }

    soonest = balance["next_expiration"]
    return {
        **balance,
        "account_type_label": dict(AccountType.choices).get(balance["account_type"], balance["account_type"]),
        "next_expiration": parsed(soonest) if soonest else None,
        "expiring_batches": [parsed(batch) for batch in balance["expiring_batches"]],
    }


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "accounts/landing.html", {"base_url": _base_url(request)})
    livemode = livemode_shown(request)
    context = {
        "balance": _balance(request.user),
        "recent_generations": generation_selectors.generations_for_user(user=request.user, livemode=livemode)[:4],
        "active_key": account_selectors.api_key_latest_usable(user=request.user),
        "usage": usage_summary(user=request.user, livemode=livemode),
        "livemode": livemode,
    }
    return render(request, "accounts/home.html", context)


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("accounts:home")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            user = user_sign_up(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password1"],
                language=request.LANGUAGE_CODE,
            )
        except IntegrityError:  # the same address signed up a moment ago
            form.add_error("email", _("An account with this email address already exists. Log in instead?"))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("Welcome! Your account is ready. Create an API key to start."))
            return redirect("accounts:home")
    return render(request, "accounts/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form: LoginForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.is_throttled:
            response.status_code = 429
        return response


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/emails/password_reset.txt"
    subject_template_name = "accounts/emails/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")
    extra_email_context = {"site_name": settings.SITE_NAME}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language switcher: Django's set_language (cookie, safe redirect), remembered on the account."""
    response = i18n_views.set_language(request)
    language = supported_language(request.POST.get("language"))
    if language is not None and request.user.is_authenticated:
        user_language_set(user=request.user, language=language)
    return response


# --- API keys -------------------------------------------------------------------------


def _issue_key_form_token(request: HttpRequest) -> str:
    token = secrets.token_urlsafe(16)
    kept = request.session.get(KEY_FORM_TOKENS_SESSION_KEY, [])[-(KEY_FORM_TOKENS_KEPT - 1) :]
    request.session[KEY_FORM_TOKENS_SESSION_KEY] = [*kept, token]
    return token


def _spend_key_form_token(request: HttpRequest) -> bool:
    tokens = request.session.get(KEY_FORM_TOKENS_SESSION_KEY, [])
    token = request.POST.get("form_token", "")
    if token not in tokens:
        return False
    tokens.remove(token)
    request.session[KEY_FORM_TOKENS_SESSION_KEY] = tokens
    return True


def _render_keys(request: HttpRequest, form: ApiKeyCreateForm) -> HttpResponse:
    context = {
        "keys": account_selectors.api_keys_for_user(user=request.user),
        "form": form,
        "form_token": _issue_key_form_token(request),
    }
    return render(request, "accounts/keys.html", context)


@login_required
@require_http_methods(["GET"])
def api_keys(request: HttpRequest) -> HttpResponse:
    return _render_keys(request, ApiKeyCreateForm())


@never_cache
@login_required
@require_http_methods(["POST"])
def api_key_create_view(request: HttpRequest) -> HttpResponse:
    """Create a key and show its secret in this response only: it is never stored, redirected or cached."""
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _render_keys(request, form)
    if not _spend_key_form_token(request):
        messages.warning(
            request,
            _(
                "That form was already used, so no new key was created. A key's secret is shown only once: "
                "if you did not save it, revoke that key and create a new one."
            ),
        )
        return redirect("accounts:keys")
    issued = api_key_create(
        user=request.user,
        name=form.cleaned_data["name"],
        expires_at=form.expires_at,
        limits=form.limits,
        mode=form.cleaned_data["mode"],
    )
    context = {"key": issued.api_key, "raw_key": issued.raw_key, "base_url": _base_url(request)}
    return render(request, "accounts/key_created.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = account_selectors.api_key_get_for_user(user=request.user, key_id=key_id)
    if api_key is None:
        raise Http404("No such API key.")
    if request.method == "POST":
        api_key_revoke(api_key=api_key)
        revoked = {"name": api_key.name, "prefix": api_key.display_prefix}
        messages.success(request, _("Key “%(name)s” (%(prefix)s) is revoked.") % revoked)
        return redirect("accounts:keys")
    return render(request, "accounts/key_revoke.html", {"key": api_key})


# --- Credits ---------------------------------------------------------------------------


@login_required
def credits_history(request: HttpRequest) -> HttpResponse:
    filters = LedgerFilterForm(request.GET)
    entries = ledger_entries_for_user(user=request.user, **filters.selector_filters())
    page = Paginator(entries, LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "balance": _balance(request.user),
        "redeem_form": RedeemForm(),
        "orders": orders_for_user(user=request.user)[:ORDERS_SHOWN],
        "filters": filters,
        "query": filters.query_string(),
    }
    return render(request, "billing/ledger.html", context)


# --- Generations and models ------------------------------------------------------------


@login_required
def generation_list(request: HttpRequest) -> HttpResponse:
    filters = GenerationFilterForm(request.GET, models=generation_selectors.enabled_models())
    generations = generation_selectors.generations_for_user(user=request.user, **filters.selector_filters())
    page = Paginator(generations, GENERATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "filters": filters, "query": filters.query_string(), "livemode": filters.livemode}
    return render(request, "generations/list.html", context)


def _own_generation(request: HttpRequest, generation_id: str):
    generation = generation_selectors.generation_get_for_user(user=request.user, generation_id=generation_id)
    if generation is None:
        raise Http404("No such generation.")
    return generation


@login_required
def generation_detail(request: HttpRequest, generation_id: str) -> HttpResponse:
    generation = _own_generation(request, generation_id)
    context = {
        "generation": generation,
        "failure_reason": (
            _(public_failure_reason(generation.error_code)) if generation.status == generation.Status.FAILED else ""
        ),
        "pending_slots": range(1, generation.n + 1),
        "slot_aspect": generation.size.replace("x", " / ") if "x" in generation.size else "1",
        "created_ts": str(int(generation.created_at.timestamp())),
    }
    return render(request, "generations/detail.html", context)


@never_cache
@login_required
def generation_status(request: HttpRequest, generation_id: str) -> JsonResponse:
    """What the detail page polls while a generation is queued or running: the API's object."""
    generation = _own_generation(request, generation_id)
    return JsonResponse(generation_payload(generation, absolute_url=request.build_absolute_uri))


# --- Docs ---------------------------------------------------------------------------------


def docs(request: HttpRequest) -> HttpResponse:
    key = account_selectors.api_key_latest_usable(user=request.user) if request.user.is_authenticated else None
    context = {
        "base_url": _base_url(request),
        "key_example": key.display_prefix if key else KEY_PREFIX + "x" * SECRET_LENGTH,
        "key_is_real": key is not None,
        "models": [model_with_price_grid(model_payload(model)) for model in generation_selectors.enabled_models()],
        "max_reference_mb": settings.MAX_REFERENCE_IMAGE_BYTES // (1024 * 1024),
        "max_prompt_length": settings.MAX_PROMPT_LENGTH,
        "sync_timeout_seconds": settings.GENERATION_TIMEOUT_SECONDS,
        "image_retention_days": settings.IMAGE_RETENTION_DAYS,
    }
    return render(request, "docs/index.html", context)
