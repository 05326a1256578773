import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gih.settings")
django_application = get_wsgi_application()

from gih.chunked import ChunkedBodyMiddleware  # noqa: E402 (imports DRF, which needs the apps loaded)

application = ChunkedBodyMiddleware(django_application)
