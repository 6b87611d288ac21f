"""One hot statement, prepared once per connection (PostgreSQL).

Django's PostgreSQL backend binds parameters on the client (psycopg's ClientCursor): every
execution sends the statement as new text, which the server parses and plans again, and
psycopg quotes each value in Python first. For the one statement of a hot door (the
intake accept, a heartbeat ping) that was about a third of PostgreSQL's work per request
(pgbench on this machine: 6,100 inserts/s as plain text, 9,200 prepared;
docs/performance.md). Here the statement is bound on the server and prepared on first use
per pooled connection; psycopg keeps the prepared names per connection, so a connection
handed out again by the pool reuses them.

Anything but PostgreSQL goes through Django's own cursor. Errors are Django's
(`connection.wrap_database_errors`), and the statement joins the caller's transaction
as any other would; `transaction.on_commit` works as usual.
"""

from django.db import connection

_ONLY_WHEN_ASKED = 2**31


def fetchone(sql: str, params: list):
    """Run `sql` (parameters marked %s) and return its first row, or None."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    # Django turns psycopg's automatic preparing off (prepare_threshold None), which also
    # disables prepare=True; a threshold no query reaches lets only this one be prepared.
    saved, raw.prepare_threshold = raw.prepare_threshold, _ONLY_WHEN_ASKED
    try:
        with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchone()
    finally:
        raw.prepare_threshold = saved
