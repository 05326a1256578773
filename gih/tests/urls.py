"""Test-only URLconf: the real routes plus views that exercise the error paths."""

from django.http import HttpResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gih.urls import handler400, handler404, handler500


class EchoView(APIView):
    """Accepts POST with the project's default parsers and echoes the parsed body."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def post(self, request):
        return Response({"received": request.data})


class BoomView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("secret internals: db password is hunter2")


def html_boom(request) -> HttpResponse:
    raise RuntimeError("secret internals of an HTML page")


urlpatterns = [
    path("api/v1/test/echo", EchoView.as_view()),
    path("api/v1/test/boom", BoomView.as_view()),
    path("api/v1/images/test-boom", BoomView.as_view()),
    path("test/boom", html_boom),
    path("", include("gih.urls")),
]

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
