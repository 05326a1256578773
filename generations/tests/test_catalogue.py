"""The per-process catalogue: two queries saved on every generation request, never a stale price."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generations import catalogue as catalogue_module
from generations.catalogue import VERSION_KEY, catalogue
from generations.costs import provider_cost_usd
from generations.models import ImageModel, ModelPrice, ProviderPrice
from generations.pricing import credits_per_image, resolve

pytestmark = pytest.mark.django_db(transaction=True)


def _price(model_id: str = "gpt-image-2") -> int:
    model = catalogue().enabled_model(model_id)
    return credits_per_image(model, resolve(model, aspect_ratio="1:1", size=None, quality="1K"))


def test_it_reads_the_catalogue_once_and_then_from_memory():
    _price()
    with CaptureQueriesContext(connection) as queries:
        _price()
    assert len(queries) == 0


def test_it_sees_a_price_edit_saved_through_the_model_at_the_next_request():
    before = _price()
    price = ModelPrice.objects.get(model_id="gpt-image-2", quality="1K", max_pixels__gte=1024 * 1024)
    price.credits_per_image = before + 7
    price.save()
    assert _price() == before + 7


def test_it_sees_a_bulk_update_and_a_disabled_model():
    before = _price()
    ModelPrice.objects.filter(model_id="gpt-image-2", quality="1K").update(credits_per_image=before + 1)
    assert _price() == before + 1
    ImageModel.objects.filter(pk="gpt-image-2").update(enabled=False)
    assert catalogue().enabled_model("gpt-image-2") is None


def test_it_costs_with_the_cached_provider_price_and_sees_its_edits():
    usage = {"input_tokens": 0, "output_tokens": 1_000_000, "input_tokens_details": {"text_tokens": 0}}
    ProviderPrice.objects.update_or_create(
        model_id="gpt-image-2",
        defaults={"input_text_usd_per_million": 5, "input_image_usd_per_million": 8, "output_usd_per_million": 40},
    )
    assert provider_cost_usd(model_id="gpt-image-2", token_usage=usage) == 40
    with CaptureQueriesContext(connection) as queries:
        assert provider_cost_usd(model_id="gpt-image-2", token_usage=usage) == 40
    assert len(queries) == 0
    ProviderPrice.objects.filter(model_id="gpt-image-2").update(output_usd_per_million=30)
    assert provider_cost_usd(model_id="gpt-image-2", token_usage=usage) == 30
    ProviderPrice.objects.filter(model_id="gpt-image-2").delete()
    assert provider_cost_usd(model_id="gpt-image-2", token_usage=usage) is None


def test_it_reloads_when_another_process_bumped_the_shared_version(settings):
    settings.CATALOGUE_RECHECK_SECONDS = 0
    _price()
    snapshot = catalogue()
    assert catalogue() is snapshot
    cache.incr(VERSION_KEY)  # what another process' edit leaves behind
    assert catalogue() is not snapshot


def test_another_process_edit_reaches_it_within_the_recheck_interval(settings, monkeypatch):
    settings.CATALOGUE_RECHECK_SECONDS = 1
    clock = [1000.0]
    monkeypatch.setattr(catalogue_module.time, "monotonic", lambda: clock[0])
    _price()
    snapshot = catalogue()
    cache.incr(VERSION_KEY)  # another process' edit
    clock[0] += 0.5
    with CaptureQueriesContext(connection) as queries:
        assert catalogue() is snapshot  # within the interval: no look at the version, no query
    assert len(queries) == 0
    clock[0] += 0.6
    assert catalogue() is not snapshot
    assert catalogue().version == cache.get(VERSION_KEY)


def test_a_local_edit_applies_at_once_whatever_the_interval(settings):
    settings.CATALOGUE_RECHECK_SECONDS = 3600
    before = _price()
    ModelPrice.objects.filter(model_id="gpt-image-2", quality="1K").update(credits_per_image=before + 2)
    assert _price() == before + 2


def test_it_reads_the_database_when_the_cache_is_down(settings):
    settings.CATALOGUE_RECHECK_SECONDS = 0
    _price()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with CaptureQueriesContext(connection) as queries:
        assert _price() > 0
    assert len(queries) >= 1
