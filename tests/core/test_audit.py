"""The audit trail: hash-chained, append-only (model and PostgreSQL), and verifiable with
`manage.py verify_audit`, which names the first broken entry."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import Error as DatabaseError
from django.db import connection, transaction

from alertum.core import audit
from alertum.core.actions import delete_config, save_config
from alertum.core.hashchain import GENESIS
from alertum.core.models import AuditEntry, AuditHead, Door, Team
from incidents.models import TimelineEntry

pytestmark = pytest.mark.django_db

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's trigger")
on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite",
                               reason="tampering needs raw UPDATE/DELETE, which PostgreSQL refuses")


@pytest.fixture
def trail(cast):
    """Three entries written through the actions: a team created, renamed, deleted."""
    team = save_config(Team(name="Growth", slug="growth"), actor=cast["root"], source=Door.ADMIN,
                       ip_address="198.51.100.4")
    before = audit.snapshot(team, ["name", "slug", "description"])
    team.name = "Growth & Ads"
    save_config(team, actor=cast["root"], source=Door.ADMIN, before=before, fields=["name", "slug", "description"])
    delete_config(team, actor=cast["alice"], source=Door.API)
    return list(AuditEntry.objects.order_by("seq"))


def run_verify():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue().strip()


def raw_sql(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_each_entry_links_to_the_hash_of_the_one_before(trail):
    assert [e.action for e in trail] == ["team.created", "team.updated", "team.deleted"]
    assert trail[0].prev_hash == GENESIS
    assert [e.prev_hash for e in trail[1:]] == [e.hash for e in trail[:-1]]
    assert all(e.hash == e.compute_hash() for e in trail)
    assert len({e.hash for e in trail}) == 3


def test_entry_records_who_what_from_where_and_via_which_door(trail, cast):
    created, updated, deleted = trail
    assert (created.actor, created.actor_repr, created.source, created.ip_address) == (
        cast["root"], "root", "admin", "198.51.100.4")
    assert created.object_type == "core.team" and created.object_repr == "Growth"
    assert updated.changes == {"name": ["Growth", "Growth & Ads"]}
    assert (deleted.actor, deleted.source, deleted.object_repr) == (cast["alice"], "api", "Growth & Ads")


def test_sequential_appends_number_entries_one_to_n_and_move_the_head(cast):
    for i in range(6):
        audit.record("test.appended", None, actor=cast["root"], source=Door.CLI, object_type="test.thing",
                     object_repr=f"thing {i}")
    entries = list(AuditEntry.objects.order_by("seq"))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    head = AuditHead.objects.get(pk=1)
    assert (head.last_seq, head.last_hash) == (6, entries[-1].hash)
    assert audit.verify_chain() is None


def test_entry_without_actor_is_recorded_as_system():
    entry = audit.record("maintenance.ticked", None, actor=None, source=Door.BEAT, object_type="test.thing")
    assert entry.actor is None and entry.actor_repr == "system" and entry.source == "beat"


def test_model_refuses_to_change_or_delete_an_existing_entry(trail):
    entry = AuditEntry.objects.get(seq=2)
    entry.object_repr = "something else"
    with pytest.raises(PermissionError, match="append-only"):
        entry.save()
    with pytest.raises(PermissionError, match="append-only"):
        entry.delete()
    with pytest.raises(PermissionError, match="append-only"):
        AuditEntry.objects.filter(seq=2).update(object_repr="something else")
    with pytest.raises(PermissionError, match="append-only"):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(seq=2).object_repr == "Growth & Ads"
    assert audit.verify_chain() is None


def test_verify_command_reports_an_intact_trail(trail):
    assert run_verify() == "audit trail intact: 3 entries"


def test_verify_command_on_an_empty_trail(db):
    assert run_verify() == "audit trail intact: 0 entries"


@on_sqlite
def test_verify_chain_finds_an_entry_changed_behind_the_models_back(trail):
    raw_sql("UPDATE core_auditentry SET actor_repr = %s WHERE seq = %s", ["somebody-else", 2])
    assert audit.verify_chain().seq == 2
    with pytest.raises(CommandError, match=r"broken at entry seq 2 \(team.updated core.team .*changed"):
        run_verify()


@on_sqlite
def test_verify_chain_finds_a_changed_entry_even_with_its_hash_recomputed(trail):
    # A forger who rewrites an entry and its own hash still breaks the next entry's link.
    forged = AuditEntry.objects.get(seq=1)
    forged.ip_address = "192.0.2.99"
    raw_sql("UPDATE core_auditentry SET ip_address = %s, hash = %s WHERE seq = 1",
            ["192.0.2.99", forged.compute_hash()])
    assert audit.verify_chain().seq == 2
    with pytest.raises(CommandError, match=r"seq 2 .*does not link to the entry before it"):
        run_verify()


@on_sqlite
def test_verify_finds_a_removed_middle_entry(trail):
    raw_sql("DELETE FROM core_auditentry WHERE seq = %s", [2])
    assert audit.verify_chain().seq == 3
    with pytest.raises(CommandError, match=r"broken at entry seq 3 \(team.deleted .*removed"):
        run_verify()


@on_sqlite
def test_verify_command_finds_removed_last_entries(trail):
    raw_sql("DELETE FROM core_auditentry WHERE seq = %s", [3])
    assert audit.verify_chain() is None  # the chain alone cannot see its tail cut off ...
    with pytest.raises(CommandError, match=r"after entry seq 2: .* 3 entries were written"):
        run_verify()  # ... the head row can


@on_sqlite
def test_verify_command_exits_with_status_1_when_broken(trail):
    raw_sql("UPDATE core_auditentry SET changes = %s WHERE seq = %s", ['{"name": ["x", "y"]}', 2])
    with pytest.raises(CommandError) as failure:
        run_verify()
    assert failure.value.returncode == 1


@on_postgres
@pytest.mark.parametrize("sql", [
    "UPDATE core_auditentry SET object_repr = 'forged' WHERE seq = 2",
    "DELETE FROM core_auditentry WHERE seq = 2",
])
def test_postgres_refuses_to_change_audit_entries(trail, sql):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw_sql(sql, None)
    assert AuditEntry.objects.get(seq=2).object_repr == "Growth & Ads"
    assert run_verify() == "audit trail intact: 3 entries"


@on_postgres
@pytest.mark.parametrize("sql", [
    "UPDATE incidents_timelineentry SET data = '{}' WHERE incident_id = %s",
    "DELETE FROM incidents_timelineentry WHERE incident_id = %s",
])
def test_postgres_refuses_to_change_timeline_entries(incident, sql):
    before = list(TimelineEntry.objects.filter(incident=incident).values_list("seq", "data"))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw_sql(sql, [incident.pk])
    assert list(TimelineEntry.objects.filter(incident=incident).values_list("seq", "data")) == before
