"""Concurrent writers on one incident: every write lands, in one unbroken chain.

On the embedded SQLite default this pins WAL + IMMEDIATE transactions + busy timeout
(without them, threads fail with "database is locked"); on PostgreSQL, the row lock.
"""

import threading

import pytest
from django.db import connection

from alertum.core.models import Door
from incidents import actions
from incidents.models import TimelineEntry


@pytest.mark.django_db(transaction=True)
def test_parallel_comments_all_land_in_one_unbroken_chain(make_incident, cast):
    incident = make_incident()
    incident.refresh_from_db()
    settled = incident.last_seq  # the declaration, and any note on-call adds after it commits
    errors = []

    def worker(name):
        try:
            for i in range(8):
                actions.add_comment(incident.pk, f"{name} {i}", actor=cast[name], source=Door.API)
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("alice", "bob", "carol", "root")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    entries = list(TimelineEntry.objects.filter(incident=incident).order_by("seq"))
    assert [e.seq for e in entries] == list(range(1, settled + 33))
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.hash and after.compute_hash() == after.hash
