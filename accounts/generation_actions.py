"""What the account's generation page can do to a generation: cancel it while it is queued."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from generations.transitions import generation_cancel
from gih.errors import GenerationFinished, GenerationRunning, NotFound


@require_POST
@login_required
def generation_cancel_view(request: HttpRequest, generation_id: str) -> HttpResponse:
    try:
        generation = generation_cancel(user=request.user, generation_id=generation_id)
    except NotFound as error:
        raise Http404("No such generation.") from error
    except GenerationRunning:
        messages.warning(request, _("A worker already started this generation, so it can no longer be canceled."))
    except GenerationFinished:
        messages.warning(request, _("This generation has already finished."))
    else:
        messages.success(
            request,
            ngettext(
                "Generation canceled: its %(credits)d credit went back to your balance.",
                "Generation canceled: its %(credits)d credits went back to your balance.",
                generation.credits_refunded,
            )
            % {"credits": generation.credits_refunded},
        )
    return redirect("accounts:generation_detail", generation_id=generation_id)
