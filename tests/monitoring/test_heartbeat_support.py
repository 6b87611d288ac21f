"""Helpers shared by the heartbeat tests (plain functions; each test module wraps them in
its own fixtures). Also pins the helpers themselves."""

from alertum.core.models import Door
from monitoring.heartbeats import actions
from monitoring.heartbeats.models import Heartbeat, Ping
from monitoring.models import StatusChange


def make_heartbeat(service, name="Nightly backup", actor=None, **values) -> Heartbeat:
    values.setdefault("period_seconds", 3600)
    values.setdefault("grace_seconds", 600)
    return actions.create_heartbeat(service=service, name=name, actor=actor, source=Door.WEB, **values)


def make_key(team, actor=None, **kwargs) -> str:
    _, raw = actions.create_ping_key(team, name="cron jobs", actor=actor, source=Door.WEB, **kwargs)
    return raw


def fresh(heartbeat: Heartbeat) -> Heartbeat:
    return Heartbeat.objects.select_related("monitor").get(pk=heartbeat.pk)


def changes(heartbeat: Heartbeat) -> list[tuple[str, str]]:
    """The monitor's status changes, oldest first, as (from, to)."""
    return list(StatusChange.objects.filter(monitor=heartbeat.monitor_id).order_by("at", "id")
                .values_list("from_state", "to_state"))


def log(heartbeat: Heartbeat) -> list[Ping]:
    return list(Ping.objects.filter(heartbeat=heartbeat).order_by("n"))


def test_make_heartbeat_starts_new(services):
    heartbeat = make_heartbeat(services["checkout"])
    assert fresh(heartbeat).status == "new"
    assert heartbeat.monitor.kind == "heartbeat"
    assert changes(heartbeat) == []
