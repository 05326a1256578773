"""A generation's success as one statement: the compare-and-set UPDATE and its image rows' INSERT, on PostgreSQL.

Why: a sync generation's success was BEGIN, UPDATE, INSERT, COMMIT, four round trips on every image sold
(bench/RESULTS.md). One statement is atomic by itself: the images are written only if the UPDATE won (a
data-modifying CTE), and nothing is written if it did not. Columns and values come from the models' own fields
(`pre_save`, `get_db_prep_save`), as the ORM's INSERT and UPDATE would send them. The embedded SQLite has no
data-modifying CTEs: transitions.py keeps the ORM's transaction there and when a refund must go with the success.
"""

from datetime import datetime

from django.db import connection

from billing.selectors import USABLE_BATCHES_ARRAYS_SQL, usable_batches_from_arrays
from generations.models import GeneratedImage, Generation
from generations.webhooks.selectors import SUBSCRIBED_IDS_SQL
from gih.sql import column_list, typed_values

# What a success records on the generation row (besides status and finished_at).
SUCCESS_FIELDS = ("provider_request_id", "provider_output", "token_usage", "provider_cost_usd")


def succeed_in_one_statement(generation: Generation, stored: list[GeneratedImage], attempt: int, now: datetime) -> bool:
    """Record the success and the images if `generation` is still running as `attempt`; whether it was.

    The same statement reads which of the owner's webhook endpoints the success goes to (webhooks.selectors), and
    leaves their ids on the generation as `subscribed_endpoint_ids`, and the owner's usable credit batches (for the
    balance in the answer) as `usable_batches`: two round trips fewer for every image sold. Both are read in the
    statement's snapshot, as a query right after it would read them (nothing it writes is among them).
    """
    updates = {"status": Generation.Status.SUCCEEDED, "finished_at": now}
    updates.update({name: getattr(generation, name) for name in SUCCESS_FIELDS})
    set_sql, set_params = [], []
    for name, value in updates.items():
        field = Generation._meta.get_field(name)
        set_sql.append(f"{connection.ops.quote_name(field.column)} = %s")
        set_params.append(field.get_db_prep_save(value, connection))
    image_fields = [field for field in GeneratedImage._meta.concrete_fields if field.attname != "generation_id"]
    rows, image_params = typed_values(image_fields, stored)
    generations, images = Generation._meta.db_table, GeneratedImage._meta.db_table
    # Table and column names come from the models; every value is a parameter.
    sql = (
        f"WITH won AS (UPDATE {generations} SET {', '.join(set_sql)} "  # noqa: S608
        "WHERE id = %s AND status = %s AND attempts = %s RETURNING id) "
        f", written AS (INSERT INTO {images} (generation_id, {column_list(image_fields)}) "
        f"SELECT won.id, v.* FROM won, (VALUES {rows}) AS v "
        "RETURNING 1) "
        f"SELECT (SELECT count(*) FROM written), {SUBSCRIBED_IDS_SQL}, usable.* "
        f"FROM ({USABLE_BATCHES_ARRAYS_SQL}) AS usable"
    )
    event_type = f"generation.{Generation.Status.SUCCEEDED}"
    params = [*set_params, generation.pk, Generation.Status.RUNNING, attempt, *image_params]
    params += [generation.user_id, event_type, generation.user_id, connection.ops.adapt_datetimefield_value(now)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        written, subscribed, *usable = cursor.fetchone()
    if written != len(stored):
        return False
    generation.subscribed_endpoint_ids = {event_type: subscribed or []}
    generation.usable_batches = usable_batches_from_arrays(usable)
    return True
