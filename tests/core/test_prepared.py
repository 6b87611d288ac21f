"""alertum.core.prepared: the hot statement returns its row, joins the caller's
transaction, raises Django's errors, and on PostgreSQL is prepared once per connection
while Django's own queries stay unprepared."""

import pytest
from django.db import IntegrityError, connection, transaction

from alertum.core import prepared
from alertum.core.models import Team

pytestmark = pytest.mark.django_db(transaction=True)

INSERT = f"INSERT INTO {Team._meta.db_table} (name, slug, description) VALUES (%s, %s, %s) RETURNING id"


def test_returns_the_row_and_commits_outside_a_transaction():
    pk = prepared.fetchone(INSERT, ["Ops", "ops", ""])[0]
    assert Team.objects.get(pk=pk).name == "Ops"
    assert prepared.fetchone(f"SELECT name FROM {Team._meta.db_table} WHERE slug = %s", ["nobody"]) is None


def test_joins_the_callers_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        prepared.fetchone(INSERT, ["Ops", "ops", ""])
        raise RuntimeError("roll back")
    assert not Team.objects.exists()


def test_raises_djangos_errors():
    prepared.fetchone(INSERT, ["Ops", "ops", ""])
    with pytest.raises(IntegrityError):
        prepared.fetchone(INSERT, ["Ops again", "ops", ""])  # slug is unique
    assert Team.objects.count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_prepared_once_on_postgresql_and_nothing_else_is():
    for n in range(3):
        prepared.fetchone(INSERT, [f"Team {n}", f"team-{n}", ""])
    Team.objects.filter(slug="team-1").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    # Earlier tests may have prepared their statements on this pooled connection.
    insert = INSERT.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1)
    assert insert in statements
    assert set(statements) <= {insert, f"SELECT name FROM {Team._meta.db_table} WHERE slug = $1"}
    assert connection.connection.prepare_threshold is None  # Django's setting is left as it was
