"""How many statements a generation sends to Postgres: a count, pinned, so a change that adds round trips
to the money path shows up in review (bench/RESULTS.md has what each one costs).

Transactional, as in production (no test transaction around it, so no savepoints of the test's own).
BEGIN and COMMIT are counted: each is a round trip.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_cleanup")]

# Round trips, BEGIN and COMMIT included. Was 20 before the charge lost its savepoints and the
# lock_timeout its own statement, then 3 more came with per-key limits (one: the key's and its account
# type's, joined), provider costs and webhooks; the provider price then joined the cached catalogue
# (bench/RESULTS.md); then 3 fewer: the key's limits and the pre-check's credits came into the authenticating
# query (billing/api_key_loaders.py), the double-charge check into the batches' one; then 3 fewer again: a
# success with nothing to refund is one statement (generations/success_statement.py), without BEGIN and COMMIT;
# then the batch update and the ledger insert became one (billing.services.ledger._write_takes); then 2 fewer: the
# generation's INSERT rides on that statement too, and the success reads the webhook subscriptions; then the success
# also read the usable batches for the balance in the answer.
# Adding one? Count it here, and say in the commit what it buys.
SYNC_GENERATION_STATEMENTS = 7
_CATALOGUE = re.compile(r'FROM "generations_(imagemodel|modelprice)"')
BODY = {"model": "gpt-image-2", "prompt": "A lighthouse at dusk", "quality": "low", "size": "1024x1024"}


def _statements(api, path: str, body: dict) -> list[str]:
    assert api.post(path, body, format="json").status_code in (200, 202)  # warms the catalogue snapshot
    with CaptureQueriesContext(connection) as captured:
        response = api.post(path, body, format="json")
    assert response.status_code in (200, 202), response.content
    # The catalogue's own reloads (after any edit, in any process) are generations/tests/test_catalogue.py's.
    return [query["sql"] for query in captured.captured_queries if not _CATALOGUE.search(query["sql"])]


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/images/generations", {**BODY, "response_format": "b64_json"}), ("/api/v1/images/generations", BODY)],
)
def test_a_sync_generation_sends_a_fixed_number_of_statements(api, openai_standin, s3_storage, path, body):
    statements = _statements(api, path, body)

    # Key, user, its limits and credits; BEGIN, account lock (with its lock_timeout), batches (with the
    # not-yet-charged check), the generation's insert with the batch update and the ledger insert, COMMIT; the
    # success with its images, the webhook subscriptions and the usable batches (the balance in the answer).
    assert len(statements) == SYNC_GENERATION_STATEMENTS, "\n".join(statements)
    assert not [sql for sql in statements if "SAVEPOINT" in sql]
