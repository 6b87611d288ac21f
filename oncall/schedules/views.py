"""Schedule pages: list with who is on call now and next, the two-week view (each layer
and the final schedule), the editor with a live preview of gaps and fatigue warnings,
overrides, handoff notes, my shifts, coverage and fatigue reports, calendar links and
the secret iCalendar feed itself.

Thin: forms shape input, `queries`/`reports` decide what the viewer sees, `actions`
write and check who may. A DomainError becomes its status code with its message, on the
form it belongs to or on the error page; nothing is saved then.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from alertum.core.errors import DomainError, NotFound
from alertum.core.models import Door, Role, Team
from alertum.core.pages import PageDoor
from alertum.core.pages import form_error as _fail
from alertum.core.pages import web_actor as _who
from alertum.core.permissions import has_team_role, is_admin, teams_with_role
from oncall.schedules import actions, ical, queries, reports, rotation
from oncall.schedules.forms import (
    CalendarLinkForm,
    FatigueLimitsForm,
    HandoffNoteForm,
    LayerForm,
    OverrideForm,
    ScheduleForm,
    restrictions_text,
)
from oncall.schedules.models import CalendarFeed, FatigueLimits, Layer, Override

_DOOR = PageDoor("schedules:list", "Back to the schedules")
page_view = _DOOR.view
error_page = _DOOR.error


VIEW_DAYS = 14
PREVIEW_DAYS = 28


def _viewer_zone(request) -> zoneinfo.ZoneInfo:
    return timezone.get_current_timezone()


def _today_start(request) -> dt.datetime:
    zone = _viewer_zone(request)
    return dt.datetime.combine(timezone.now().astimezone(zone).date(), dt.time(), tzinfo=zone)


def _editable_teams(user):
    ids = queries.editable_team_ids(user)
    return Team.objects.all() if ids is None else Team.objects.filter(pk__in=ids)


def _bars(shifts, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Shifts as positioned bars (percent of the window) for the timeline rows."""
    total = (end - start).total_seconds()
    out = []
    for s in shifts:
        left = max(0.0, (s.start - start).total_seconds() / total * 100)
        width = min(100.0 - left, (s.end - s.start).total_seconds() / total * 100)
        out.append({"shift": s, "left": round(left, 3), "width": round(width, 3),
                    "colour": (s.user.pk * 47) % 360})
    return out


# --- list, view ----------------------------------------------------------------------

@page_view
@require_GET
def schedule_list(request):
    now = timezone.now()
    rows = [queries.on_call_now(s, now) for s in queries.schedules_visible_to(request.user)]
    return render(request, "schedules/list.html", {
        "rows": rows, "may_create": is_admin(request.user) or bool(teams_with_role(request.user, Role.COMMANDER))})


@page_view
@require_GET
def schedule_detail(request, slug: str):
    schedule = queries.get_schedule_for_user(request.user, slug)
    start = _today_start(request)
    try:
        offset = int(request.GET.get("weeks", "0"))
    except ValueError:
        offset = 0
    offset = max(-52, min(52, offset))
    start += dt.timedelta(weeks=offset)
    end = start + dt.timedelta(days=VIEW_DAYS)
    final = queries.final_shifts(schedule, start, end)
    layer_rows = [{"layer": layer, "bars": _bars(shifts, start, end), "shifts": shifts}
                  for layer, shifts in queries.layer_shifts(schedule, start, end)]
    zone = _viewer_zone(request)
    days = [{"label": (start + dt.timedelta(days=i)).astimezone(zone).strftime("%a %d"),
             "left": i / VIEW_DAYS * 100} for i in range(VIEW_DAYS)]
    may_edit = queries.can_edit_schedule(request.user, schedule)
    return render(request, "schedules/detail.html", {
        "schedule": schedule, "start": start, "end": end, "weeks": offset, "days": days,
        "final": final, "final_bars": _bars(final, start, end), "layers": layer_rows,
        "gaps": queries.gaps(schedule, start, end), "state": queries.on_call_now(schedule, timezone.now()),
        "overrides": Override.objects.filter(schedule=schedule, ends_at__gt=timezone.now()).select_related("user"),
        "may_edit": may_edit, "may_respond": has_team_role(request.user, schedule.team_id, Role.RESPONDER),
        "override_form": OverrideForm(zone=zone.key if hasattr(zone, "key") else "UTC"),
        "note_form": HandoffNoteForm(),
    })


# --- schedule editor -----------------------------------------------------------------

@page_view
def schedule_create(request):
    teams = _editable_teams(request.user)
    form = ScheduleForm(request.POST or None, teams=teams, initial={"time_zone": request.user.time_zone})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                schedule = actions.create_schedule(**form.cleaned_data, **_who(request))
            except DomainError as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, f"Schedule {schedule.name} created; add a layer.")
                return redirect("schedules:layer_create", schedule.slug)
        else:
            status = 400
    return render(request, "schedules/schedule_form.html", {"form": form, "creating": True}, status=status)


@page_view
def schedule_edit(request, slug: str):
    schedule = queries.get_schedule_for_user(request.user, slug)
    if not queries.can_edit_schedule(request.user, schedule):
        return error_page(request, "you need the commander or admin role in the schedule's team to change it", 403)
    teams = _editable_teams(request.user)
    initial = {"team": schedule.team, "name": schedule.name, "time_zone": schedule.time_zone,
               "description": schedule.description}
    form = ScheduleForm(request.POST or None, teams=teams, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                actions.update_schedule(schedule, **_who(request), **form.cleaned_data)
            except DomainError as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, "Schedule saved.")
                return redirect("schedules:edit", schedule.slug)
        else:
            status = 400
    now = timezone.now()
    report = reports.coverage(schedule, now, now + dt.timedelta(days=PREVIEW_DAYS), pages=False)
    return render(request, "schedules/schedule_form.html", {
        "form": form, "schedule": schedule, "layers": schedule.layers.prefetch_related("participants__user",
                                                                                        "restrictions"),
        "report": report}, status=status)


@page_view
@require_POST
def schedule_delete(request, slug: str):
    schedule = queries.get_schedule_for_user(request.user, slug)
    actions.delete_schedule(schedule, **_who(request))
    messages.success(request, f"Schedule {schedule.name} deleted.")
    return redirect("schedules:list")


def _layer_or_none(schedule, pk):
    if pk is None:
        return None
    layer = Layer.objects.filter(pk=pk, schedule=schedule).first()
    if layer is None:
        raise NotFound("layer does not exist in this schedule")
    return layer


@page_view
def layer_edit(request, slug: str, pk: int | None = None):
    schedule = queries.get_schedule_for_user(request.user, slug)
    if not queries.can_edit_schedule(request.user, schedule):
        return error_page(request, "you need the commander or admin role in the schedule's team to change it", 403)
    layer = _layer_or_none(schedule, pk)
    initial = {}
    if layer is not None:
        initial = {"name": layer.name, "level": layer.level, "rotation_length": layer.rotation_length,
                   "rotation_unit": layer.rotation_unit, "starts_at": layer.starts_at, "ends_at": layer.ends_at,
                   "participants": "\n".join(p.user.username for p in layer.participants.select_related("user")),
                   "restrictions": restrictions_text(layer)}
    else:
        initial = {"starts_at": _today_start(request).astimezone(schedule.tz).replace(hour=9)}
    form = LayerForm(request.POST or None, zone=schedule.time_zone, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                actions.save_layer(schedule, layer=layer, **_who(request), **form.action_kwargs())
            except DomainError as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, "Layer saved.")
                return redirect("schedules:edit", schedule.slug)
        else:
            status = 400
    now = timezone.now()
    report = reports.coverage(schedule, now, now + dt.timedelta(days=PREVIEW_DAYS), pages=False)
    return render(request, "schedules/layer_form.html", {"form": form, "schedule": schedule, "layer": layer,
                                                         "report": report, "preview_days": PREVIEW_DAYS},
                  status=status)


@page_view
@require_POST
def layer_preview(request, slug: str):
    """htmx: gaps and fatigue warnings of the next weeks as if the layer form were saved."""
    schedule = queries.get_schedule_for_user(request.user, slug)
    if not queries.can_edit_schedule(request.user, schedule):
        return error_page(request, "you need the commander or admin role in the schedule's team to change it", 403)
    form = LayerForm(request.POST, zone=schedule.time_zone)
    if not form.is_valid():
        return render(request, "schedules/_preview.html", {"form_errors": form.errors})
    data = form.cleaned_data
    pk = int(request.POST["layer"]) if request.POST.get("layer", "").isdigit() else None
    now = timezone.now()
    end = now + dt.timedelta(days=PREVIEW_DAYS)
    layers = [queries.layer_spec(layer) for layer in queries.layers_of(schedule) if layer.pk != pk]
    level = data.get("level") or (max((la.level for la in layers), default=0) + 1)
    layers.append(rotation.LayerSpec(
        id=pk or 0, level=level, unit=data["rotation_unit"], length=data["rotation_length"],
        starts_at=rotation.to_utc(data["starts_at"]),
        ends_at=rotation.to_utc(data["ends_at"]) if data.get("ends_at") else None,
        participants=tuple(u.pk for u in data["participants"]),
        restrictions=tuple(rotation.RestrictionSpec(frozenset(r["weekdays"]), r["start_time"], r["end_time"])
                           for r in data["restrictions"])))
    spec = queries.schedule_spec(schedule, now - dt.timedelta(days=14), end, layers=layers)
    report = reports.coverage(schedule, now, end, spec=spec, pages=False)
    return render(request, "schedules/_preview.html", {"report": report, "preview_days": PREVIEW_DAYS,
                                                       "previewing": True})


@page_view
@require_POST
def layer_delete(request, slug: str, pk: int):
    schedule = queries.get_schedule_for_user(request.user, slug)
    actions.delete_layer(_layer_or_none(schedule, pk), **_who(request))
    messages.success(request, "Layer deleted.")
    return redirect("schedules:edit", schedule.slug)


# --- overrides, notes ----------------------------------------------------------------

@page_view
@require_POST
def override_create(request, slug: str):
    schedule = queries.get_schedule_for_user(request.user, slug)
    zone = _viewer_zone(request)
    form = OverrideForm(request.POST, zone=getattr(zone, "key", "UTC"))
    if form.is_valid():
        try:
            actions.create_override(schedule, **_who(request), **form.cleaned_data)
        except DomainError as exc:
            _fail(form, exc)
    if form.errors:
        text = "; ".join(f"{'' if f == '__all__' else f + ': '}{' '.join(e)}" for f, e in form.errors.items())
        return error_page(request, f"The override was not saved: {text}", 422 if form.is_bound else 400)
    messages.success(request, "Override added.")
    return redirect("schedules:detail", schedule.slug)


@page_view
@require_POST
def override_delete(request, slug: str, pk: int):
    schedule = queries.get_schedule_for_user(request.user, slug)
    override = Override.objects.filter(pk=pk, schedule=schedule).first()
    if override is None:
        raise NotFound("override does not exist")
    actions.delete_override(override, **_who(request))
    messages.success(request, "Override removed.")
    return redirect("schedules:detail", schedule.slug)


@page_view
@require_POST
def handoff_note(request, slug: str):
    schedule = queries.get_schedule_for_user(request.user, slug)
    form = HandoffNoteForm(request.POST)
    if not form.is_valid():
        return error_page(request, "The note is empty or too long.", 400)
    actions.leave_handoff_note(schedule, actor=request.user, text=form.cleaned_data["text"], source=Door.WEB)
    messages.success(request, "Note left for the next person on call.")
    return redirect("schedules:detail", schedule.slug)


# --- my shifts, reports ---------------------------------------------------------------

@page_view
@require_GET
def my_shifts(request):
    start = timezone.now()
    end = start + dt.timedelta(days=PREVIEW_DAYS)
    return render(request, "schedules/my_shifts.html", {
        "shifts": queries.shifts_of_user(request.user, start, end), "start": start, "end": end,
        "days": PREVIEW_DAYS})


def _report_range(request, default_days: int) -> tuple[dt.datetime, dt.datetime, int]:
    try:
        days = int(request.GET.get("days", default_days))
    except ValueError:
        days = default_days
    days = max(1, min(90, days))
    start = _today_start(request)
    return start, start + dt.timedelta(days=days), days


@page_view
@require_GET
def coverage_report(request):
    start, end, days = _report_range(request, VIEW_DAYS)
    rows = [reports.coverage(s, start, end, pages=False) for s in queries.schedules_visible_to(request.user)]
    return render(request, "schedules/coverage.html", {"rows": rows, "start": start, "end": end, "days": days})


@page_view
@require_GET
def fatigue_report(request):
    """Breaches over the last `days` (pages received and shifts held) and the coming
    `days` (shifts planned)."""
    _, _, days = _report_range(request, 28)
    now = timezone.now()
    start, end = now - dt.timedelta(days=days), now + dt.timedelta(days=days)
    rows = []
    for schedule in queries.schedules_visible_to(request.user):
        report = reports.coverage(schedule, start, end)
        rows.append({"schedule": schedule, "breaches": [(b, report.users.get(b.user_id)) for b in report.breaches],
                     "limits": FatigueLimits.objects.filter(team_id=schedule.team_id).first()})
    return render(request, "schedules/fatigue.html", {"rows": rows, "days": days, "start": start, "end": end,
                                                      "any_breach": any(r["breaches"] for r in rows)})


@page_view
def fatigue_limits(request, team: str):
    team_obj = Team.objects.filter(slug=team).first()
    if team_obj is None or not has_team_role(request.user, team_obj.pk, Role.VIEWER):
        raise NotFound(f"no team {team!r}")
    limits = FatigueLimits.objects.filter(team=team_obj).first() or FatigueLimits(team=team_obj)
    form = FatigueLimitsForm(request.POST or None, instance=limits)
    may_edit = has_team_role(request.user, team_obj.pk, Role.ADMIN)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                actions.set_fatigue_limits(team_obj, **_who(request), **{f: form.cleaned_data[f]
                                                                          for f in actions.FATIGUE_FIELDS})
            except DomainError as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, "Fatigue limits saved.")
                return redirect("schedules:fatigue")
        else:
            status = 400
    return render(request, "schedules/fatigue_limits.html", {"form": form, "team": team_obj, "may_edit": may_edit},
                  status=status)


# --- calendar links ------------------------------------------------------------------

@page_view
def calendar_links(request):
    form = CalendarLinkForm(request.POST or None, schedules=queries.schedules_visible_to(request.user))
    new_url = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _, token = actions.create_calendar_feed(owner=request.user, schedule=form.cleaned_data["schedule"],
                                                        **_who(request))
            except DomainError as exc:
                status = _fail(form, exc)
            else:
                new_url = request.build_absolute_uri(reverse("schedules:calendar", args=[token]))
                status = 201
        else:
            status = 400
    feeds = CalendarFeed.objects.filter(owner=request.user, revoked_at=None).select_related("schedule")
    return render(request, "schedules/calendar_links.html", {"form": form, "feeds": feeds, "new_url": new_url},
                  status=status)


@page_view
@require_POST
def calendar_link_revoke(request, pk: int):
    feed = CalendarFeed.objects.filter(pk=pk, owner=request.user).first()
    if feed is None:
        raise NotFound("calendar link does not exist")
    actions.revoke_calendar_feed(feed, **_who(request))
    messages.success(request, "Calendar link revoked; calendars using it stop updating.")
    return redirect("schedules:calendar_links")


@require_GET
def calendar_feed(request, token: str):
    """The secret iCalendar URL: no sign-in (calendar apps cannot), the token is the key."""
    try:
        feed = actions.resolve_calendar_feed(token)
    except NotFound:
        return HttpResponse("unknown or revoked calendar link\n", status=404, content_type="text/plain")
    now = timezone.now()
    start, end = now - ical.PAST, now + ical.AHEAD
    if feed.schedule is not None:
        entries = [(feed.schedule, s) for s in queries.final_shifts(feed.schedule, start, end)]
        name, zone = f"On call: {feed.schedule.name}", feed.schedule.time_zone
    else:
        # Only schedules the owner can still see: leaving a team drops its shifts.
        visible = queries.schedules_for_user(feed.owner).filter(
            pk__in=queries.schedules_visible_to(feed.owner).values("pk"))
        entries = queries.shifts_of_user(feed.owner, start, end, schedules=visible)
        name, zone = f"My on-call shifts ({feed.owner})", feed.owner.time_zone
    body = ical.calendar(name, entries, time_zone=zone, now=now)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response
