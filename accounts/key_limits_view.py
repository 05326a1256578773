"""The account area's page that edits one API key's limits (the create form sets them too: views.py)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import selectors
from accounts.key_forms import ApiKeyLimitsForm, api_key_limits_initial
from accounts.services import api_key_limits_set
from generations.admission import key_summary


@login_required
@require_http_methods(["GET", "POST"])
def api_key_limits_view(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = selectors.api_key_get_for_user(user=request.user, key_id=key_id)
    if api_key is None:
        raise Http404("No such API key.")
    initial = api_key_limits_initial(api_key)
    form = ApiKeyLimitsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        api_key_limits_set(api_key=api_key, limits=form.limits)
        messages.success(request, _("The limits of key “%(name)s” are saved.") % {"name": api_key.name})
        return redirect("accounts:keys")
    context = {"key": api_key, "form": form, "summary": key_summary(api_key)}
    return render(request, "accounts/key_limits.html", context)
