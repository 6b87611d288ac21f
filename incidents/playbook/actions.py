"""The write path for playbook reminders and templates.

Called from incidents.actions inside their transaction, with the incident locked:
- `arm(incident)` when it is declared, its severity changes or it is reopened: creates
  the reminders of the active template for its severity (offsets count from now) and
  skips upcoming reminders armed for another severity;
- `skip_remaining(incident)` when it is resolved (also merged away).

Called by the doors and the beat:
- `fire_due_reminders()` (tick): each due reminder goes on the timeline addressed to
  the current role holder and is queued for e-mail; a repeating step gets its next
  occurrence;
- `send_notification(reminder_id)` (task, after commit; the tick's sweep retries);
- `complete_reminder(...)`: a responder marks a step done (on the timeline);
- `create_template` / `update_template` / `delete_template`: global admins, audited.

Lock order (as in incidents.actions): the incident first, then its reminder rows. The
tick claims incidents and their reminders with SKIP LOCKED, so workers share the work
and never wait on each other or on a responder's action. The e-mail send locks only its
own reminder row, never the incident.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from alertum.core import audit, notify
from alertum.core.errors import Conflict, Forbidden, Invalid, NotFound
from alertum.core.models import Door, User
from alertum.core.permissions import is_admin
from incidents import actions as incident_actions
from incidents.models import (
    Incident,
    IncidentRole,
    PlaybookStep,
    PlaybookTemplate,
    Reminder,
    Severity,
    TimelineEntry,
)

log = logging.getLogger(__name__)

Kind = TimelineEntry.Kind
State = Reminder.State
NotifyState = Reminder.NotifyState

TICK_BATCH = 200  # incidents per tick; the rest wait for the next tick (every 15 s)
NOTIFY_LEASE = timedelta(minutes=5)  # a send claimed longer ago than this is presumed lost
NOTIFY_MAX_ATTEMPTS = 6
SWEEP_AFTER = timedelta(seconds=30)  # the sweep leaves fresh rows to their own on-commit task
MAX_MINUTES = 7 * 24 * 60


# --- arming and skipping (inside incidents.actions, incident locked) --------------------------

def active_template(severity: str) -> PlaybookTemplate | None:
    return PlaybookTemplate.objects.filter(severity=severity, active=True).first()


def arm(incident: Incident, *, now=None) -> list[Reminder]:
    """Create the reminders of the incident's severity playbook. The caller holds the
    incident's lock. Steps already upcoming or due on this incident are not doubled;
    upcoming reminders armed for another severity are skipped (they no longer apply).
    A step armed again later (P1 -> P2 -> P1) gets the next occurrence number, so the
    (incident, step, occurrence) key stays unique."""
    now = now or timezone.now()
    Reminder.objects.filter(incident=incident, state=State.UPCOMING).exclude(severity=incident.severity).update(
        state=State.SKIPPED, skipped_at=now, skip_reason=f"severity changed to {incident.severity}")
    template = active_template(incident.severity)
    if template is None:
        return []
    steps = list(template.steps.all())
    live = set(Reminder.objects.filter(incident=incident, step__in=steps, state__in=[State.UPCOMING, State.DUE])
               .values_list("step_id", flat=True))
    last = dict(Reminder.objects.filter(incident=incident, step__in=steps).values("step")
                .annotate(n=Max("occurrence")).values_list("step", "n"))
    new = [Reminder(incident=incident, step=step, occurrence=last.get(step.pk, 0) + 1, severity=incident.severity,
                    role=step.role, text=step.text, repeat_every_minutes=step.repeat_every_minutes,
                    grace_minutes=template.grace_minutes, due_at=now + timedelta(minutes=step.offset_minutes),
                    created_at=now)
           for step in steps if step.pk not in live]
    Reminder.objects.bulk_create(new)
    return new


def skip_remaining(incident: Incident, *, reason: str, now=None) -> int:
    """Skip every reminder not done yet (the incident was resolved). The caller holds the
    incident's lock. An e-mail not sent yet is not needed any more."""
    now = now or timezone.now()
    open_ = Reminder.objects.filter(incident=incident, state__in=[State.UPCOMING, State.DUE])
    Reminder.objects.filter(pk__in=open_.filter(notify_state=NotifyState.PENDING).values("pk")).update(
        notify_state=NotifyState.CANCELLED, notify_next_at=None)
    return open_.update(state=State.SKIPPED, skipped_at=now, skip_reason=reason[:200])


# --- who a step is for --------------------------------------------------------------------------

ROLE_FIELDS = {IncidentRole.COMMANDER: "commander", IncidentRole.COMMS_LEAD: "comms_lead",
               IncidentRole.LIAISON: "liaison"}


def role_holder(incident: Incident, role: str) -> tuple[User | None, str]:
    """(person, how) for a step's role at this moment. A role nobody holds falls to the
    commander, who hands out roles; "any responder" goes to the assignee, else the
    commander. `how` is "holder", "commander" (fallback), "assignee" or "" (nobody)."""
    if role in ROLE_FIELDS:
        holder = getattr(incident, ROLE_FIELDS[role])
        if holder is not None:
            return holder, "holder"
        if role != IncidentRole.COMMANDER and incident.commander is not None:
            return incident.commander, "commander"
    if incident.assignee is not None:
        return incident.assignee, "assignee"
    if incident.commander is not None:
        return incident.commander, "commander"
    return None, ""


def _user_ref(user) -> dict | None:
    return {"id": user.pk, "name": str(user)} if user else None


def _step_data(reminder: Reminder) -> dict:
    return {"reminder_id": reminder.pk, "text": reminder.text, "role": reminder.role,
            "occurrence": reminder.occurrence, "due_at": reminder.due_at.isoformat()}


# --- the tick: fire due reminders ---------------------------------------------------------------

def fire_due_reminders(*, now=None, limit: int = TICK_BATCH) -> int:
    """Put every reminder whose time has come on its incident's timeline. Returns how many.

    Candidates are read without locks; each incident is then claimed with SKIP LOCKED
    (another worker, or a responder's action, holding it means: next tick), and its due
    reminders again with SKIP LOCKED, re-checking the state under the lock."""
    now = now or timezone.now()
    candidates = (Reminder.objects.filter(state=State.UPCOMING, due_at__lte=now).order_by("due_at", "id")
                  .values_list("incident_id", flat=True)[: limit * 4])
    fired = 0
    for incident_id in list(dict.fromkeys(candidates))[:limit]:
        fired += _fire_for_incident(incident_id, now)
    return fired


def _fire_for_incident(incident_id: int, now) -> int:
    with transaction.atomic():
        incident = Incident.objects.select_for_update(skip_locked=True).filter(pk=incident_id).first()
        if incident is None:
            return 0
        reminders = list(Reminder.objects.select_for_update(skip_locked=True)
                         .filter(incident=incident, state=State.UPCOMING, due_at__lte=now).order_by("due_at", "id"))
        if not reminders:
            return 0
        if not incident.is_open:
            # Resolve skips them; this only catches rows armed by a racing reopen/resolve.
            skip_remaining(incident, reason="incident resolved", now=now)
            return 0
        for reminder in reminders:
            _fire(incident, reminder, now)
        return len(reminders)


def _fire(incident: Incident, reminder: Reminder, now) -> None:
    person, how = role_holder(incident, reminder.role)
    reminder.state, reminder.fired_at, reminder.addressed_to = State.DUE, now, person
    if person is not None and person.email:
        reminder.notify_state, reminder.notify_next_at = NotifyState.PENDING, now
    reminder.save(update_fields=["state", "fired_at", "addressed_to", "notify_state", "notify_next_at"])
    data = {**_step_data(reminder), "to": _user_ref(person), "via": how}
    incident_actions.append_entry(incident, Kind.REMINDER_DUE, actor=None, source=Door.BEAT, data=data)
    _schedule_next(reminder, now)
    if reminder.notify_state == NotifyState.PENDING:
        pk = reminder.pk
        transaction.on_commit(lambda: _enqueue_notification(pk))


def _schedule_next(reminder: Reminder, now) -> Reminder | None:
    """A repeating step's next occurrence, one period after this one — or, if the tick
    fell behind by more than a period, the first such time still ahead (a worker down
    for hours does not bring a burst of stale reminders)."""
    every = reminder.repeat_every_minutes
    if not every:
        return None
    # A step deleted from its template since (step_id now null) keeps repeating from the
    # reminder's copy; the caller's incident lock keeps the check-then-create single.
    if Reminder.objects.filter(incident_id=reminder.incident_id, step_id=reminder.step_id, text=reminder.text,
                               occurrence=reminder.occurrence + 1).exists():
        return None
    period = timedelta(minutes=every)
    due = reminder.due_at + period
    if due <= now:
        due += period * ((now - due) // period + 1)
    try:
        with transaction.atomic():  # the unique key: a retried tick finds the row there
            return Reminder.objects.create(
                incident_id=reminder.incident_id, step_id=reminder.step_id, occurrence=reminder.occurrence + 1,
                severity=reminder.severity, role=reminder.role, text=reminder.text, repeat_every_minutes=every,
                grace_minutes=reminder.grace_minutes, due_at=due, created_at=now)
    except IntegrityError:
        return None


# --- e-mail: the reminder row is the durable notification -------------------------------------

def _enqueue_notification(reminder_id: int) -> None:
    from incidents.tasks import send_reminder_notification

    try:
        send_reminder_notification.delay(reminder_id)
    except Exception:  # broker down: the row stays pending and the tick's sweep sends it
        log.warning("could not queue the e-mail of reminder %s", reminder_id, exc_info=True)


def incident_url(incident: Incident) -> str:
    path = reverse("incidents:workspace", args=[incident.pk])
    base = settings.BASE_URL
    return base.rstrip("/") + path


def reminder_message(reminder: Reminder, incident: Incident, person: User) -> notify.Message:
    try:
        zone = zoneinfo.ZoneInfo(person.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    due = timezone.localtime(reminder.due_at, zone)
    role = IncidentRole(reminder.role).label if reminder.role in IncidentRole.values else reminder.role
    return notify.Message(
        title=f"Reminder: {reminder.text}",
        text=f"{incident.title}\n\nPlaybook step for the {role.lower()}, due {due:%H:%M %Z} "
             f"({due:%Y-%m-%d}). Mark it done in the incident workspace.",
        severity=incident.severity, reference=incident.reference, event="incident.reminder",
        urls={"Open incident": incident_url(incident)},
        fields={"Role": role, "Due": f"{due:%Y-%m-%d %H:%M %Z}", "Status": incident.get_status_display()},
        key=f"reminder-{reminder.pk}",
    )


def send_notification(reminder_id: int, *, now=None) -> str | None:
    """E-mail one reminder to the person it was addressed to. Claims the row (pending ->
    sending, with a lease) in its own short transaction, sends outside any transaction,
    then records the outcome: sent, failed (permanent, or out of attempts) or pending
    again with a backoff. Returns the new notify_state, or None if there was nothing to do
    (sent already, claimed by another worker, not due yet)."""
    now = now or timezone.now()
    with transaction.atomic():
        reminder = (Reminder.objects.select_for_update(skip_locked=True)
                    .filter(pk=reminder_id, notify_state__in=[NotifyState.PENDING, NotifyState.SENDING],
                            notify_next_at__lte=now).first())
        if reminder is None:
            return None
        if reminder.state in (State.SKIPPED, State.DONE):
            # Done or resolved meanwhile: the e-mail would only add noise.
            reminder.notify_state, reminder.notify_next_at = NotifyState.CANCELLED, None
            reminder.save(update_fields=["notify_state", "notify_next_at"])
            return reminder.notify_state
        reminder.notify_state, reminder.notify_next_at = NotifyState.SENDING, now + NOTIFY_LEASE
        reminder.notify_attempts += 1
        reminder.save(update_fields=["notify_state", "notify_next_at", "notify_attempts"])
    incident = Incident.objects.get(pk=reminder.incident_id)
    person = User.objects.filter(pk=reminder.addressed_to_id).first()
    if person is None or not person.email:
        result = notify.Result.failed("the person it was addressed to has no e-mail address", permanent=True)
    else:
        result = notify.send("email", person.email, reminder_message(reminder, incident, person))
    return _record(reminder.pk, result, now=timezone.now())


def _record(reminder_id: int, result: notify.Result, *, now) -> str:
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().get(pk=reminder_id)
        reminder.notify_error = (result.error or "")[:500]
        if result.delivered:
            reminder.notify_state, reminder.notified_at, reminder.notify_next_at = NotifyState.SENT, now, None
            reminder.notify_message_id = result.provider_id[:255]
        elif result.permanent or reminder.notify_attempts >= NOTIFY_MAX_ATTEMPTS:
            reminder.notify_state, reminder.notify_next_at = NotifyState.FAILED, None
        else:
            # 1, 2, 4, 8, 16 minutes, or what the server (or our throttle) asked for.
            backoff = timedelta(minutes=2 ** (reminder.notify_attempts - 1))
            if result.retry_after:
                backoff = max(backoff, timedelta(seconds=result.retry_after))
            reminder.notify_state, reminder.notify_next_at = NotifyState.PENDING, now + backoff
        reminder.save(update_fields=["notify_state", "notify_next_at", "notify_error", "notified_at",
                                     "notify_message_id"])
        return reminder.notify_state


def sweep_notifications(*, now=None, limit: int = TICK_BATCH) -> list[int]:
    """Reminders whose e-mail is due again (a retry), or was never queued (broker down),
    or whose sender died mid-send (lease expired). Returns their ids for the caller to
    send; rows fired moments ago are left to their own on-commit task."""
    now = now or timezone.now()
    return list(Reminder.objects.filter(notify_state__in=[NotifyState.PENDING, NotifyState.SENDING],
                                        notify_next_at__lte=now - SWEEP_AFTER)
                .order_by("notify_next_at").values_list("pk", flat=True)[:limit])


def tick(*, now=None) -> dict:
    """The beat tick: fire due reminders, then send what the sweep finds."""
    fired = fire_due_reminders(now=now)
    swept = sweep_notifications(now=now)
    for pk in swept:
        send_notification(pk, now=now)
    return {"fired": fired, "resent": len(swept)}


# --- marking a step done -------------------------------------------------------------------------

def complete_reminder(reminder: Reminder | int, *, actor: User | None, source: str) -> Reminder:
    """Mark a step done (also before it is due: it will then not come up). Responders of
    the owning team only. Locks the incident, then the reminder. A repeating step done
    before it fired gets its next occurrence now (the tick would have made it)."""
    reminder_id = reminder.pk if isinstance(reminder, Reminder) else reminder
    with transaction.atomic():
        incident_id = Reminder.objects.filter(pk=reminder_id).values_list("incident_id", flat=True).first()
        if incident_id is None:
            raise NotFound(f"reminder {reminder_id} does not exist")
        incident = incident_actions.lock_incident(incident_id)
        if actor is not None and not incident_actions.can_respond(actor, incident):
            raise Forbidden("you need the responder role in the owning team")
        reminder = Reminder.objects.select_for_update().get(pk=reminder_id)
        if reminder.state == State.DONE:
            return reminder
        if reminder.state == State.SKIPPED:
            raise Conflict(f"this step was skipped ({reminder.skip_reason or 'no longer needed'})")
        now = timezone.now()
        early = reminder.state == State.UPCOMING
        reminder.state, reminder.done_at = State.DONE, now
        reminder.done_by = actor if actor is not None and actor.pk else None
        fields = ["state", "done_at", "done_by"]
        if reminder.notify_state == NotifyState.PENDING:
            reminder.notify_state, reminder.notify_next_at = NotifyState.CANCELLED, None
            fields += ["notify_state", "notify_next_at"]
        reminder.save(update_fields=fields)
        incident_actions.append_entry(incident, Kind.REMINDER_DONE, actor=actor, source=source,
                                      data={**_step_data(reminder), "early": early})
        if early:
            _schedule_next(reminder, now)
    return reminder


# --- templates (global configuration: admins) ----------------------------------------------------

TEMPLATE_FIELDS = ["name", "severity", "grace_minutes", "active"]


def may_edit_templates(user) -> bool:
    return is_admin(user)


def _require_admin(actor) -> None:
    if actor is not None and not may_edit_templates(actor):
        raise Forbidden("only an admin may change response playbooks")


def _whole(value, field: str, minimum: int, maximum: int, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise Invalid(f"{field} must be a whole number from {minimum} to {maximum}"
                      + (" (or empty)" if allow_none else "") + f"; got {value!r}", field=field)
    return value


def clean_steps(steps) -> list[dict]:
    """Each step: offset_minutes, role, text, optional repeat_every_minutes. In the order
    given; the first problem is a 422 naming the step."""
    if not isinstance(steps, list) or not steps:
        raise Invalid("a playbook needs at least one step", field="steps")
    if len(steps) > 50:
        raise Invalid("a playbook has at most 50 steps", field="steps")
    clean = []
    for number, step in enumerate(steps, 1):
        field = f"steps[{number}]"
        if not isinstance(step, dict):
            raise Invalid(f"{field} must be an object", field="steps")
        unknown = sorted(set(step) - {"offset_minutes", "role", "text", "repeat_every_minutes"})
        if unknown:
            raise Invalid(f"{field}: unknown field {', '.join(unknown)}", field="steps")
        text = step.get("text")
        if not isinstance(text, str) or not text.strip():
            raise Invalid(f"{field}: text is required", field="steps")
        if len(text.strip()) > 300:
            raise Invalid(f"{field}: text is at most 300 characters", field="steps")
        role = step.get("role")
        if role not in IncidentRole.values:
            raise Invalid(f"{field}: role must be one of {', '.join(IncidentRole.values)}; got {role!r}",
                          field="steps")
        clean.append({
            "offset_minutes": _whole(step.get("offset_minutes"), f"{field}.offset_minutes", 0, MAX_MINUTES),
            "role": role, "text": text.strip(),
            "repeat_every_minutes": _whole(step.get("repeat_every_minutes"), f"{field}.repeat_every_minutes", 5,
                                           MAX_MINUTES, allow_none=True),
        })
    return clean


def _clean_template(template: PlaybookTemplate) -> None:
    name = (template.name or "").strip() if isinstance(template.name, str) else None
    if not name:
        raise Invalid("name is required", field="name")
    if len(name) > 100:
        raise Invalid("name is at most 100 characters", field="name")
    template.name = name
    if template.severity not in Severity.values:
        raise Invalid(f"severity must be one of {', '.join(Severity.values)}; got {template.severity!r}",
                      field="severity")
    template.grace_minutes = _whole(template.grace_minutes, "grace_minutes", 0, 24 * 60)
    if not isinstance(template.active, bool):
        raise Invalid("active must be true or false", field="active")
    if template.active and PlaybookTemplate.objects.filter(severity=template.severity, active=True) \
            .exclude(pk=template.pk).exists():
        raise Conflict(f"another active playbook has severity {template.severity}; deactivate it first",
                       field="severity")


def _steps_snapshot(template: PlaybookTemplate) -> list[dict]:
    return [{"offset_minutes": s.offset_minutes, "role": s.role, "text": s.text,
             "repeat_every_minutes": s.repeat_every_minutes} for s in template.steps.all()]


def _replace_steps(template: PlaybookTemplate, steps: list[dict]) -> None:
    # Reminders keep their copy of a step (step_id is set null), so incidents armed
    # earlier are unaffected.
    template.steps.all().delete()
    PlaybookStep.objects.bulk_create([PlaybookStep(template=template, position=i, **step)
                                      for i, step in enumerate(steps, 1)])


def create_template(*, name: str, severity: str, steps, grace_minutes: int = 10, active: bool = True, actor,
                    source: str, ip_address: str | None = None) -> PlaybookTemplate:
    _require_admin(actor)
    steps = clean_steps(steps)
    template = PlaybookTemplate(name=name, severity=severity, grace_minutes=grace_minutes, active=active)
    with transaction.atomic():
        _clean_template(template)
        template.save()
        _replace_steps(template, steps)
        audit.record("playbooktemplate.created", template, actor=actor, source=source, ip_address=ip_address,
                     changes={**{f: [None, getattr(template, f)] for f in TEMPLATE_FIELDS}, "steps": [None, steps]})
    return template


def update_template(template: PlaybookTemplate | int, *, actor, source: str, ip_address: str | None = None,
                    steps=None, **changes) -> PlaybookTemplate:
    """Change fields and/or replace the steps. Incidents already armed keep their reminders."""
    _require_admin(actor)
    unknown = sorted(set(changes) - set(TEMPLATE_FIELDS))
    if unknown:
        raise Invalid(f"unknown field {', '.join(unknown)}", field=unknown[0])
    new_steps = clean_steps(steps) if steps is not None else None
    pk = template.pk if isinstance(template, PlaybookTemplate) else template
    with transaction.atomic():
        template = PlaybookTemplate.objects.select_for_update().filter(pk=pk).first()
        if template is None:
            raise NotFound(f"playbook {pk} does not exist")
        before = audit.snapshot(template, TEMPLATE_FIELDS)
        for field, value in changes.items():
            setattr(template, field, value)
        _clean_template(template)
        diff = audit.model_changes(template, TEMPLATE_FIELDS, before)
        if new_steps is not None:
            old_steps = _steps_snapshot(template)
            if old_steps != new_steps:
                diff["steps"] = [old_steps, new_steps]
                _replace_steps(template, new_steps)
        if diff:
            template.save()
            audit.record("playbooktemplate.updated", template, actor=actor, source=source, ip_address=ip_address,
                         changes=diff)
    return template


def delete_template(template: PlaybookTemplate, *, actor, source: str, ip_address: str | None = None) -> None:
    _require_admin(actor)
    with transaction.atomic():
        label, pk = str(template), template.pk
        template.delete()
        audit.record("playbooktemplate.deleted", None, actor=actor, source=source, ip_address=ip_address,
                     object_type="incidents.playbooktemplate", object_repr=label, changes={"id": pk})
