"""The write path for heartbeats: configuration (create, update, delete, pause, resume),
ping keys, pings that change the state, and the sweeper that finds heartbeats gone late
or down.

Who may: responders of the service's owning team (and global admins) configure, pause
and resume heartbeats (as monitoring.actions has it for every monitor); commanders and
admins of a team make and delete its ping keys (a key lets its holder ping every slug of
the team). `actor=None` is the system (the ping doors, the sweeper).

State: a heartbeat's `status` and its monitor's `state` move together; every change goes
through `monitoring.actions.record_state`, which writes the StatusChange and raises the
monitor's alert when it goes down and resolves it when it comes back.

Lock order: the heartbeat row, then the monitor row (record_state), then intake's rows,
then the audit head.
"""

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from alertum.core import audit
from alertum.core.errors import Forbidden, Invalid, NotFound
from alertum.core.models import Door, Role, Service, Team
from alertum.core.permissions import has_team_role
from monitoring import actions as monitoring
from monitoring.heartbeats import pings, schedule
from monitoring.heartbeats.models import Heartbeat, Ping, PingKey
from monitoring.models import Monitor

log = logging.getLogger(__name__)

SETTINGS = ["slug", "schedule", "period_seconds", "grace_seconds", "cron", "time_zone", "manual_resume",
            "body_limit"]
# Flip reasons, in healthchecks.io's words.
REASON_TIMEOUT = "success signal did not arrive on time, grace time passed"
REASON_OVERRUN = "the run that started at {start} did not finish within the grace time"
REASON_LATE = "success signal is late (within the grace time)"
REASON_FAIL = "received a failure signal"
REASON_EXIT = "received exit status {n}"
REASON_UP = "received a success signal"
# ?create=1 makes at most this many heartbeats per team (healthchecks.io: twice the check limit).
PROVISION_LIMIT = 1000


# --- who may -----------------------------------------------------------------------------------

def may_configure(user, service: Service) -> bool:
    return monitoring.may_configure(user, service)


def may_manage_keys(user, team: Team) -> bool:
    return has_team_role(user, team.pk, Role.COMMANDER)


def _require(actor, service: Service) -> None:
    if actor is not None and not may_configure(actor, service):
        raise Forbidden(f"only responders of {service.owner_team} may change heartbeats of {service}")


# --- configuration -----------------------------------------------------------------------------

def _validate(heartbeat: Heartbeat) -> None:
    """Invalid (422) naming the first field at fault."""
    if heartbeat.schedule == Heartbeat.Schedule.CRON:
        try:
            heartbeat.cron = schedule.validate_cron(heartbeat.cron)
        except schedule.ScheduleError as exc:
            raise Invalid(f"cron: {exc}", field="cron") from None
    try:
        heartbeat.full_clean(exclude=["monitor"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise Invalid(f"{field}: {' '.join(messages)}", field=field) from None


def _reschedule(heartbeat: Heartbeat) -> None:
    heartbeat.next_sweep_at = heartbeat.timing.next_sweep_at(heartbeat.status, heartbeat.last_ping_at,
                                                             heartbeat.last_start_at)


def create_heartbeat(*, service: Service, name: str, actor, source: str, ip_address=None,
                     **values) -> Heartbeat:
    """A heartbeat monitor for `service`: the Monitor (kind heartbeat) and its settings.
    New until its first ping; never down before it."""
    _require(actor, service)
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise Invalid(f"unknown field {', '.join(unknown)}", field=unknown[0])
    heartbeat = Heartbeat(**values)
    _validate(heartbeat)
    with transaction.atomic():
        monitor = monitoring.create_monitor(service=service, name=name, kind=Monitor.Kind.HEARTBEAT, config={},
                                            actor=actor, source=source, ip_address=ip_address)
        heartbeat.monitor = monitor
        heartbeat.save()
        audit.record("heartbeat.created", heartbeat, actor=actor, source=source, ip_address=ip_address,
                     changes=audit.model_changes(heartbeat, SETTINGS, None))
    return heartbeat


def update_heartbeat(heartbeat: Heartbeat, *, actor, source: str, ip_address=None, name: str | None = None,
                     service: Service | None = None, **changes) -> Heartbeat:
    """Change the schedule or other settings (and the monitor's name or service). A new
    schedule takes effect at once: the late and down times are computed again."""
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise Invalid(f"unknown field {', '.join(unknown)}", field=unknown[0])
    with transaction.atomic():
        heartbeat = _lock(heartbeat.pk)
        _require(actor, heartbeat.monitor.service)
        if service is not None:
            _require(actor, service)
        before = audit.snapshot(heartbeat, SETTINGS)
        for field, value in changes.items():
            setattr(heartbeat, field, value)
        _validate(heartbeat)
        monitor_changes = {k: v for k, v in (("name", name), ("service", service)) if v is not None}
        if monitor_changes:
            monitoring.update_monitor(heartbeat.monitor, actor=actor, source=source, ip_address=ip_address,
                                      **monitor_changes)
        _reschedule(heartbeat)
        heartbeat.save()
        changed = audit.model_changes(heartbeat, SETTINGS, before)
        if changed:
            audit.record("heartbeat.updated", heartbeat, actor=actor, source=source, ip_address=ip_address,
                         changes=changed)
    # The sweeper may now be due (a shorter period): let the next tick decide.
    return heartbeat


def delete_heartbeat(heartbeat: Heartbeat, *, actor, source: str, ip_address=None) -> None:
    """Delete the heartbeat with its monitor and ping log (an open alert resolves)."""
    monitor = heartbeat.monitor
    _require(actor, monitor.service)
    monitoring.delete_monitor(monitor, actor=actor, source=source, ip_address=ip_address)


def pause_heartbeat(heartbeat: Heartbeat, *, actor, source: str, ip_address=None) -> Heartbeat:
    """Paused: no late or down, pings logged; its alert resolves. With manual resume, pings
    are ignored until someone resumes it; otherwise the next success ping resumes it."""
    with transaction.atomic():
        heartbeat = _lock(heartbeat.pk)
        _require(actor, heartbeat.monitor.service)
        if heartbeat.status == Heartbeat.Status.PAUSED and heartbeat.monitor.is_paused:
            return heartbeat
        heartbeat.status = Heartbeat.Status.PAUSED
        heartbeat.last_start_at = heartbeat.last_start_rid = heartbeat.next_sweep_at = None
        heartbeat.save(update_fields=["status", "last_start_at", "last_start_rid", "next_sweep_at", "updated_at"])
        monitoring.pause_monitor(heartbeat.monitor, actor=actor, source=source, ip_address=ip_address)
        heartbeat.monitor.refresh_from_db()
    return heartbeat


def resume_heartbeat(heartbeat: Heartbeat, *, actor, source: str, ip_address=None) -> Heartbeat:
    """Back to new: it waits for its next ping, as a fresh heartbeat does (healthchecks.io)."""
    with transaction.atomic():
        heartbeat = _lock(heartbeat.pk)
        _require(actor, heartbeat.monitor.service)
        if heartbeat.status != Heartbeat.Status.PAUSED and not heartbeat.monitor.is_paused:
            return heartbeat
        heartbeat.status = Heartbeat.Status.NEW
        heartbeat.last_ping_at = heartbeat.last_start_at = heartbeat.last_start_rid = None
        heartbeat.next_sweep_at = None
        heartbeat.save(update_fields=["status", "last_ping_at", "last_start_at", "last_start_rid",
                                      "next_sweep_at", "updated_at"])
        monitoring.resume_monitor(heartbeat.monitor, actor=actor, source=source, ip_address=ip_address)
        heartbeat.monitor.refresh_from_db()
    return heartbeat


def _lock(pk: int) -> Heartbeat:
    try:
        return (Heartbeat.objects.select_for_update(of=("self",)).select_related("monitor__service")
                .get(pk=pk))
    except Heartbeat.DoesNotExist:
        raise NotFound("no such heartbeat") from None


# --- ping keys -----------------------------------------------------------------------------------

def create_ping_key(team: Team, *, name: str, actor, source: str, ip_address=None,
                    default_service: Service | None = None) -> tuple[PingKey, str]:
    """A new ping key for the team; returns (key row, the key). The key is shown once and
    only its hash is kept. With a default service, `?create=1` slug pings make heartbeats
    there."""
    if actor is not None and not may_manage_keys(actor, team):
        raise Forbidden(f"only commanders and admins of {team} may make its ping keys")
    name = (name or "").strip() or "Ping key"
    if default_service is not None and default_service.owner_team_id != team.pk:
        raise Invalid(f"default_service: {default_service} is not owned by {team}", field="default_service")
    raw = PingKey.new_key()
    with transaction.atomic():
        key = PingKey.objects.create(team=team, name=name[:100], key_prefix=raw[:8], key_hash=PingKey.hash_key(raw),
                                     created_by=actor if actor is not None and actor.pk else None,
                                     default_service=default_service)
        audit.record("pingkey.created", key, actor=actor, source=source, ip_address=ip_address,
                     changes={"team": team.pk, "name": key.name})
    return key, raw


def delete_ping_key(key: PingKey, *, actor, source: str, ip_address=None) -> None:
    """Revoke: slug URLs with this key answer "not found" from now on."""
    if actor is not None and not may_manage_keys(actor, key.team):
        raise Forbidden(f"only commanders and admins of {key.team} may delete its ping keys")
    with transaction.atomic():
        text, pk = str(key), key.pk
        key.delete()
        # Other processes drop their cached lookup within pings.CACHE_SECONDS.
        transaction.on_commit(pings.forget)
        audit.record("pingkey.deleted", None, actor=actor, source=source, ip_address=ip_address,
                     object_type=PingKey._meta.label_lower, object_repr=text, changes={"id": pk})


def provision_by_slug(raw_key: str, slug: str) -> pings.Snapshot | None:
    """`?create=1`: make a heartbeat named after the slug in the key's default service
    (default schedule: daily, one hour's grace). None when the key is unknown, has no
    default service, or its team has PROVISION_LIMIT heartbeats already."""
    key = PingKey.objects.select_related("default_service", "team").filter(
        key_hash=PingKey.hash_key(raw_key)).first()
    if key is None or key.default_service is None:
        return None
    with transaction.atomic():
        Team.objects.select_for_update().get(pk=key.team_id)  # two racing creates make one heartbeat
        found = pings.find_by_slug(raw_key, slug)
        if found:
            return found[0]
        if Heartbeat.objects.filter(monitor__service__owner_team=key.team).count() >= PROVISION_LIMIT:
            return None
        heartbeat = create_heartbeat(service=key.default_service, name=slug, actor=None, source=Door.MONITOR,
                                     slug=slug)
    return pings.find_by_uuid(heartbeat.uuid)


# --- pings that change the state, and the sweeper ------------------------------------------------

def _ping_evidence(signal: pings.Signal, kind: str, limit: int) -> dict:
    evidence = {"ping": kind, "method": signal.method, "remote_addr": signal.remote_addr,
                "user_agent": signal.user_agent}
    if signal.exit_status is not None:
        evidence["exit_status"] = signal.exit_status
    if signal.rid is not None:
        evidence["rid"] = str(signal.rid)
    if signal.body:
        evidence["body"] = pings.body_text(signal, min(limit, 2000))
    return evidence


def apply_ping(heartbeat_id: int, signal: pings.Signal, now: dt.datetime) -> int:
    """The slow path of a ping: lock the heartbeat, decide again on what is stored now,
    store the ping and, when the state changes, record it on the monitor (raising or
    resolving its alert). Returns the ping's number."""
    with transaction.atomic():
        heartbeat = _lock(heartbeat_id)
        snap = pings.Snapshot.of(heartbeat)
        before = snap.current
        p = pings.plan(snap, signal, now)
        duration = pings.duration_of(heartbeat.pk, p, signal, now)
        heartbeat.n_pings += 1
        if p.touches_run:
            heartbeat.last_ping_at, heartbeat.last_start_at = p.last_ping_at, p.last_start_at
            heartbeat.last_start_rid = p.last_start_rid
            if p.kind != Ping.Kind.START:
                heartbeat.last_duration = duration
        heartbeat.status = p.new_status
        _reschedule(heartbeat)
        heartbeat.save()
        Ping.objects.create(heartbeat=heartbeat, n=heartbeat.n_pings, kind=p.kind, exit_status=signal.exit_status,
                            received_at=now, rid=signal.rid, method=signal.method[:10], scheme=signal.scheme[:10],
                            remote_addr=signal.remote_addr[:45], user_agent=signal.user_agent[:200],
                            body=pings.body_text(signal, heartbeat.body_limit), body_size=signal.body_size,
                            duration=duration)
        if p.new_status != before:
            monitor = heartbeat.monitor
            if before == Heartbeat.Status.PAUSED:  # a ping resumes a heartbeat without manual resume
                monitoring.resume_monitor(monitor, actor=None, source=Door.MONITOR)
            if p.new_status == Heartbeat.Status.DOWN:
                reason = REASON_EXIT.format(n=signal.exit_status) if signal.exit_status else REASON_FAIL
            else:
                reason = REASON_UP
            monitoring.record_state(monitor, p.new_status, at=now, reason=reason,
                                    evidence=_ping_evidence(signal, p.kind, heartbeat.body_limit),
                                    source=Door.MONITOR)
    return heartbeat.n_pings


def sweep(now: dt.datetime | None = None, batch: int = 200) -> int:
    """Move heartbeats whose late or down time has passed; returns how many changed.
    Claims due rows by `next_sweep_at` with SKIP LOCKED (a ping holding the row is
    deciding it anyway), so several workers can sweep at once."""
    now = now or timezone.now()
    changed = 0
    while True:
        with transaction.atomic():
            due = list(Heartbeat.objects.select_for_update(skip_locked=True, of=("self",))
                       .select_related("monitor__service").filter(next_sweep_at__lte=now)
                       .order_by("next_sweep_at")[:batch])
            for heartbeat in due:
                changed += _sweep_one(heartbeat, now)
        if len(due) < batch:
            return changed


def _sweep_one(heartbeat: Heartbeat, now: dt.datetime) -> int:
    if heartbeat.monitor.is_paused:  # paused through the monitor's own door: nothing is due
        heartbeat.status, heartbeat.next_sweep_at = Heartbeat.Status.PAUSED, None
        heartbeat.save(update_fields=["status", "next_sweep_at", "updated_at"])
        return 0
    state = heartbeat.status
    if state in (Heartbeat.Status.UP, Heartbeat.Status.LATE):
        state = heartbeat.timing.state_at(now, heartbeat.last_ping_at, heartbeat.last_start_at)
    previous = heartbeat.status
    heartbeat.status = state
    overrun = None
    if state == Heartbeat.Status.DOWN:
        # The overrun run is over for us: a late success starts afresh.
        overrun = heartbeat.last_start_at
        heartbeat.last_start_at = heartbeat.last_start_rid = None
    _reschedule(heartbeat)
    if state == previous and overrun is None:
        # Only the deadline moved (pings leave an earlier bound, see pings._write_fast):
        # updated_at stays, so the ping path's cached view of this heartbeat stays valid.
        heartbeat.save(update_fields=["next_sweep_at"])
        return 0
    heartbeat.save(update_fields=["status", "next_sweep_at", "last_start_at", "last_start_rid", "updated_at"])
    if state == previous:
        return 0
    evidence = {"last_ping_at": heartbeat.last_ping_at.isoformat() if heartbeat.last_ping_at else None,
                "expected_at": _iso(heartbeat.timing.late_at(heartbeat.last_ping_at)),
                "grace_seconds": heartbeat.grace_seconds}
    if state == Heartbeat.Status.DOWN:
        expected = heartbeat.timing.late_at(heartbeat.last_ping_at)
        overran = overrun is not None and (expected is None or overrun <= expected)
        if overran:
            evidence["started_at"] = overrun.isoformat()
        reason = REASON_OVERRUN.format(start=overrun.isoformat(timespec="seconds")) if overran else REASON_TIMEOUT
    else:
        reason = REASON_LATE
    monitoring.record_state(heartbeat.monitor, state, at=now, reason=reason, evidence=evidence, source=Door.BEAT)
    return 1


def _iso(value):
    return value.isoformat() if value else None


def prune_pings(keep: int = 1000) -> int:
    """Keep each heartbeat's newest `keep` pings (by number); returns how many went."""
    removed = 0
    for heartbeat_id, n_pings in Heartbeat.objects.filter(n_pings__gt=keep).values_list("id", "n_pings"):
        removed += Ping.objects.filter(heartbeat_id=heartbeat_id, n__lte=n_pings - keep).delete()[0]
    return removed
