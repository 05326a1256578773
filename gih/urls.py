from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerView, SpectacularYAMLAPIView

from gih import errors, health, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-json"),
    path("api/v1/openapi.yaml", SpectacularYAMLAPIView.as_view(), name="openapi-yaml"),
    path("docs/reference/", SpectacularSwaggerView.as_view(url_name="openapi-json"), name="api-reference"),
    path("api/v1/", include("billing.urls")),
    path("api/v1/", include("generations.urls")),
    re_path(r"^api/", errors.api_not_found),
    path("v1/", include("generations.urls_openai")),  # the OpenAI-exact face
    re_path(r"^v1(/|$)", errors.api_not_found),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),  # Prometheus' scrape, not an API route
    path("", include("billing.web_urls")),
    path("", include("generations.webhooks.web_urls")),
    path("", include("accounts.urls")),
]

if settings.SERVE_MEDIA:
    # Local media (no object store configured): served by the app itself. Image keys
    # are unguessable, so knowing a URL is what grants access, as with S3 URLs.
    media_prefix = settings.MEDIA_URL.lstrip("/")
    urlpatterns.append(re_path(rf"^{media_prefix}(?P<path>.+)$", serve, {"document_root": settings.MEDIA_ROOT}))

handler400 = errors.handler400
handler404 = errors.handler404
handler500 = errors.handler500
