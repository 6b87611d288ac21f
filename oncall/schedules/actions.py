"""The only write path for schedules: schedules, layers, overrides, fatigue limits,
handoff notes, calendar feeds, and the handoff tick. Pages, API, admin and tasks call
these functions.

Each edit: checks the actor may edit the schedule's team (commander or admin); opens a
transaction; locks the schedule row; validates; saves; recomputes the schedule's
`next_handoff_at`; audits. Lock order: schedule, then incidents by ascending id (the
handoff appends to their timelines).
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.text import slugify

from alertum.core import audit
from alertum.core.errors import Conflict, Forbidden, Invalid, NotFound
from alertum.core.models import Role, Team, User
from alertum.core.permissions import has_team_role, is_admin
from oncall.schedules import queries, rotation
from oncall.schedules.models import (
    CalendarFeed,
    FatigueLimits,
    HandoffNote,
    Layer,
    Override,
    Participant,
    Restriction,
    Schedule,
)

MAX_PARTICIPANTS = 100
MAX_RESTRICTIONS = 21


def _require_edit(actor, team_id: int) -> None:
    # actor None is the system itself (commands, seed data); it is trusted.
    if actor is not None and not queries.can_edit_schedule(actor, team_id):
        raise Forbidden("you need the commander or admin role in the schedule's team to change it")


def _lock(schedule: Schedule | int) -> Schedule:
    pk = schedule.pk if isinstance(schedule, Schedule) else schedule
    try:
        return Schedule.objects.select_for_update().get(pk=pk)
    except Schedule.DoesNotExist:
        raise NotFound(f"schedule {pk} does not exist") from None


def _clean(obj) -> None:
    try:
        obj.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise Invalid(f"{field}: {' '.join(messages)}", field=field) from None


def _aware(value, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise Invalid(f"{field} must be a date and time", field=field)
    if value.tzinfo is None:
        raise Invalid(f"{field} needs a time zone offset", field=field)
    return value


def _oncall_member(user: User, team_id: int, field: str) -> None:
    # Viewers only read; a person on call must be able to respond.
    if not has_team_role(user, team_id, Role.RESPONDER):
        raise Invalid(f"{user} is not a responder (or higher) in the schedule's team", field=field)


def reschedule_handoff(schedule: Schedule, now: dt.datetime | None = None) -> None:
    """Set the schedule's next handoff from the current rows (after any edit)."""
    now = now or timezone.now()
    queries.forget(schedule)
    schedule.etag = secrets.token_hex(8)
    change = rotation.next_change(queries.schedule_spec(schedule, now, now + dt.timedelta(days=400)), now)
    schedule.next_handoff_at = change[0] if change else None
    Schedule.objects.filter(pk=schedule.pk).update(next_handoff_at=schedule.next_handoff_at, etag=schedule.etag,
                                                   updated_at=timezone.now())


# --- schedules ---------------------------------------------------------------------------

def create_schedule(*, team: Team, name: str, actor, source: str, time_zone: str = "UTC", description: str = "",
                    slug: str = "", ip_address: str | None = None) -> Schedule:
    _require_edit(actor, team.pk)
    name = (name or "").strip()
    if not name:
        raise Invalid("name is required", field="name")
    schedule = Schedule(team=team, name=name, slug=(slug or slugify(f"{team.slug}-{name}"))[:100],
                        time_zone=time_zone or "UTC", description=description or "")
    _clean(schedule)
    with transaction.atomic():
        if Schedule.objects.filter(slug=schedule.slug).exists():
            raise Conflict(f"a schedule with the slug {schedule.slug!r} already exists", field="slug")
        if Schedule.objects.filter(team=team, name=name).exists():
            raise Conflict(f"{team} already has a schedule named {name!r}", field="name")
        schedule.save()
        audit.record("schedule.created", schedule, actor=actor, source=source, ip_address=ip_address,
                     changes={"team": team.pk, "time_zone": schedule.time_zone})
    return schedule


SCHEDULE_FIELDS = ("name", "slug", "time_zone", "description", "team")


def update_schedule(schedule: Schedule, *, actor, source: str, ip_address: str | None = None, **changes) -> Schedule:
    """Change name, slug, time zone, description or (global admin or admin of both
    teams) the owning team. A new time zone moves every wall-clock handoff."""
    unknown = set(changes) - set(SCHEDULE_FIELDS)
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(sorted(unknown))}")
    _require_edit(actor, schedule.team_id)
    with transaction.atomic():
        schedule = _lock(schedule)
        before = audit.snapshot(schedule, list(SCHEDULE_FIELDS))
        for field, value in changes.items():
            if field == "team":
                if value is None or not isinstance(value, Team):
                    raise Invalid("team is required", field="team")
                _require_edit(actor, value.pk)
            elif isinstance(value, str):
                value = value.strip()
            setattr(schedule, field, value)
        if not schedule.name:
            raise Invalid("name is required", field="name")
        _clean(schedule)
        if Schedule.objects.filter(slug=schedule.slug).exclude(pk=schedule.pk).exists():
            raise Conflict(f"a schedule with the slug {schedule.slug!r} already exists", field="slug")
        if Schedule.objects.filter(team_id=schedule.team_id, name=schedule.name).exclude(pk=schedule.pk).exists():
            raise Conflict(f"the team already has a schedule named {schedule.name!r}", field="name")
        diff = audit.model_changes(schedule, list(SCHEDULE_FIELDS), before)
        if not diff:
            return schedule
        schedule.save()
        reschedule_handoff(schedule)
        audit.record("schedule.updated", schedule, actor=actor, source=source, ip_address=ip_address, changes=diff)
    return schedule


def delete_schedule(schedule: Schedule, *, actor, source: str, ip_address: str | None = None) -> None:
    """Delete a schedule with its layers and overrides; refused (409) while an escalation
    policy still pages it."""
    _require_edit(actor, schedule.team_id)
    with transaction.atomic():
        schedule = _lock(schedule)
        pk, text = schedule.pk, str(schedule)
        try:
            with transaction.atomic():
                schedule.delete()
        except ProtectedError as exc:
            raise Conflict(f"{text} is still used by {len(exc.protected_objects)} escalation rule(s); "
                           "remove it from them first") from None
        audit.record("schedule.deleted", None, actor=actor, source=source, ip_address=ip_address,
                     object_type="schedules.schedule", object_repr=text, changes={"id": pk})


# --- layers ------------------------------------------------------------------------------

def _restriction_rows(layer: Layer, restrictions) -> list[Restriction]:
    rows = []
    if len(restrictions) > MAX_RESTRICTIONS:
        raise Invalid(f"at most {MAX_RESTRICTIONS} restrictions per layer", field="restrictions")
    for item in restrictions:
        if isinstance(item, Restriction):
            weekdays, start, end = item.weekdays, item.start_time, item.end_time
        elif isinstance(item, dict):
            weekdays, start, end = item.get("weekdays"), item.get("start_time"), item.get("end_time")
        else:
            raise Invalid("each restriction needs weekdays, start_time and end_time", field="restrictions")
        if isinstance(start, str) or isinstance(end, str):
            try:
                start = dt.time.fromisoformat(start) if isinstance(start, str) else start
                end = dt.time.fromisoformat(end) if isinstance(end, str) else end
            except ValueError:
                raise Invalid("restriction times look like 09:00", field="restrictions") from None
        if not isinstance(start, dt.time) or not isinstance(end, dt.time):
            raise Invalid("each restriction needs start_time and end_time (HH:MM)", field="restrictions")
        if start == end:
            raise Invalid("a restriction's start and end must differ (leave restrictions out for all day)",
                          field="restrictions")
        row = Restriction(layer=layer, weekdays=sorted(weekdays) if isinstance(weekdays, list) else weekdays,
                          start_time=start, end_time=end)
        try:
            row.clean_fields(exclude=["layer"])
        except ValidationError as exc:
            raise Invalid("restrictions: " + " ".join(m for ms in exc.message_dict.values() for m in ms),
                          field="restrictions") from None
        rows.append(row)
    return rows


def save_layer(schedule: Schedule, *, actor, source: str, layer: Layer | None = None, name: str,
               rotation_unit: str, rotation_length: int, starts_at: dt.datetime, participants,
               level: int | None = None, ends_at: dt.datetime | None = None, restrictions=(),
               ip_address: str | None = None) -> Layer:
    """Create a layer (layer=None) or replace an existing one's settings, participants
    (users in rotation order) and restrictions (dicts weekdays/start_time/end_time)."""
    _require_edit(actor, schedule.team_id)
    participants = list(participants or [])
    if not participants:
        raise Invalid("name at least one participant", field="participants")
    if len(participants) > MAX_PARTICIPANTS:
        raise Invalid(f"at most {MAX_PARTICIPANTS} turns per layer", field="participants")
    for user in participants:
        _oncall_member(user, schedule.team_id, "participants")
    _aware(starts_at, "starts_at")
    if ends_at is not None and _aware(ends_at, "ends_at") <= starts_at:
        raise Invalid("ends_at must be after starts_at", field="ends_at")
    if rotation_unit not in Layer.Unit.values:
        raise Invalid(f"rotation_unit must be one of {', '.join(Layer.Unit.values)}", field="rotation_unit")
    with transaction.atomic():
        schedule = _lock(schedule)
        creating = layer is None
        if creating:
            if level is None:
                top = schedule.layers.order_by("-level").values_list("level", flat=True).first()
                level = (top or 0) + 1
            layer = Layer(schedule=schedule)
        else:
            layer = Layer.objects.select_for_update().filter(pk=layer.pk, schedule=schedule).first()
            if layer is None:
                raise NotFound("layer does not exist in this schedule")
            level = layer.level if level is None else level
        layer.name = (name or "").strip()
        if not layer.name:
            raise Invalid("name is required", field="name")
        layer.level, layer.rotation_unit, layer.rotation_length = level, rotation_unit, rotation_length
        layer.starts_at, layer.ends_at = starts_at, ends_at
        _clean(layer)
        if Layer.objects.filter(schedule=schedule, level=level).exclude(pk=layer.pk).exists():
            raise Conflict(f"level {level} is already taken in this schedule", field="level")
        rows = _restriction_rows(layer, list(restrictions or []))
        layer.save()
        layer.participants.all().delete()
        Participant.objects.bulk_create(Participant(layer=layer, user=user, position=i)
                                        for i, user in enumerate(participants, start=1))
        layer.restrictions.all().delete()
        for row in rows:
            row.layer = layer
        Restriction.objects.bulk_create(rows)
        reschedule_handoff(schedule)
        audit.record("layer.created" if creating else "layer.updated", layer, actor=actor, source=source,
                     ip_address=ip_address, changes={
                         "level": level, "rotation": f"{rotation_length} {rotation_unit}",
                         "starts_at": starts_at.isoformat(), "participants": [u.pk for u in participants],
                         "restrictions": [str(r) for r in rows]})
    return layer


def delete_layer(layer: Layer, *, actor, source: str, ip_address: str | None = None) -> None:
    _require_edit(actor, layer.schedule.team_id)
    with transaction.atomic():
        schedule = _lock(layer.schedule_id)
        pk, text = layer.pk, str(layer)
        deleted, _ = Layer.objects.filter(pk=pk, schedule=schedule).delete()
        if not deleted:
            return
        reschedule_handoff(schedule)
        audit.record("layer.deleted", None, actor=actor, source=source, ip_address=ip_address,
                     object_type="schedules.layer", object_repr=text, changes={"id": pk})


# --- overrides ---------------------------------------------------------------------------

MAX_OVERRIDE = dt.timedelta(days=366)


def create_override(schedule: Schedule, *, user: User, starts_at: dt.datetime, ends_at: dt.datetime, actor,
                    source: str, reason: str = "", ip_address: str | None = None) -> Override:
    """Put `user` on call for [starts_at, ends_at), above every layer. Responders may put
    themselves on (take a shift); commanders and admins may put anyone on."""
    if actor is not None and not queries.can_edit_schedule(actor, schedule.team_id) and not (
            actor.pk == user.pk and has_team_role(actor, schedule.team_id, Role.RESPONDER)):
        raise Forbidden("you may take shifts yourself; only commanders and admins cover for others")
    _oncall_member(user, schedule.team_id, "user")
    _aware(starts_at, "starts_at")
    if _aware(ends_at, "ends_at") <= starts_at:
        raise Invalid("ends_at must be after starts_at", field="ends_at")
    if ends_at - starts_at > MAX_OVERRIDE:
        raise Invalid("an override may last at most a year; use a layer for longer", field="ends_at")
    with transaction.atomic():
        schedule = _lock(schedule)
        override = Override(schedule=schedule, user=user, starts_at=starts_at, ends_at=ends_at,
                            reason=(reason or "").strip()[:200], created_by=actor if actor and actor.pk else None)
        _clean(override)
        override.save()
        reschedule_handoff(schedule)
        audit.record("override.created", override, actor=actor, source=source, ip_address=ip_address,
                     changes={"user": user.pk, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()})
    return override


def delete_override(override: Override, *, actor, source: str, ip_address: str | None = None) -> None:
    if actor is not None and not queries.can_edit_schedule(actor, override.schedule.team_id) and not (
            actor.pk == override.user_id and has_team_role(actor, override.schedule.team_id, Role.RESPONDER)):
        raise Forbidden("only commanders, admins and the person covering may remove an override")
    with transaction.atomic():
        schedule = _lock(override.schedule_id)
        pk, text = override.pk, str(override)
        deleted, _ = Override.objects.filter(pk=pk, schedule=schedule).delete()
        if not deleted:
            return
        reschedule_handoff(schedule)
        audit.record("override.deleted", None, actor=actor, source=source, ip_address=ip_address,
                     object_type="schedules.override", object_repr=text, changes={"id": pk})


# --- fatigue limits ----------------------------------------------------------------------

FATIGUE_FIELDS = ("max_consecutive_shifts", "min_rest_hours", "max_pages_per_shift", "max_pages_per_night",
                  "night_starts", "night_ends")


def set_fatigue_limits(team: Team, *, actor, source: str, ip_address: str | None = None, **values) -> FatigueLimits:
    unknown = set(values) - set(FATIGUE_FIELDS)
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(sorted(unknown))}")
    if actor is not None and not has_team_role(actor, team.pk, Role.ADMIN):
        raise Forbidden("you need the admin role in the team to set its fatigue limits")
    with transaction.atomic():
        limits, created = FatigueLimits.objects.select_for_update().get_or_create(team=team)
        before = audit.snapshot(limits, list(FATIGUE_FIELDS))
        for field, value in values.items():
            setattr(limits, field, value)
        _clean(limits)
        diff = audit.model_changes(limits, list(FATIGUE_FIELDS), None if created else before)
        limits.save()
        if diff or created:
            audit.record("fatiguelimits.updated", limits, actor=actor, source=source, ip_address=ip_address,
                         changes=diff)
    return limits


# --- handoff notes -----------------------------------------------------------------------

def leave_handoff_note(schedule: Schedule, *, actor: User, text: str, source: str) -> HandoffNote:
    """A note for whoever takes over next; responders of the team may leave one."""
    if not has_team_role(actor, schedule.team_id, Role.RESPONDER):
        raise Forbidden("you need the responder role in the schedule's team to leave a handoff note")
    text = (text or "").strip()
    if not text:
        raise Invalid("the note is empty", field="text")
    if len(text) > 4000:
        raise Invalid("a note holds at most 4,000 characters", field="text")
    with transaction.atomic():
        note = HandoffNote.objects.create(schedule=schedule, author=actor, text=text)
        audit.record("handoffnote.created", note, actor=actor, source=source)
    return note


# --- calendar feeds ----------------------------------------------------------------------

FEED_SALT = "oncall.schedules.calendar-feed"


def create_calendar_feed(*, owner: User, actor, source: str, schedule: Schedule | None = None,
                         ip_address: str | None = None) -> tuple[CalendarFeed, str]:
    """A new secret calendar URL token for one schedule (any viewer of it) or for the
    owner's own shifts. Returns (feed, token); the token is shown once, only the hash of
    its random part is kept."""
    if actor is not None and actor.pk != owner.pk and not is_admin(actor):
        raise Forbidden("you may create calendar links only for yourself")
    if schedule is not None and not queries.can_view_schedule(owner, schedule):
        raise Forbidden("you cannot see this schedule")
    secret = secrets.token_urlsafe(24)
    with transaction.atomic():
        feed = CalendarFeed.objects.create(owner=owner, schedule=schedule, secret_hash=CalendarFeed.hash_secret(secret))
        audit.record("calendarfeed.created", feed, actor=actor, source=source, ip_address=ip_address,
                     changes={"schedule": schedule.pk if schedule else None})
    # The signature lets a forged or truncated URL fail before any database lookup.
    token = signing.dumps([feed.pk, secret], salt=FEED_SALT, compress=False)
    return feed, token


def resolve_calendar_feed(token: str) -> CalendarFeed:
    """The active feed a token names, or NotFound (bad signature, revoked, wrong secret,
    or an owner who lost access)."""
    try:
        feed_id, secret = signing.loads(token, salt=FEED_SALT)
        feed_id, secret = int(feed_id), str(secret)
    except (signing.BadSignature, TypeError, ValueError):
        raise NotFound("unknown calendar link") from None
    feed = CalendarFeed.objects.select_related("owner", "schedule").filter(
        pk=feed_id, secret_hash=CalendarFeed.hash_secret(secret), revoked_at=None).first()
    if feed is None or not feed.owner.is_active:
        raise NotFound("unknown calendar link")
    if feed.schedule is not None and not queries.can_view_schedule(feed.owner, feed.schedule):
        raise NotFound("unknown calendar link")
    now = timezone.now()
    # Calendar apps poll often; record use at most hourly.
    if feed.last_used_at is None or now - feed.last_used_at > dt.timedelta(hours=1):
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
    return feed


def revoke_calendar_feed(feed: CalendarFeed, *, actor, source: str, ip_address: str | None = None) -> CalendarFeed:
    if actor is not None and actor.pk != feed.owner_id and not is_admin(actor):
        raise Forbidden("you may revoke only your own calendar links")
    with transaction.atomic():
        feed = CalendarFeed.objects.select_for_update().get(pk=feed.pk)
        if feed.revoked_at is not None:
            return feed
        feed.revoked_at = timezone.now()
        feed.save(update_fields=["revoked_at"])
        audit.record("calendarfeed.revoked", feed, actor=actor, source=source, ip_address=ip_address)
    return feed

