"""Which language a request is answered in.

The account area follows, in order: the signed-in user's saved language, the language
cookie set by the switcher, the browser's Accept-Language, English. The API never
translates: clients parse error codes, and DRF's own messages must stay English too.
"""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils import translation

from gih.openai_errors import is_openai_path


def _is_api(request) -> bool:
    """Both API faces: /api/ and the OpenAI face /v1/."""
    return request.path_info.startswith("/api/") or is_openai_path(request.path_info)


def supported_language(code: str | None) -> str | None:
    """`code` as one of LANGUAGES' codes, or None when the hub does not speak it."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Django's LocaleMiddleware plus the user's saved language; English for /api/ and /v1/."""

    def process_request(self, request) -> None:
        if _is_api(request):
            # Looking at request.user here would also cost API calls a session lookup.
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return
        user = getattr(request, "user", None)
        language = supported_language(user.language) if user is not None and user.is_authenticated else None
        if language is None:
            language = translation.get_language_from_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        if _is_api(request):
            return response
        return super().process_response(request, response)
