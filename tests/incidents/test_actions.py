"""The incidents actions: one timeline entry per change, effects after commit, rules enforced."""

import pytest
from django.db import transaction

from alertum.core.errors import Conflict, Forbidden, Invalid
from alertum.core.models import Door
from incidents import actions, signals
from incidents.models import Incident, IncidentRole, Status, TimelineEntry

pytestmark = pytest.mark.django_db(transaction=False)


def kinds(incident):
    return list(TimelineEntry.objects.filter(incident=incident).values_list("kind", flat=True))


def test_declare_numbers_incidents_and_sets_severity_from_matrix(make_incident, services):
    first = make_incident(impact="outage")
    second = make_incident(title="Search slow", team="platform", actor="oscar", impact="degraded")
    assert (first.reference, second.reference) == ("INC-1", "INC-2")
    assert first.severity == "P1" and "tier-1" in first.severity_reason
    assert second.severity == "P3"
    assert first.channel_slug.startswith("inc-") and first.channel_slug.endswith("-checkout-errors")
    assert kinds(first) == ["incident.declared"]
    assert first.checklist.filter(text="Verify rollback options").exists()


def test_declare_with_other_severity_needs_a_reason(make_incident):
    with pytest.raises(Invalid, match="reason"):
        make_incident(impact="outage", severity="P3")
    assert not Incident.objects.exists()
    incident = make_incident(impact="outage", severity="P3", severity_reason="only staff affected")
    assert incident.severity == "P3" and incident.severity_reason == "only staff affected"


def test_acknowledge_appends_exactly_one_entry_and_stamps_time(incident, cast, django_capture_on_commit_callbacks):
    received = []
    signals.incident_acknowledged.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t1")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            actions.acknowledge_incident(incident, actor=cast["bob"], source=Door.WEB)
    finally:
        signals.incident_acknowledged.disconnect(dispatch_uid="t1")
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED and incident.acknowledged_at is not None
    assert kinds(incident) == ["incident.declared", "status.changed"]
    assert [r["incident_id"] for r in received] == [incident.pk]


def test_second_acknowledge_changes_nothing(incident, cast):
    actions.acknowledge_incident(incident, actor=cast["bob"], source=Door.WEB)
    actions.acknowledge_incident(incident, actor=cast["alice"], source=Door.API)
    assert kinds(incident) == ["incident.declared", "status.changed"]


def test_no_signal_on_rollback(incident, cast, django_capture_on_commit_callbacks):
    received = []
    signals.incident_resolved.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t2")
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError):
                with transaction.atomic():
                    actions.resolve_incident(incident, actor=cast["bob"], source=Door.WEB)
                    raise RuntimeError("boom")
    finally:
        signals.incident_resolved.disconnect(dispatch_uid="t2")
    assert received == [] and callbacks == []
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED and kinds(incident) == ["incident.declared"]


def test_transition_table_refuses_and_reopen_works(incident, cast):
    actions.resolve_incident(incident, actor=cast["bob"], source=Door.WEB)
    with pytest.raises(Conflict, match="reopen"):
        actions.acknowledge_incident(incident, actor=cast["bob"], source=Door.WEB)
    actions.reopen_incident(incident, actor=cast["bob"], source=Door.WEB, reason="came back")
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED and incident.resolved_at is None
    assert kinds(incident)[-1] == "incident.reopened"


def test_viewer_and_other_team_cannot_act(incident, cast):
    for name in ("victor", "oscar", "nobody"):
        with pytest.raises(Forbidden):
            actions.add_comment(incident, "hi", actor=cast[name], source=Door.WEB)
    assert kinds(incident) == ["incident.declared"]


def test_only_commander_or_admin_reassigns_commander(incident, cast, teams):
    with pytest.raises(Forbidden):
        actions.assign_role(incident, IncidentRole.COMMANDER, cast["alice"], actor=cast["alice"], source=Door.WEB)
    actions.assign_role(incident, IncidentRole.COMMANDER, cast["carol"], actor=cast["carol"], source=Door.WEB)
    with pytest.raises(Forbidden):
        actions.change_team(incident, teams["platform"], actor=cast["bob"], source=Door.WEB)
    actions.assign_role(incident, IncidentRole.COMMANDER, cast["bob"], actor=cast["carol"], source=Door.WEB)
    actions.change_team(incident, teams["platform"], actor=cast["root"], source=Door.ADMIN)
    incident.refresh_from_db()
    assert incident.commander == cast["bob"] and incident.team == teams["platform"]


def test_comment_pin_and_update(incident, cast):
    entry = actions.add_comment(incident, "rolled back deploy 42", actor=cast["alice"], source=Door.WEB)
    actions.pin_entry(incident, entry.seq, actor=cast["alice"], source=Door.WEB)
    assert actions.pinned_seqs(incident) == {entry.seq}
    assert actions.pin_entry(incident, entry.seq, actor=cast["alice"], source=Door.WEB) is None
    actions.post_update(incident, impact="payments failing", action_taken="rollback", next_step="watch",
                        actor=cast["bob"], source=Door.API)
    with pytest.raises(Invalid):
        actions.post_update(incident, impact=" ", actor=cast["bob"], source=Door.API)
    assert kinds(incident)[1:] == ["comment", "comment.pinned", "update"]


def test_merge_records_on_both_timelines(make_incident, cast):
    survivor = make_incident(title="Checkout down")
    duplicate = make_incident(title="Checkout 500s")
    actions.merge_incidents(duplicate, survivor, actor=cast["bob"], source=Door.WEB)
    duplicate.refresh_from_db()
    assert duplicate.merged_into == survivor and duplicate.status == Status.RESOLVED
    assert kinds(duplicate)[-1] == "incident.merged_into" and kinds(survivor)[-1] == "incident.merged"
    with pytest.raises(Invalid):
        actions.merge_incidents(survivor, survivor, actor=cast["bob"], source=Door.WEB)


def test_timeline_is_hash_chained_and_append_only(incident, cast):
    actions.add_comment(incident, "one", actor=cast["alice"], source=Door.WEB)
    first, second = TimelineEntry.objects.filter(incident=incident).order_by("seq")
    assert second.prev_hash == first.hash and second.compute_hash() == second.hash
    with pytest.raises(PermissionError):
        second.save()
    with pytest.raises(PermissionError):
        TimelineEntry.objects.filter(incident=incident).update(kind="x")
    with pytest.raises(PermissionError):
        second.delete()
