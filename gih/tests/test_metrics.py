"""/metrics: bearer-protected Prometheus text, HTTP requests by view/method/status, the backlog gauges.

One process here (the default registry); generations/tests/test_metrics.py counts generations,
credits and provider calls, and sums two gunicorn workers.
"""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from generations.models import Generation

TOKEN = "metrics-token-for-tests"
GENERATE = "/api/v1/images/generations"
RESPONSES = "django_http_responses_total_by_status_view_method_total"
BODY = {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", "quality": "1K"}


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


@pytest.mark.django_db
def test_it_is_a_404_while_no_token_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.usefixtures("metrics_on")
def test_it_refuses_a_missing_or_wrong_token(client):
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}):
        response = client.get("/metrics", **header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert "gih_" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("metrics_on")
def test_it_counts_http_requests_by_view_method_and_status(client, api):
    api.get("/api/v1/credits")
    api.get("/api/v1/generations/gen_unknown")

    samples = scrape(client)
    responses = [dict(labels) for name, labels in samples if name == RESPONSES]
    assert {"method": "GET", "status": "200", "view": "api-credits"} in responses
    assert any(labels["status"] == "404" for labels in responses)
    assert any(name == "django_http_requests_latency_seconds_by_view_method_bucket" for name, _ in samples)


@pytest.mark.django_db
@pytest.mark.usefixtures("metrics_on")
def test_the_gauges_count_queued_and_running_generations(client, api):
    ids = [api.post(GENERATE, {**BODY, "async": True}, format="json").json()["id"] for _ in range(3)]
    Generation.objects.filter(pk=ids[0]).update(status=Generation.Status.RUNNING)

    samples = scrape(client)
    assert samples[("gih_queue_depth", ())] == 2
    assert samples[("gih_generations_in_flight", ())] == 1
