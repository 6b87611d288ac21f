"""The only write path for incidents. Every door (pages, API, admin, consumers, tasks,
commands, later intake and paging) calls these functions.

Each action: opens a transaction; locks the incident row (`select_for_update`); returns
early if nothing would change; checks permissions and domain rules (raising
`alertum.core.errors.DomainError` subclasses); saves; appends exactly one timeline entry
(merge appends one on each side); and registers side effects with on_commit: the live
broadcast and, for the named lifecycle events, a signal from `incidents.signals`.

Lock order, when more than one incident is involved (merge, relate): by ascending id;
an incident's playbook reminders after the incident (incidents/playbook/actions.py).
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from alertum.core import audit
from alertum.core.bulk import update_grouped
from alertum.core.errors import Conflict, Forbidden, Invalid, NotFound
from alertum.core.live import DASHBOARD_GROUP, broadcast_on_commit, incident_group
from alertum.core.models import Role, Service, Team, User
from alertum.core.permissions import has_team_role, is_member_anywhere
from incidents import signals
from incidents.models import (
    SINGLE_HOLDER_ROLES,
    STATUS_TIMESTAMP,
    ChecklistItem,
    ChecklistTemplate,
    Evidence,
    Impact,
    Incident,
    IncidentCounter,
    IncidentRole,
    Sensitivity,
    Severity,
    Status,
    TimelineEntry,
    Urgency,
    UsersAffected,
)
from incidents.playbook import actions as playbook
from incidents.severity import compute_severity

Kind = TimelineEntry.Kind
Visibility = TimelineEntry.Visibility


# --- permission helpers ------------------------------------------------------------------

def can_view(user, incident: Incident) -> bool:
    if incident.is_restricted:
        return has_team_role(user, incident.team_id, Role.VIEWER)
    return is_member_anywhere(user)


def can_respond(user, incident: Incident) -> bool:
    return has_team_role(user, incident.team_id, Role.RESPONDER)


def can_command(user, incident: Incident) -> bool:
    """May reassign the commander or the owning team: the incident's commander, an
    admin, or — while nobody holds command — a member with the commander role."""
    if has_team_role(user, incident.team_id, Role.ADMIN):
        return True
    if incident.commander_id is not None:
        return user is not None and user.pk == incident.commander_id
    return has_team_role(user, incident.team_id, Role.COMMANDER)


def _require(allowed: bool, actor, message: str) -> None:
    # actor None is the system itself (intake, beat); it is trusted.
    if actor is not None and not allowed:
        raise Forbidden(message)


# --- internals ---------------------------------------------------------------------------

def _lock(incident: Incident | int) -> Incident:
    pk = incident.pk if isinstance(incident, Incident) else incident
    try:
        return Incident.objects.select_for_update().get(pk=pk)
    except Incident.DoesNotExist:
        raise NotFound(f"incident {pk} does not exist") from None


def append_entry(incident: Incident, kind: str, *, actor, source: str, data: dict | None = None,
                 visibility: str = Visibility.INTERNAL, occurred_at=None) -> TimelineEntry:
    """Append one entry to a *locked* incident's timeline and announce it on commit.

    Other apps (intake attaching alerts, paging recording notifications) call this
    inside their own transaction after locking the incident with `lock_incident`.
    """
    return append_entries([(incident, kind, data)], actor=actor, source=source, visibility=visibility,
                          occurred_at=occurred_at)[0]


def append_entries(items: list[tuple[Incident, str, dict | None]], *, actor, source: str,
                   visibility: str = Visibility.INTERNAL, occurred_at=None) -> list[TimelineEntry]:
    """Append (incident, kind, data) entries to *locked* incidents in a few statements,
    in order (an incident may appear several times): one read of the previous hashes,
    one insert, one update of the incidents. For engines that record many incidents in
    one transaction (paging a storm); `append_entry` is the one-entry case."""
    if not items:
        return []
    actor = actor if actor and actor.pk else None
    now = timezone.now()
    incidents = {incident.pk: incident for incident, _, _ in items}
    heads = {pk: i.last_seq for pk, i in incidents.items() if i.last_seq}
    prev: dict[int, str] = {}
    if heads:
        rows = TimelineEntry.objects.filter(incident_id__in=heads, seq__in=set(heads.values()))
        prev = {pk: h for pk, seq, h in rows.values_list("incident_id", "seq", "hash") if heads[pk] == seq}
    entries = []
    for incident, kind, data in items:
        entry = TimelineEntry(
            incident=incident, seq=incident.last_seq + 1, kind=kind, actor=actor, source=source,
            occurred_at=occurred_at or now, visibility=visibility, data=data or {},
            prev_hash=prev.get(incident.pk) or "0" * 64,
        )
        entry.hash = entry.compute_hash()
        prev[incident.pk] = entry.hash
        incident.last_seq = entry.seq
        entries.append(entry)
    TimelineEntry.objects.bulk_create(entries)
    for incident in incidents.values():
        incident.updated_at = now
    update_grouped(list(incidents.values()), ["last_seq", "updated_at"])
    for incident in incidents.values():
        event = {"type": "incident.changed", "id": incident.pk, "seq": incident.last_seq}
        broadcast_on_commit(incident_group(incident.pk), event)
        broadcast_on_commit(DASHBOARD_GROUP, event)
    return entries


def lock_incident(incident: Incident | int) -> Incident:
    """Lock and return the incident row; for other apps' actions that append entries."""
    return _lock(incident)


def _user_ref(user) -> dict | None:
    return {"id": user.pk, "name": str(user)} if user else None


def _choice(value, choices, field: str):
    if value not in choices.values:
        raise Invalid(f"{field} must be one of {', '.join(choices.values)}; got {value!r}", field=field)
    return value


def _copy_checklist(incident: Incident) -> None:
    existing = set(incident.checklist.values_list("text", flat=True))
    position = len(existing)
    new = []
    for template in ChecklistTemplate.objects.filter(severity=incident.severity, active=True):
        for text in template.items:
            if text not in existing:
                existing.add(text)
                position += 1
                new.append(ChecklistItem(incident=incident, position=position, text=str(text)[:300]))
    ChecklistItem.objects.bulk_create(new)


def _team_member(user: User | None, team_id: int, field: str) -> None:
    if user is not None and not has_team_role(user, team_id, Role.VIEWER):
        raise Invalid(f"{user} is not a member of the owning team", field=field)


# --- declare -----------------------------------------------------------------------------

def declare_incident(*, title: str, team: Team, actor: User | None, source: str, description: str = "",
                     services: list[Service] | None = None, impact: str = Impact.DEGRADED,
                     users_affected: str = UsersAffected.SOME, urgency: str = Urgency.HIGH,
                     business_functions: str = "", severity: str | None = None, severity_reason: str = "",
                     tags: list[str] | None = None, sensitivity: str = Sensitivity.NORMAL,
                     started_at=None, detected_at=None, assignee: User | None = None,
                     commander: User | None = None, routing_rule=None, notify_after=None) -> Incident:
    """Declare a new incident. Locks the number counter. Severity comes from the matrix
    unless given, and then needs a reason. Triggers: `incident_triggered`, live events."""
    _require(has_team_role(actor, team.pk, Role.RESPONDER), actor,
             f"you need the responder role in {team} to declare an incident for it")
    title = (title or "").strip()
    if not title:
        raise Invalid("title is required", field="title")
    if len(title) > 255:
        raise Invalid("title is longer than 255 characters", field="title")
    _choice(impact, Impact, "impact")
    _choice(users_affected, UsersAffected, "users_affected")
    _choice(urgency, Urgency, "urgency")
    _choice(sensitivity, Sensitivity, "sensitivity")
    services = list(services or [])
    now = timezone.now()
    started_at = started_at or now
    detected_at = detected_at or now
    if started_at > detected_at:
        raise Invalid("started_at cannot be after detected_at", field="started_at")
    computed, computed_reason = compute_severity(impact, users_affected, [s.tier for s in services])
    if severity:
        _choice(severity, Severity, "severity")
        if severity != computed and not severity_reason.strip():
            raise Invalid(f"the matrix gives {computed}; a reason is required to set {severity}",
                          field="severity_reason")
        reason = severity_reason.strip() or computed_reason
    else:
        severity, reason = computed, computed_reason
    _team_member(assignee, team.pk, "assignee")
    _team_member(commander, team.pk, "commander")

    with transaction.atomic():
        counter, _ = IncidentCounter.objects.select_for_update().get_or_create(pk=1)
        counter.last_number += 1
        counter.save(update_fields=["last_number"])
        incident = Incident.objects.create(
            number=counter.last_number, title=title, description=description, slug=slugify(title)[:60] or "incident",
            severity=severity, severity_reason=reason, team=team, tags=list(tags or []), assignee=assignee,
            commander=commander, impact=impact, users_affected=users_affected, urgency=urgency,
            business_functions=business_functions, sensitivity=sensitivity, started_at=started_at,
            detected_at=detected_at, created_by=actor if actor and actor.pk else None, source=source, created_at=now,
            updated_at=now, routing_rule=routing_rule, notify_after=notify_after,
        )
        incident.services.set(services)
        _copy_checklist(incident)
        playbook.arm(incident, now=now)
        data = {"title": title, "severity": severity, "severity_reason": reason, "team": team.name,
                "services": [s.name for s in services], "status": incident.status}
        if routing_rule is not None:
            data["routed_by"] = routing_rule.name
        if notify_after is not None:
            data["notify_after"] = notify_after.isoformat()
        append_entry(incident, Kind.DECLARED, actor=actor, source=source, data=data)
        signals.send_on_commit(signals.incident_triggered, incident_id=incident.pk, source=source)
    return incident


# --- status ------------------------------------------------------------------------------

def change_status(incident: Incident | int, status: str, *, actor: User | None, source: str,
                  note: str = "") -> Incident:
    """Move to `status` if the transition table allows it. Locks the incident. Stamps
    the status's timestamp the first time. Triggers acknowledged/resolved signals."""
    _choice(status, Status, "status")
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        if incident.status == status:
            return incident
        if incident.merged_into_id:
            raise Conflict(f"{incident.reference} was merged into another incident; work that one")
        if status == Status.TRIGGERED:
            raise Conflict("use reopen to move a resolved incident back to triggered")
        if not incident.can_transition_to(status):
            raise Conflict(f"cannot move from {incident.status} to {status}")
        old = incident.status
        now = timezone.now()
        incident.status = status
        fields = ["status"]
        stamp = STATUS_TIMESTAMP.get(status)
        if stamp and getattr(incident, stamp) is None:
            setattr(incident, stamp, now)
            fields.append(stamp)
        # Reaching a later stage implies the earlier ones (an incident resolved straight
        # from triggered was acknowledged then too, for MTTA).
        if status in (Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED) and incident.acknowledged_at is None:
            incident.acknowledged_at = now
            fields.append("acknowledged_at")
        incident.save(update_fields=fields)
        if status == Status.RESOLVED:
            playbook.skip_remaining(incident, reason="incident resolved", now=now)
        data = {"from": old, "to": status}
        if note:
            data["note"] = note
        append_entry(incident, Kind.STATUS, actor=actor, source=source, data=data)
        actor_id = actor.pk if actor else None
        if status == Status.ACKNOWLEDGED or (old == Status.TRIGGERED and status != Status.RESOLVED):
            signals.send_on_commit(signals.incident_acknowledged, incident_id=incident.pk, actor_id=actor_id,
                                   source=source)
        if status == Status.RESOLVED:
            signals.send_on_commit(signals.incident_resolved, incident_id=incident.pk, actor_id=actor_id,
                                   source=source)
    return incident


def acknowledge_incident(incident: Incident | int, *, actor: User | None, source: str) -> Incident:
    """Acknowledge a triggered incident; an incident already past triggered is left as is."""
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        if incident.status != Status.TRIGGERED:
            if incident.status == Status.RESOLVED:
                raise Conflict(f"{incident.reference} is resolved; reopen it first")
            return incident
        return change_status(incident, Status.ACKNOWLEDGED, actor=actor, source=source)


def resolve_incident(incident: Incident | int, *, actor: User | None, source: str, note: str = "") -> Incident:
    return change_status(incident, Status.RESOLVED, actor=actor, source=source, note=note)


def reopen_incident(incident: Incident | int, *, actor: User | None, source: str, reason: str = "") -> Incident:
    """Resolved -> triggered. Clears resolved_at (the first resolve stays on the timeline)."""
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        if incident.status != Status.RESOLVED:
            return incident
        if incident.merged_into_id:
            raise Conflict(f"{incident.reference} was merged into INC-{incident.merged_into.number}; "
                           "it cannot be reopened")
        incident.status = Status.TRIGGERED
        incident.resolved_at = None
        incident.save(update_fields=["status", "resolved_at"])
        playbook.arm(incident)  # the playbook starts over from the reopen
        append_entry(incident, Kind.REOPENED, actor=actor, source=source, data={"reason": reason})
        signals.send_on_commit(signals.incident_reopened, incident_id=incident.pk,
                               actor_id=actor.pk if actor else None, source=source)
    return incident


# --- severity, people, team --------------------------------------------------------------

def set_severity(incident: Incident | int, severity: str, *, reason: str, actor: User | None,
                 source: str) -> Incident:
    """Override the severity; a person must say why. Adds the new severity's checklist
    and arms its playbook (upcoming steps of the old severity are skipped)."""
    _choice(severity, Severity, "severity")
    if actor is not None and not (reason or "").strip():
        raise Invalid("a reason is required to change the severity", field="reason")
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        if incident.severity == severity:
            return incident
        old = incident.severity
        incident.severity = severity
        incident.severity_reason = reason.strip()
        incident.save(update_fields=["severity", "severity_reason"])
        _copy_checklist(incident)
        playbook.arm(incident)  # the new severity's steps, counted from now
        append_entry(incident, Kind.SEVERITY, actor=actor, source=source,
                     data={"from": old, "to": severity, "reason": reason.strip()})
        signals.send_on_commit(signals.incident_severity_changed, incident_id=incident.pk, old=old, new=severity,
                               source=source)
    return incident


def assign_incident(incident: Incident | int, assignee: User | None, *, actor: User | None, source: str) -> Incident:
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        if incident.assignee_id == (assignee.pk if assignee else None):
            return incident
        _team_member(assignee, incident.team_id, "assignee")
        old = incident.assignee
        incident.assignee = assignee
        incident.save(update_fields=["assignee"])
        append_entry(incident, Kind.ASSIGNED, actor=actor, source=source,
                     data={"from": _user_ref(old), "to": _user_ref(assignee)})
    return incident


def assign_role(incident: Incident | int, role: str, user: User | None, *, actor: User | None, source: str,
                remove: bool = False) -> Incident:
    """Give `role` to `user` (commander, comms lead and liaison have one holder; there may
    be many engineering responders, and `remove=True` takes one off). Only the
    commander or an admin may reassign the commander."""
    _choice(role, IncidentRole, "role")
    with transaction.atomic():
        incident = _lock(incident)
        if role == IncidentRole.COMMANDER:
            _require(can_command(actor, incident), actor,
                     "only the incident commander or an admin may reassign the commander")
        else:
            _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        _team_member(user, incident.team_id, "user")
        if role in SINGLE_HOLDER_ROLES:
            field = SINGLE_HOLDER_ROLES[role]
            old = getattr(incident, field)
            if (old.pk if old else None) == (user.pk if user else None):
                return incident
            setattr(incident, field, user)
            incident.save(update_fields=[field])
            data = {"role": role, "from": _user_ref(old), "to": _user_ref(user)}
        else:
            if user is None:
                raise Invalid("user is required for the responder role", field="user")
            present = incident.responders.filter(pk=user.pk).exists()
            if present != remove:
                return incident
            (incident.responders.remove if remove else incident.responders.add)(user)
            data = {"role": role, "removed" if remove else "added": _user_ref(user)}
        append_entry(incident, Kind.ROLE, actor=actor, source=source, data=data)
    return incident


def change_team(incident: Incident | int, team: Team, *, actor: User | None, source: str,
                ip_address: str | None = None) -> Incident:
    """Hand the incident to another team. Only the commander or an admin. Audited."""
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_command(actor, incident), actor,
                 "only the incident commander or an admin may change the owning team")
        if incident.team_id == team.pk:
            return incident
        old = incident.team
        incident.team = team
        incident.save(update_fields=["team"])
        append_entry(incident, Kind.TEAM, actor=actor, source=source, data={"from": old.name, "to": team.name})
        audit.record("incident.team_changed", incident, actor=actor, source=source, ip_address=ip_address,
                     changes={"team": [old.pk, team.pk]})
    return incident


EDITABLE_FIELDS = ("title", "description", "impact", "users_affected", "business_functions", "urgency", "tags",
                   "sensitivity", "started_at")


def edit_incident(incident: Incident | int, *, actor: User | None, source: str, services=None,
                  ip_address: str | None = None, **changes) -> Incident:
    """Edit descriptive fields and affected services; one timeline entry lists what changed.
    Changing sensitivity is audited and needs the commander or an admin."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise Invalid(f"cannot edit {', '.join(sorted(unknown))}")
    for field, choices in (("impact", Impact), ("users_affected", UsersAffected), ("urgency", Urgency),
                           ("sensitivity", Sensitivity)):
        if field in changes:
            _choice(changes[field], choices, field)
    if "title" in changes:
        changes["title"] = (changes["title"] or "").strip()
        if not changes["title"]:
            raise Invalid("title is required", field="title")
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        diff = {}
        for field, value in changes.items():
            old = getattr(incident, field)
            if old != value:
                diff[field] = [old.isoformat() if hasattr(old, "isoformat") else old,
                               value.isoformat() if hasattr(value, "isoformat") else value]
                setattr(incident, field, value)
        if "sensitivity" in diff:
            _require(can_command(actor, incident), actor,
                     "only the incident commander or an admin may change the sensitivity")
        if "started_at" in diff and incident.started_at > incident.detected_at:
            raise Invalid("started_at cannot be after detected_at", field="started_at")
        if services is not None:
            old_names = sorted(incident.services.values_list("name", flat=True))
            new_names = sorted(s.name for s in services)
            if old_names != new_names:
                diff["services"] = [old_names, new_names]
                incident.services.set(services)
        if not diff:
            return incident
        incident.save(update_fields=[f for f in diff if f != "services"] or None)
        append_entry(incident, Kind.FIELDS, actor=actor, source=source, data={"changes": diff})
        if "sensitivity" in diff:
            audit.record("incident.sensitivity_changed", incident, actor=actor, source=source,
                         ip_address=ip_address, changes={"sensitivity": diff["sensitivity"]})
    return incident


# --- comments, updates, checklist, evidence ------------------------------------------------

def add_comment(incident: Incident | int, body: str, *, actor: User | None, source: str,
                public: bool = False) -> TimelineEntry:
    body = (body or "").strip()
    if not body:
        raise Invalid("the comment is empty", field="body")
    if len(body) > 10_000:
        raise Invalid("the comment is longer than 10,000 characters", field="body")
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        return append_entry(incident, Kind.COMMENT, actor=actor, source=source, data={"body": body},
                            visibility=Visibility.PUBLIC if public else Visibility.INTERNAL)


def pin_entry(incident: Incident | int, seq: int, *, pinned: bool = True, actor: User | None,
              source: str) -> TimelineEntry | None:
    """Mark a comment or update as a milestone (or take the mark off): a new entry that
    points at the old one, since entries never change."""
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        target = TimelineEntry.objects.filter(incident=incident, seq=seq).first()
        if target is None:
            raise NotFound(f"{incident.reference} has no timeline entry {seq}")
        if target.kind not in (Kind.COMMENT, Kind.UPDATE):
            raise Invalid("only comments and updates can be pinned", field="seq")
        if (seq in pinned_seqs(incident)) == pinned:
            return None
        return append_entry(incident, Kind.PINNED if pinned else Kind.UNPINNED, actor=actor, source=source,
                            data={"seq": seq})


def pinned_seqs(incident: Incident) -> set[int]:
    pinned: set[int] = set()
    for kind, data in TimelineEntry.objects.filter(incident=incident, kind__in=[Kind.PINNED, Kind.UNPINNED]) \
            .order_by("seq").values_list("kind", "data"):
        (pinned.add if kind == Kind.PINNED else pinned.discard)(data.get("seq"))
    return pinned


def post_update(incident: Incident | int, *, impact: str, action_taken: str = "", next_step: str = "",
                actor: User | None, source: str, public: bool = False) -> TimelineEntry:
    """A structured update: current impact, action taken, next step."""
    fields = {"impact": (impact or "").strip(), "action_taken": (action_taken or "").strip(),
              "next_step": (next_step or "").strip()}
    if not fields["impact"]:
        raise Invalid("say what the current impact is", field="impact")
    for name, value in fields.items():
        if len(value) > 5_000:
            raise Invalid(f"{name} is longer than 5,000 characters", field=name)
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        return append_entry(incident, Kind.UPDATE, actor=actor, source=source, data=fields,
                            visibility=Visibility.PUBLIC if public else Visibility.INTERNAL)


def tick_checklist_item(item: ChecklistItem | int, done: bool, *, actor: User | None, source: str) -> ChecklistItem:
    with transaction.atomic():
        item_id = item.pk if isinstance(item, ChecklistItem) else item
        incident_id = ChecklistItem.objects.filter(pk=item_id).values_list("incident_id", flat=True).first()
        if incident_id is None:
            raise NotFound(f"checklist item {item_id} does not exist")
        incident = _lock(incident_id)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        item = ChecklistItem.objects.select_for_update().get(pk=item_id)
        if (item.done_at is not None) == done:
            return item
        item.done_at = timezone.now() if done else None
        item.done_by = actor if done and actor and actor.pk else None
        item.save(update_fields=["done_at", "done_by"])
        total = incident.checklist.count()
        finished = incident.checklist.exclude(done_at=None).count()
        append_entry(incident, Kind.CHECKLIST, actor=actor, source=source,
                     data={"item": item.text, "item_id": item.pk, "done": done, "progress": [finished, total]})
    return item


def add_evidence(incident: Incident | int, upload, *, actor: User | None, source: str,
                 description: str = "") -> Evidence:
    """Attach a file (log, screenshot, document). Checks size and type before storing."""
    size = upload.size
    if size > settings.EVIDENCE_MAX_BYTES:
        raise Invalid(f"the file is {size} bytes; the limit is {settings.EVIDENCE_MAX_BYTES} bytes", field="file")
    content_type = (getattr(upload, "content_type", None) or mimetypes.guess_type(upload.name)[0] or "").split(";")[0]
    if upload.name.endswith(".log"):
        content_type = "text/plain"
    if content_type not in Evidence.ALLOWED_TYPES:
        raise Invalid(f"files of type {content_type or 'unknown'} are not accepted; allowed: "
                      f"{', '.join(sorted(Evidence.ALLOWED_TYPES))}", field="file")
    with transaction.atomic():
        incident = _lock(incident)
        _require(can_respond(actor, incident), actor, "you need the responder role in the owning team")
        name = upload.name.rsplit("/", 1)[-1][:200]
        evidence = Evidence.objects.create(incident=incident, file=upload, filename=name, content_type=content_type,
                                           size=size, description=description[:300],
                                           uploaded_by=actor if actor and actor.pk else None)
        append_entry(incident, Kind.EVIDENCE, actor=actor, source=source, data={
            "evidence_id": evidence.pk, "filename": name, "content_type": content_type, "size": size,
            "description": description[:300]})
    return evidence


# --- merge and relate ----------------------------------------------------------------------

def merge_incidents(duplicate: Incident | int, survivor: Incident | int, *, actor: User | None,
                    source: str) -> Incident:
    """Merge `duplicate` into `survivor`: the duplicate is resolved and points at the
    survivor; both timelines record it. Locks both, lower id first."""
    dup_id = duplicate.pk if isinstance(duplicate, Incident) else duplicate
    surv_id = survivor.pk if isinstance(survivor, Incident) else survivor
    if dup_id == surv_id:
        raise Invalid("an incident cannot be merged into itself", field="into")
    with transaction.atomic():
        locked = {i: _lock(i) for i in sorted((dup_id, surv_id))}
        duplicate, survivor = locked[dup_id], locked[surv_id]
        _require(can_respond(actor, duplicate) and can_respond(actor, survivor), actor,
                 "you need the responder role in both incidents' teams")
        if duplicate.merged_into_id == survivor.pk:
            return survivor
        if duplicate.merged_into_id:
            raise Conflict(f"{duplicate.reference} is already merged into another incident")
        if survivor.merged_into_id:
            raise Conflict(f"{survivor.reference} was itself merged; merge into INC-{survivor.merged_into.number}")
        now = timezone.now()
        was_open = duplicate.is_open
        duplicate.merged_into = survivor
        duplicate.status = Status.RESOLVED
        duplicate.resolved_at = duplicate.resolved_at or now
        duplicate.save(update_fields=["merged_into", "status", "resolved_at"])
        playbook.skip_remaining(duplicate, reason=f"merged into {survivor.reference}", now=now)
        append_entry(duplicate, Kind.MERGED_INTO, actor=actor, source=source,
                     data={"into": survivor.reference, "into_id": survivor.pk})
        append_entry(survivor, Kind.MERGED, actor=actor, source=source,
                     data={"from": duplicate.reference, "from_id": duplicate.pk, "title": duplicate.title})
        survivor.services.add(*duplicate.services.all())
        if was_open:
            signals.send_on_commit(signals.incident_resolved, incident_id=duplicate.pk,
                                   actor_id=actor.pk if actor else None, source=source)
    return survivor


def relate_incidents(incident: Incident | int, other: Incident | int, *, actor: User | None,
                     source: str) -> Incident:
    a_id = incident.pk if isinstance(incident, Incident) else incident
    b_id = other.pk if isinstance(other, Incident) else other
    if a_id == b_id:
        raise Invalid("an incident cannot be related to itself", field="other")
    with transaction.atomic():
        locked = {i: _lock(i) for i in sorted((a_id, b_id))}
        incident, other = locked[a_id], locked[b_id]
        _require(can_respond(actor, incident) and can_view(actor, other), actor,
                 "you need the responder role here and access to the other incident")
        if incident.related.filter(pk=other.pk).exists():
            return incident
        incident.related.add(other)
        append_entry(incident, Kind.RELATED, actor=actor, source=source,
                     data={"other": other.reference, "other_id": other.pk})
        append_entry(other, Kind.RELATED, actor=actor, source=source,
                     data={"other": incident.reference, "other_id": incident.pk})
    return incident

