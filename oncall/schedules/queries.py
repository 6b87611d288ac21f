"""Reads of schedules: who is on call, the final shifts, gaps, and permission-scoped
lists. Escalation codes against `on_call_at`, `final_shifts`, `schedules_for_user`
and `schedules_visible_to`; keep their names and signatures."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet

from alertum.core.errors import NotFound
from alertum.core.models import Role, User
from alertum.core.permissions import has_team_role, is_admin, team_roles, teams_with_role
from oncall.schedules import rotation
from oncall.schedules.models import Layer, Override, Participant, Schedule


@dataclass(frozen=True)
class Shift:
    """A stretch of the final schedule held by one person; `source` says which layer or
    override put them there ("layer:3", "override:7")."""

    user: User
    start: dt.datetime
    end: dt.datetime
    source: str


# --- permissions -------------------------------------------------------------------------

def can_view_schedule(user, schedule: Schedule) -> bool:
    return has_team_role(user, schedule.team_id, Role.VIEWER)


def can_edit_schedule(user, schedule_or_team_id) -> bool:
    """Team admins and commanders edit their team's schedules."""
    team_id = getattr(schedule_or_team_id, "team_id", schedule_or_team_id)
    return has_team_role(user, team_id, Role.COMMANDER)


def schedules_visible_to(user) -> QuerySet[Schedule]:
    """The schedules of every team the user belongs to (all of them for global admins)."""
    qs = Schedule.objects.select_related("team")
    if is_admin(user):
        return qs
    return qs.filter(team_id__in=list(team_roles(user)))


def editable_team_ids(user) -> list[int] | None:
    """Teams whose schedules the user may edit; None means every team (global admin)."""
    if is_admin(user):
        return None
    return teams_with_role(user, Role.COMMANDER)


def get_schedule_for_user(user, key) -> Schedule:
    """A schedule by id or slug that the user may see, or NotFound (also when hidden,
    so that schedule names of other teams do not leak)."""
    qs = schedules_visible_to(user)
    lookup = Q(pk=int(key)) if str(key).isdigit() else Q(slug=str(key))
    schedule = qs.filter(lookup).first()
    if schedule is None:
        raise NotFound(f"schedule {key} does not exist")
    return schedule


def schedules_for_user(user) -> QuerySet[Schedule]:
    """Schedules in which the user takes a turn in some layer or has an override."""
    return Schedule.objects.select_related("team").filter(
        Q(layers__participants__user=user) | Q(overrides__user=user)).distinct()


# --- the computed schedule ---------------------------------------------------------------

def _layers(schedule: Schedule):
    # Cached on the instance: one page asks several questions of the same schedule.
    cached = getattr(schedule, "_rotation_layers", None)
    if cached is None:
        cached = list(Layer.objects.filter(schedule=schedule).prefetch_related(
            Prefetch("participants", queryset=Participant.objects.order_by("position")), "restrictions"))
        schedule._rotation_layers = cached
    return cached


def layers_of(schedule: Schedule) -> list[Layer]:
    """The schedule's layers with participants and restrictions (cached on the instance)."""
    return _layers(schedule)


def forget(schedule: Schedule) -> None:
    """Drop the layers cached on this instance (after an edit)."""
    schedule.__dict__.pop("_rotation_layers", None)


def layer_spec(layer: Layer) -> rotation.LayerSpec:
    return rotation.LayerSpec(
        id=layer.pk, level=layer.level, unit=layer.rotation_unit, length=layer.rotation_length,
        starts_at=rotation.to_utc(layer.starts_at),
        ends_at=rotation.to_utc(layer.ends_at) if layer.ends_at else None,
        participants=tuple(p.user_id for p in layer.participants.all()),
        restrictions=tuple(rotation.RestrictionSpec(frozenset(r.weekdays), r.start_time, r.end_time)
                           for r in layer.restrictions.all()),
        name=layer.name,
    )


# (schedule id, etag) -> layer specs. Bounded; a per-process cache is enough because the
# etag changes with every edit, so a key is never stale.
_SPEC_CACHE: OrderedDict[tuple[int, str], tuple[rotation.LayerSpec, ...]] = OrderedDict()
_SPEC_CACHE_SIZE = 512


def _layer_specs(schedule: Schedule) -> tuple[rotation.LayerSpec, ...]:
    key = (schedule.pk, schedule.etag)
    if schedule.etag and key in _SPEC_CACHE:
        _SPEC_CACHE.move_to_end(key)
        return _SPEC_CACHE[key]
    specs = tuple(layer_spec(layer) for layer in _layers(schedule))
    if schedule.etag:
        _SPEC_CACHE[key] = specs
        if len(_SPEC_CACHE) > _SPEC_CACHE_SIZE:
            _SPEC_CACHE.popitem(last=False)
    return specs


def schedule_spec(schedule: Schedule, start: dt.datetime | None = None, end: dt.datetime | None = None,
                  *, layers=None, overrides=None) -> rotation.ScheduleSpec:
    """The schedule as pure data for `rotation`; overrides limited to [start, end) when
    given. `layers`/`overrides` let the editor preview unsaved changes."""
    if layers is None:
        layers = _layer_specs(schedule)
    if overrides is None:
        qs = Override.objects.filter(schedule=schedule)
        if start is not None:
            qs = qs.filter(ends_at__gt=start)
        if end is not None:
            qs = qs.filter(starts_at__lt=end)
        overrides = [rotation.OverrideSpec(pk, user_id, rotation.to_utc(a), rotation.to_utc(b))
                     for pk, user_id, a, b in qs.values_list("id", "user_id", "starts_at", "ends_at")]
    return rotation.ScheduleSpec(tz=schedule.tz, layers=tuple(layers), overrides=tuple(overrides))


def _users(ids) -> dict[int, User]:
    return User.objects.in_bulk(set(ids))


def _check_range(start: dt.datetime, end: dt.datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")


def final_segments(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[rotation.Segment]:
    _check_range(start, end)
    return rotation.final_segments(schedule_spec(schedule, start, end), start, end)


def segments_to_shifts(segments) -> list[Shift]:
    users = _users(seg.user_id for seg in segments)
    return [Shift(users[s.user_id], s.start, s.end, s.source) for s in segments if s.user_id in users]


def final_shifts(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[Shift]:
    """The computed schedule over [start, end): sorted, non-overlapping, clipped to the
    range; stretches nobody covers are simply absent."""
    return segments_to_shifts(final_segments(schedule, start, end))


def on_call_at(schedule: Schedule, at: dt.datetime) -> list[User]:
    """Who is on call at that instant (usually one person; an empty list is a gap)."""
    _check_range(at, at)
    ids = rotation.on_call_at(schedule_spec(schedule, at, at + dt.timedelta(seconds=1)), at)
    users = _users(ids)
    return [users[i] for i in ids if i in users]


def layer_shifts(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[tuple[Layer, list[Shift]]]:
    """Each layer on its own (highest level first), for the schedule view."""
    _check_range(start, end)
    out = []
    for layer in _layers(schedule):
        segments = rotation.layer_segments(layer_spec(layer), schedule.tz, rotation.to_utc(start),
                                           rotation.to_utc(end))
        out.append((layer, segments))
    users = _users(s.user_id for _, segs in out for s in segs)
    return [(layer, [Shift(users[s.user_id], s.start, s.end, s.source) for s in segs if s.user_id in users])
            for layer, segs in out]


def gaps(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    return rotation.gaps(final_segments(schedule, start, end), start, end)


@dataclass(frozen=True)
class OnCallNow:
    schedule: Schedule
    now: list[User]
    until: dt.datetime | None  # when the current person hands off (None: beyond the horizon)
    next: list[User]  # who takes over then
    next_at: dt.datetime | None


def on_call_now(schedule: Schedule, at: dt.datetime, horizon: dt.timedelta = dt.timedelta(days=35)) -> OnCallNow:
    """Who is on call at `at`, and who takes over at the next change."""
    spec = schedule_spec(schedule, at, at + horizon)
    now_ids = rotation.on_call_at(spec, at)
    change = rotation.next_change(spec, at, horizon=horizon, step=horizon)
    next_ids = [change[1]] if change else []
    # The current person's stretch can end in a gap before the next person comes.
    until = None
    if now_ids:
        until = at
        for seg in rotation.final_segments(spec, at, at + horizon):
            if seg.start > until or seg.user_id != now_ids[0]:
                break
            until = seg.end
        if until >= at + horizon:
            until = None
    users = _users(now_ids + next_ids)
    return OnCallNow(schedule, [users[i] for i in now_ids if i in users], until,
                     [users[i] for i in next_ids if i in users], change[0] if change else None)


def shifts_of_user(user: User, start: dt.datetime, end: dt.datetime, schedules=None) -> list[tuple[Schedule, Shift]]:
    """A person's final shifts across the schedules they appear in ("my shifts")."""
    out = []
    for schedule in (schedules if schedules is not None else schedules_for_user(user)):
        for seg in final_segments(schedule, start, end):
            if seg.user_id == user.pk:
                out.append((schedule, Shift(user, seg.start, seg.end, seg.source)))
    out.sort(key=lambda pair: (pair[1].start, pair[0].pk))
    return out


WIDGET_LIMIT = 12


def on_call_widget(user, at: dt.datetime) -> list[OnCallNow]:
    """The dashboard's "on call now": the user's own schedules first, then the rest of
    their teams', at most WIDGET_LIMIT."""
    schedules = list(schedules_visible_to(user).order_by("team__name", "name")[:100])
    mine = set(schedules_for_user(user).values_list("pk", flat=True)) if user.is_authenticated else set()
    schedules.sort(key=lambda s: (s.pk not in mine, s.team.name, s.name))
    return [on_call_now(s, at) for s in schedules[:WIDGET_LIMIT]]
