"""The incident pages (htmx, function views). Thin: validate input, call an action or a
query, render. Every write goes through incidents.actions, which checks permissions
itself; the templates only hide what the user could not use anyway.

Answers: a full page (or a redirect after a successful plain POST); for htmx requests a
few out-of-band fragments (header, actions, checklist, flash). A DomainError becomes
its status code (403/404/409/422) and its message, never a 500.

The live push (incidents/consumers.py) renders with the same helpers as these pages, so
an entry looks the same whether it came with the page or over the WebSocket.
"""

from __future__ import annotations

import zoneinfo
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from alertum.core.errors import DomainError, Invalid, NotFound
from alertum.core.models import Door, Team, User
from incidents import actions, queries
from incidents.forms import (
    CommentForm,
    DeclareForm,
    EvidenceForm,
    FilterForm,
    IncidentRefForm,
    ReopenForm,
    ResolveForm,
    RoleForm,
    SeverityForm,
    StatusForm,
    TeamForm,
    TickForm,
    UpdateForm,
)
from incidents.models import (
    ChecklistItem,
    Evidence,
    IncidentRole,
    Severity,
    Status,
    TimelineEntry,
)
from incidents.playbook.queries import shown_reminders

Kind = TimelineEntry.Kind
PAGE_SIZES = (10, 25, 50, 100)
LOG_EXCERPT_BYTES = 4_000
LOG_EXCERPT_LINES = 40


# --- shared rendering (pages and the live consumer) ----------------------------------------

def viewer_time_zone(user):
    """The viewer's zone for rendering outside a request (the consumer)."""
    try:
        return zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def format_duration(delta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


def _timers(incident, now) -> list[dict]:
    """Time since start, to acknowledge, to resolve. `running` timers tick in the browser."""
    start = incident.started_at
    timers = [{"label": "Since start" if incident.is_open else "Lasted",
               "text": format_duration((incident.resolved_at or now) - start),
               "since": start if incident.is_open else None}]
    if incident.acknowledged_at:
        timers.append({"label": "To acknowledge", "text": format_duration(incident.acknowledged_at - start)})
    else:
        timers.append({"label": "To acknowledge", "text": "waiting", "pending": True})
    if incident.resolved_at:
        timers.append({"label": "To resolve", "text": format_duration(incident.resolved_at - start)})
    else:
        timers.append({"label": "To resolve", "text": "open", "pending": True})
    return timers


def _label(choices, value) -> str:
    try:
        return choices(value).label
    except ValueError:
        return str(value)


def decorate_entries(incident, entries, pinned: set[int]) -> list[TimelineEntry]:
    """Attach what the entry template shows: labels, pinned state, evidence (with a
    log excerpt). One query for all the evidence of the batch."""
    entries = list(entries)
    evidence_ids = [e.data.get("evidence_id") for e in entries if e.kind == Kind.EVIDENCE]
    evidence = {ev.pk: ev for ev in Evidence.objects.filter(incident=incident, pk__in=[i for i in evidence_ids if i])}
    for entry in entries:
        data = entry.data or {}
        entry.pinned = entry.seq in pinned
        entry.pinnable = entry.kind in (Kind.COMMENT, Kind.UPDATE)
        entry.is_public = entry.visibility == TimelineEntry.Visibility.PUBLIC
        if entry.kind in (Kind.STATUS,):
            entry.from_label = _label(Status, data.get("from"))
            entry.to_label = _label(Status, data.get("to"))
        elif entry.kind == Kind.ROLE:
            entry.role_label = _label(IncidentRole, data.get("role"))
        elif entry.kind == Kind.EVIDENCE:
            entry.evidence = evidence.get(data.get("evidence_id"))
            if entry.evidence is not None and entry.evidence.kind == "log":
                entry.excerpt = _excerpt(entry.evidence)
        elif entry.kind == Kind.DECLARED:
            entry.severity_label = _label(Severity, data.get("severity"))
        elif entry.kind in (Kind.REMINDER_DUE, Kind.REMINDER_DONE):
            entry.role_label = _label(IncidentRole, data.get("role"))
    return entries


def _excerpt(evidence: Evidence) -> str:
    try:
        with evidence.file.open("rb") as handle:
            raw = handle.read(LOG_EXCERPT_BYTES + 1)
    except OSError:
        return "(the file could not be read)"
    text = raw[:LOG_EXCERPT_BYTES].decode("utf-8", errors="replace")
    lines = text.splitlines()
    cut = len(raw) > LOG_EXCERPT_BYTES or len(lines) > LOG_EXCERPT_LINES
    return "\n".join(lines[:LOG_EXCERPT_LINES]) + ("\n…" if cut else "")


def workspace_state(user, incident) -> dict:
    """Context for the header, the action panel and the checklist, for this viewer."""
    may_respond = actions.can_respond(user, incident)
    may_command = actions.can_command(user, incident)
    open_ = incident.is_open and not incident.merged_into_id
    next_statuses = [(s, Status(s).label) for s in incident.allowed_next_statuses()
                     if s not in (Status.ACKNOWLEDGED, Status.RESOLVED)] if open_ else []
    members = []
    if may_respond:
        members = list(User.objects.filter(memberships__team_id=incident.team_id).order_by("first_name", "username"))
    checklist = list(incident.checklist.select_related("done_by"))
    return {
        "incident": incident,
        "services": list(incident.services.all()),
        "responders": list(incident.responders.all()),
        "checklist": checklist,
        "checklist_done": sum(1 for item in checklist if item.done_at),
        "reminders": shown_reminders(incident),
        "timers": _timers(incident, timezone.now()),
        "may_respond": may_respond,
        "may_command": may_command,
        "can_acknowledge": may_respond and incident.status == Status.TRIGGERED and open_,
        "can_resolve": may_respond and open_,
        "can_reopen": may_respond and incident.status == Status.RESOLVED and not incident.merged_into_id,
        "next_statuses": next_statuses if may_respond else [],
        "severities": Severity.choices,
        "roles": IncidentRole.choices,
        "members": members,
        "teams": list(Team.objects.order_by("name")) if may_command else [],
        # Only the related incidents this viewer may see: a restricted one stays hidden.
        "related": list(queries.visible_incidents(user).filter(related=incident).order_by("number")),
    }


# Entries that change nothing outside the timeline. A push of only these leaves out the
# header, action and checklist panels: most pushes during an incident are comments, and
# a small message is what keeps 200 open pages fast.
TIMELINE_ONLY_KINDS = {Kind.COMMENT, Kind.UPDATE, Kind.PINNED, Kind.UNPINNED, Kind.EVIDENCE, Kind.NOTIFICATION,
                       Kind.NOTE}


def render_live_push(user, incident, entries, pinned: set[int]) -> str:
    """What the consumer sends after new entries: the entries appended to the timeline,
    re-rendered pinned targets, and (when the state changed) the header, actions and
    checklist swapped out of band."""
    entries = decorate_entries(incident, entries, pinned)
    repin_seqs = {e.data.get("seq") for e in entries if e.kind in (Kind.PINNED, Kind.UNPINNED)}
    new_seqs = {e.seq for e in entries}
    repinned = decorate_entries(incident, queries.timeline_after(incident, 0).filter(
        seq__in=[s for s in repin_seqs if s and s not in new_seqs]), pinned) if repin_seqs else []
    panels = any(e.kind not in TIMELINE_ONLY_KINDS for e in entries)
    state = workspace_state(user, incident) if panels else {
        "incident": incident, "may_respond": actions.can_respond(user, incident)}
    context = {**state, "entries": entries, "repinned": repinned, "oob": True, "panels": panels,
               "head_seq": entries[-1].seq if entries else 0}
    return render_to_string("incidents/_live_push.html", context)


def render_open_incidents(user, *, oob: bool = False) -> str:
    return render_to_string("incidents/_open_incidents.html", {**open_incidents_context(user), "oob": oob})


def open_incidents_context(user) -> dict:
    """The dashboard's live part: counts by severity and the open incidents."""
    open_qs = queries.list_incidents(user, status="open")
    counts = dict(open_qs.order_by().values_list("severity").annotate(n=Count("id")))
    return {
        "severity_counts": [(value, label, counts.get(value, 0)) for value, label in Severity.choices],
        "open_total": sum(counts.values()),
        "open_incidents": list(open_qs.prefetch_related("services")[:50]),
    }


# --- responses -------------------------------------------------------------------------

def answers_domain_errors(view):
    """A DomainError escaping a view (mostly NotFound for the incident itself) becomes
    its status code with the message, as a flash fragment for htmx or a small page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except DomainError as exc:
            return error_response(request, exc.message, exc.status_code)

    return wrapper


def error_response(request, message: str, status: int) -> HttpResponse:
    if request.htmx:
        return flash_error(request, message, status)
    return render(request, "error.html", {"message": message, "status": status}, status=status)


def flash_error(request, message: str, status: int) -> HttpResponse:
    """The message as an out-of-band flash. The header marks it as an expected answer,
    so django-htmx's DEBUG helper (which replaces the page on 4xx) lets htmx swap it."""
    response = render(request, "incidents/_flash.html", {"message": message, "level": "error"}, status=status)
    response["X-Alertum-Error"] = "domain"
    return response


def _form_message(form) -> str:
    parts = []
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        label = (field.label or name.replace("_", " ")) if field is not None else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return "; ".join(parts)


def _workspace_page(request, incident, *, status: int = 200, error: str = "") -> HttpResponse:
    pinned = actions.pinned_seqs(incident)
    entries = decorate_entries(incident, queries.timeline_after(incident, 0), pinned)
    context = {
        **workspace_state(request.user, incident),
        "entries": entries,
        "head_seq": entries[-1].seq if entries else 0,
        "error": error,
        "evidence_limit": settings.EVIDENCE_MAX_BYTES,
    }
    return render(request, "incidents/workspace.html", context, status=status)


def incident_post(view):
    """A workspace form's POST: signed in, POST only, domain errors answered with their status."""
    return login_required(require_POST(answers_domain_errors(view)))


def _post_action(request, pk: int, form_class, perform) -> HttpResponse:
    """Shared POST flow: find the incident (404 if hidden), validate the form, call the
    action. Success: redirect, or for htmx the fresh header/actions/checklist. Failure:
    the message with its status; nothing was written."""
    incident = queries.get_incident_for_user(request.user, pk)
    data = {}
    if form_class is not None:
        form = form_class(request.POST, request.FILES)
        if not form.is_valid():
            return _failure(request, incident, _form_message(form), 422)
        data = form.cleaned_data
    try:
        perform(incident, data)
    except DomainError as exc:
        return _failure(request, incident, exc.message, exc.status_code)
    try:
        incident = queries.get_incident_for_user(request.user, incident.pk)
    except NotFound:
        # The change took the incident out of this user's sight (a restricted incident
        # handed to another team): back to the list rather than a 404.
        return HttpResponseClientRedirect(reverse("incidents:list")) if request.htmx \
            else redirect("incidents:list")
    if not request.htmx:
        return redirect("incidents:workspace", pk=incident.pk)
    return render(request, "incidents/_state.html", {**workspace_state(request.user, incident), "oob": True})


def _failure(request, incident, message: str, status: int) -> HttpResponse:
    if request.htmx:
        return flash_error(request, message, status)
    incident = queries.get_incident_for_user(request.user, incident.pk)
    return _workspace_page(request, incident, status=status, error=message)


def _other_incident(user, number: int):
    other = queries.visible_incidents(user).filter(number=number).first()
    if other is None:
        raise NotFound(f"INC-{number} does not exist")
    return other


# --- pages -----------------------------------------------------------------------------

@login_required
@require_GET
def incident_list(request):
    form = FilterForm(request.GET or None)
    status = 200
    if form.is_bound and not form.is_valid():
        status, incidents = 400, queries.visible_incidents(request.user).none()
        error = _form_message(form)
    else:
        filters = form.cleaned_data if form.is_bound else {}
        incidents = queries.list_incidents(
            request.user, status=filters.get("status") or None, severity=filters.get("severity") or None,
            service=filters.get("service") or None, team=filters.get("team") or None,
            mine=bool(filters.get("mine")), q=filters.get("q") or None,
        ).prefetch_related("services")
        error = ""
    try:
        per_page = int(request.GET.get("per_page", 25))
    except ValueError:
        per_page = 25
    per_page = per_page if per_page in PAGE_SIZES else 25
    page = Paginator(incidents, per_page).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "error": error, "query": query.urlencode(), "per_page": per_page,
               "page_sizes": PAGE_SIZES}
    template = "incidents/_list_results.html" if request.htmx and request.htmx.target == "incident-results" \
        else "incidents/list.html"
    return render(request, template, context, status=status)


@login_required
def declare(request):
    form = DeclareForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                incident = actions.declare_incident(
                    title=data["title"], description=data["description"], team=data["team"],
                    services=list(data["services"]), impact=data["impact"], users_affected=data["users_affected"],
                    urgency=data["urgency"], business_functions=data["business_functions"],
                    severity=data["severity"] or None, severity_reason=data["severity_reason"],
                    sensitivity=data["sensitivity"], actor=request.user, source=Door.WEB,
                )
            except DomainError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                return render(request, "incidents/declare.html", {"form": form}, status=exc.status_code)
            return redirect("incidents:workspace", pk=incident.pk)
        return render(request, "incidents/declare.html", {"form": form}, status=422)
    if not form.fields["team"].queryset.exists():
        return render(request, "incidents/declare.html", {"form": None}, status=403)
    return render(request, "incidents/declare.html", {"form": form})


@login_required
@require_GET
@answers_domain_errors
def workspace(request, pk: int):
    return _workspace_page(request, queries.get_incident_for_user(request.user, pk))


@login_required
@require_GET
@answers_domain_errors
def evidence_file(request, pk: int, evidence_id: int):
    """Serve an attachment after the same visibility check as the incident: never a
    public media URL. Only images are shown inline; anything else downloads."""
    incident = queries.get_incident_for_user(request.user, pk)
    evidence = Evidence.objects.filter(incident=incident, pk=evidence_id).first()
    if evidence is None:
        raise NotFound(f"{incident.reference} has no attachment {evidence_id}")
    inline = evidence.kind == "image"
    response = FileResponse(evidence.file.open("rb"), content_type=evidence.content_type,
                            as_attachment=not inline, filename=evidence.filename)
    # A hostile upload cannot run script in our origin even if a browser sniffs it.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- workspace actions (POST) ----------------------------------------------------------------

def _web(request) -> dict:
    return {"actor": request.user, "source": Door.WEB}


@incident_post
def acknowledge(request, pk: int):
    return _post_action(request, pk, None,
                        lambda incident, d: actions.acknowledge_incident(incident, **_web(request)))


@incident_post
def change_status(request, pk: int):
    return _post_action(request, pk, StatusForm, lambda incident, d: actions.change_status(
        incident, d["status"], note=d["note"], **_web(request)))


@incident_post
def resolve(request, pk: int):
    return _post_action(request, pk, ResolveForm, lambda incident, d: actions.resolve_incident(
        incident, note=d["note"], **_web(request)))


@incident_post
def reopen(request, pk: int):
    return _post_action(request, pk, ReopenForm, lambda incident, d: actions.reopen_incident(
        incident, reason=d["reason"], **_web(request)))


@incident_post
def set_severity(request, pk: int):
    return _post_action(request, pk, SeverityForm, lambda incident, d: actions.set_severity(
        incident, d["severity"], reason=d["reason"], **_web(request)))


@incident_post
def assign_role(request, pk: int):
    def perform(incident, d):
        user = None
        if d["user"]:
            user = User.objects.filter(pk=d["user"]).first()
            if user is None:
                raise Invalid(f"user {d['user']} does not exist", field="user")
        actions.assign_role(incident, d["role"], user, remove=d["remove"], **_web(request))

    return _post_action(request, pk, RoleForm, perform)


@incident_post
def change_team(request, pk: int):
    return _post_action(request, pk, TeamForm, lambda incident, d: actions.change_team(
        incident, d["team"], ip_address=request.META.get("REMOTE_ADDR"), **_web(request)))


@incident_post
def merge(request, pk: int):
    return _post_action(request, pk, IncidentRefForm, lambda incident, d: actions.merge_incidents(
        incident, _other_incident(request.user, d["other"]), **_web(request)))


@incident_post
def relate(request, pk: int):
    return _post_action(request, pk, IncidentRefForm, lambda incident, d: actions.relate_incidents(
        incident, _other_incident(request.user, d["other"]), **_web(request)))


@incident_post
def comment(request, pk: int):
    return _post_action(request, pk, CommentForm, lambda incident, d: actions.add_comment(
        incident, d["body"], public=d["public"], **_web(request)))


@incident_post
def post_update(request, pk: int):
    return _post_action(request, pk, UpdateForm, lambda incident, d: actions.post_update(
        incident, impact=d["impact"], action_taken=d["action_taken"], next_step=d["next_step"],
        public=d["public"], **_web(request)))


@incident_post
def pin(request, pk: int, seq: int):
    pinned = request.POST.get("pinned", "1") not in ("0", "false", "")
    return _post_action(request, pk, None, lambda incident, d: actions.pin_entry(
        incident, seq, pinned=pinned, **_web(request)))


@incident_post
def tick(request, pk: int, item_id: int):
    def perform(incident, d):
        # The item must belong to this incident (which the user may see).
        if not ChecklistItem.objects.filter(pk=item_id, incident=incident).exists():
            raise NotFound(f"{incident.reference} has no checklist item {item_id}")
        actions.tick_checklist_item(item_id, d["done"], **_web(request))

    return _post_action(request, pk, TickForm, perform)


@incident_post
def upload_evidence(request, pk: int):
    return _post_action(request, pk, EvidenceForm, lambda incident, d: actions.add_evidence(
        incident, d["file"], description=d["description"], **_web(request)))

