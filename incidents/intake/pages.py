"""The alert pages and the intake configuration editors (function views, htmx where it
helps: the alert list's filters and its live counts).

Thin: a form shapes the input, `incidents.intake.queries` decides what the viewer sees,
`incidents.intake.actions` does every write and checks who may. A DomainError comes
back as its status code (403/404/409/422) with its message: on the form it belongs to,
re-rendered with what was typed, or on a small error page. Nothing is saved then.
"""

import json
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from alertum.core.errors import DomainError, Forbidden, NotFound
from alertum.core.models import Door, Service
from alertum.core.pages import PageDoor
from alertum.core.pages import form_error as _form_failure
from alertum.core.pages import web_actor as _who
from incidents.intake import actions, queries, setup_text
from incidents.intake.forms import (
    AlertFilterForm,
    AlertSeverityRuleForm,
    GroupingRuleForm,
    InhibitionRuleForm,
    IntegrationEditForm,
    IntegrationForm,
    RoutingRuleForm,
    SilenceForm,
    matchers_text,
)
from incidents.intake.pipeline import DEFAULT_GROUPING
from incidents.models import Alert, AlertSeverityRule, InhibitionRule, RawEvent, RoutingRule

_DOOR = PageDoor("alerts:list", "Back to the alerts")
page_view = _DOOR.view
error_page = _DOOR.error


PAGE_SIZES = (25, 50, 100)
RECENT_RAW_EVENTS = 20
REPLAYABLE = (RawEvent.State.FAILED, RawEvent.State.DEAD)


# --- shared ------------------------------------------------------------------------------------

def _page(request, qs, default_size=25):
    try:
        per_page = int(request.GET.get("per_page", default_size))
    except ValueError:
        per_page = default_size
    per_page = per_page if per_page in PAGE_SIZES else default_size
    query = request.GET.copy()
    query.pop("page", None)
    return Paginator(qs, per_page).get_page(request.GET.get("page")), per_page, query.urlencode()


def _decisions(alert: Alert) -> list[dict]:
    """The alert's decisions, newest first, with times as datetimes (shown in the viewer's zone)."""
    return [{"what": d.get("what", ""), "detail": d.get("detail", ""), "at": parse_datetime(d.get("at") or "")}
            for d in reversed(alert.decisions or [])]


def pretty_body(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


# --- alerts --------------------------------------------------------------------------------------

def _alert_filters(request, data: dict) -> dict:
    status = data.get("status") if "status" in request.GET else "open"
    statuses = [Alert.Status.FIRING, Alert.Status.ACKNOWLEDGED] if status == "open" else [status] if status else None
    return {"status": statuses, "service": data["service"].slug if data.get("service") else None,
            "severity": [data["severity"]] if data.get("severity") else None,
            "suppressed": data.get("suppressed") or None}


@page_view
@require_GET
def alert_list(request):
    form = AlertFilterForm(request.GET or None, initial={"status": "open"})
    status, error = 200, ""
    if form.is_bound and not form.is_valid():
        status, error = 400, "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
        alerts = queries.visible_alerts(request.user).none()
    else:
        alerts = queries.list_alerts(request.user, **_alert_filters(request, form.cleaned_data if form.is_bound
                                                                     else {}))
    page, per_page, query = _page(request, alerts)
    context = {"form": form, "page": page, "query": query, "per_page": per_page, "page_sizes": PAGE_SIZES,
               "error": error, "counts": queries.alert_counts(request.user)}
    template = "intake/_alert_results.html" if request.htmx and request.htmx.target == "alert-results" \
        else "intake/alert_list.html"
    return render(request, template, context, status=status)


@page_view
@require_GET
def alert_counts(request):
    """The live counts fragment; the list polls it every few seconds."""
    return render(request, "intake/_alert_counts.html", {"counts": queries.alert_counts(request.user)})


@page_view
@require_GET
def alert_detail(request, pk: int):
    alert = queries.get_alert_for_user(request.user, pk)
    raw = queries.last_raw_event(alert)
    return render(request, "intake/alert_detail.html", {
        "alert": alert, "decisions": _decisions(alert), "raw": raw, "raw_body": pretty_body(raw.body) if raw else "",
        "may_silence": actions.may_silence(request.user, alert.service),
        "labels": sorted((alert.labels or {}).items()), "annotations": sorted((alert.annotations or {}).items()),
        "links": safe_links(alert.links),
    })


def safe_links(links) -> list[dict]:
    """Only http(s) links become anchors: a sender's "javascript:" href must never run here."""
    shown = []
    for link in links or []:
        if not isinstance(link, dict):
            continue
        href, text = str(link.get("href") or ""), str(link.get("text") or link.get("href") or "")
        shown.append({"href": href if href.lower().startswith(("http://", "https://")) else "", "text": text})
    return shown


# --- integrations --------------------------------------------------------------------------------

@page_view
@require_GET
def integration_list(request):
    integrations = queries.visible_integrations(request.user).annotate(
        failing=Count("raw_events", filter=Q(raw_events__state__in=REPLAYABLE)))
    return render(request, "intake/integration_list.html", {
        "integrations": integrations,
        "may_create": actions.services_to_configure(request.user).exists(),
    })


def _created_page(request, integration, raw_key: str, *, rotated: bool) -> HttpResponse:
    """The one answer that shows the raw key; never cached."""
    text = setup_text.build(integration, request.build_absolute_uri("/"), raw_key, with_secret=True)
    response = render(request, "intake/integration_created.html", {
        "integration": integration, "raw_key": raw_key, "setup": text, "rotated": rotated,
    }, status=200 if rotated else 201)
    response["Cache-Control"] = "no-store"
    return response


@page_view
def integration_create(request):
    form = IntegrationForm(request.POST or None, user=request.user)
    if not form.offers_a_service():
        return error_page(request, "You need the admin role in a service's team to add integrations.", 403)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                integration, raw = actions.create_integration(**form.cleaned_data, **_who(request))
            except DomainError as exc:
                status = _form_failure(form, exc)
            else:
                return _created_page(request, integration, raw, rotated=False)
    return render(request, "intake/integration_form.html", {"form": form}, status=status)


def _integration_page(request, integration, *, edit_form=None, status=200) -> HttpResponse:
    may_configure = actions.may_configure(request.user, integration.service)
    raw_events = list(queries.raw_events_of(integration).defer("body", "headers")[:RECENT_RAW_EVENTS])
    if edit_form is None:
        edit_form = IntegrationEditForm(initial={f: getattr(integration, f) for f in IntegrationEditForm.base_fields})
    return render(request, "intake/integration_detail.html", {
        "integration": integration,
        "setup": setup_text.build(integration, request.build_absolute_uri("/"), with_secret=may_configure),
        "may_configure": may_configure, "edit_form": edit_form, "raw_events": raw_events,
        "replayable": REPLAYABLE,
    }, status=status)


@page_view
@require_GET
def integration_detail(request, pk: int):
    return _integration_page(request, queries.get_integration_for_user(request.user, pk))


@page_view
@require_POST
def integration_edit(request, pk: int):
    integration = queries.get_integration_for_user(request.user, pk)
    form = IntegrationEditForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            actions.update_integration(integration, **form.cleaned_data, **_who(request))
        except DomainError as exc:
            status = _form_failure(form, exc)
        else:
            messages.success(request, "Integration saved.")
            return redirect("alerts:integration", pk=pk)
    return _integration_page(request, integration, edit_form=form, status=status)


@page_view
@require_POST
def integration_rotate(request, pk: int):
    integration = queries.get_integration_for_user(request.user, pk)
    integration, raw = actions.rotate_integration_key(integration, **_who(request))
    return _created_page(request, integration, raw, rotated=True)


@page_view
@require_POST
def integration_delete(request, pk: int):
    integration = queries.get_integration_for_user(request.user, pk)
    actions.delete_integration(integration, **_who(request))
    messages.success(request, f"Integration {integration.name} deleted.")
    return redirect("alerts:integrations")


@page_view
@require_POST
def raw_event_replay(request, pk: int, raw_pk: int):
    raw = queries.get_raw_event_for_user(request.user, pk, raw_pk)
    actions.replay_raw_event(raw, actor=request.user, source=Door.WEB)
    messages.success(request, f"Raw event #{raw.pk} is queued again.")
    return redirect("alerts:integration", pk=pk)


# --- silences --------------------------------------------------------------------------------------

SILENCE_STATES = [("active", "Active"), ("pending", "Pending"), ("expired", "Expired"), ("all", "All")]


@page_view
@require_GET
def silence_list(request):
    state = request.GET.get("state", "active")
    if state not in dict(SILENCE_STATES):
        return error_page(request, f"state must be one of {', '.join(dict(SILENCE_STATES))}", 400)
    now = timezone.now()
    silences = queries.silences_in_state(queries.visible_silences(request.user), state, now)
    page, per_page, query = _page(request, silences)
    rows = [{"silence": s, "state": s.state(now), "matchers": matchers_text(s.matchers),
             "may_expire": actions.may_silence(request.user, s.service)} for s in page.object_list]
    return render(request, "intake/silence_list.html", {
        "rows": rows, "page": page, "query": query, "state": state, "states": SILENCE_STATES,
        "may_create": actions.may_silence(request.user, None) or actions.services_to_silence(request.user).exists(),
    })


def _silence_initial(request) -> dict:
    """"Silence alerts like this one": the form starts from an alert's labels."""
    initial = {"duration": "7200"}
    alert_id = request.GET.get("alert", "")
    if alert_id.isascii() and alert_id.isdigit():
        alert = queries.visible_alerts(request.user).select_related("service").filter(pk=int(alert_id)).first()
        if alert is not None:
            initial["service"] = alert.service
            initial["matchers"] = [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                                   for k, v in sorted((alert.labels or {}).items())]
    return initial


@page_view
def silence_create(request):
    form = SilenceForm(request.POST or None, user=request.user, initial=_silence_initial(request))
    if not form.offers_a_service():
        return error_page(request, "You need the responder role in a service's team to silence its alerts.", 403)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            starts_at = data["starts_at"] or timezone.now()
            ends_at = data["ends_at"] or starts_at + timedelta(seconds=data["duration"])
            try:
                silence = actions.create_silence(matchers=data["matchers"], service=data["service"],
                                                 starts_at=starts_at, ends_at=ends_at, comment=data["comment"],
                                                 **_who(request))
            except DomainError as exc:
                status = _form_failure(form, exc)
            else:
                messages.success(request, f"Silence #{silence.pk} created.")
                return redirect(f"{reverse('alerts:silences')}?state={silence.state()}")
    return render(request, "intake/silence_form.html", {"form": form}, status=status)


@page_view
@require_POST
def silence_expire(request, pk: int):
    silence = queries.visible_silences(request.user).filter(pk=pk).first()
    if silence is None:
        return error_page(request, f"silence {pk} does not exist", 404)
    actions.expire_silence(silence, **_who(request))
    messages.success(request, f"Silence #{pk} expired.")
    return redirect(f"{reverse('alerts:silences')}?state=expired")


# --- grouping rules (one per service) ---------------------------------------------------------------

GROUPING_FORM_FIELDS = list(GroupingRuleForm.base_fields)


@page_view
@require_GET
def grouping_list(request):
    rows = [{"service": s, "rule": getattr(s, "grouping_rule", None),
             "may_configure": actions.may_configure(request.user, s)}
            for s in queries.services_with_grouping(request.user)]
    return render(request, "intake/grouping_list.html", {"rows": rows, "defaults": DEFAULT_GROUPING,
                                                         "tab": "grouping"})


def _service_or_404(slug: str) -> Service:
    service = Service.objects.select_related("owner_team").filter(slug=slug).first()
    if service is None:
        raise NotFound(f"no service {slug!r}")
    return service


@page_view
def grouping_edit(request, slug: str):
    service = _service_or_404(slug)
    if not actions.may_configure(request.user, service):
        raise Forbidden(f"you need the admin role in {service.owner_team} to change {service}'s grouping")
    rule = getattr(service, "grouping_rule", None)  # the reverse one-to-one raises an AttributeError if absent
    source = rule or DEFAULT_GROUPING
    form = GroupingRuleForm(request.POST or None, initial={f: getattr(source, f) for f in GROUPING_FORM_FIELDS})
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                actions.save_grouping_rule(service, **form.cleaned_data, **_who(request))
            except DomainError as exc:
                status = _form_failure(form, exc)
            else:
                messages.success(request, f"Grouping for {service} saved.")
                return redirect("alerts:grouping")
    return render(request, "intake/grouping_form.html", {"form": form, "service": service, "rule": rule,
                                                         "tab": "grouping"}, status=status)


@page_view
@require_POST
def grouping_delete(request, slug: str):
    service = _service_or_404(slug)
    rule = getattr(service, "grouping_rule", None)
    if rule is not None:
        actions.delete_grouping_rule(rule, **_who(request))
        messages.success(request, f"{service} is back to the default grouping.")
    return redirect("alerts:grouping")


# --- inhibition, alert-severity and routing rules ------------------------------------------------------

def _matchers_cell(matchers) -> str:
    return ", ".join(matchers_text(matchers).splitlines()) or "—"


RULE_KINDS = {
    "inhibition": {
        "model": InhibitionRule, "form": InhibitionRuleForm, "title": "Inhibition rules",
        "intro": "While a firing alert matches the source matchers, alerts matching the target matchers (with equal "
                 "values of the listed labels) are muted, as Alertmanager's inhibit_rules do.",
        "columns": [("Name", lambda r: r.name), ("Service", lambda r: r.service or "Every service"),
                    ("Source", lambda r: _matchers_cell(r.source_matchers)),
                    ("Target", lambda r: _matchers_cell(r.target_matchers)),
                    ("Equal", lambda r: ", ".join(r.equal) or "—"), ("Active", lambda r: "yes" if r.active else "no")],
    },
    "severity": {
        "model": AlertSeverityRule, "form": AlertSeverityRuleForm, "title": "Alert severity rules",
        "intro": "The first matching rule (by position) turns an alert's severity and labels into an impact; with "
                 "the service's tier the P1–P4 matrix gives the incident's severity. Without a match: critical → "
                 "outage, error → partial, warning → degraded, info → cosmetic.",
        "columns": [("#", lambda r: r.position), ("Service", lambda r: r.service or "Every service"),
                    ("Alert severity", lambda r: r.get_alert_severity_display() or "Any"),
                    ("Matchers", lambda r: _matchers_cell(r.matchers)), ("Impact", lambda r: r.get_impact_display())],
    },
    "routing": {
        "model": RoutingRule, "form": RoutingRuleForm, "title": "Routing rules",
        "intro": "The first matching rule (by position) picks the owning team and escalation policy of an incident "
                 "raised from alerts, and may hold paging of low-severity incidents until business hours.",
        "columns": [("#", lambda r: r.position), ("Name", lambda r: r.name),
                    ("Service", lambda r: r.service or "Every service"),
                    ("Severities", lambda r: ", ".join(r.severities) or "Any"),
                    ("Matchers", lambda r: _matchers_cell(r.matchers)), ("When", lambda r: r.get_during_display()),
                    ("Team", lambda r: r.team or "The service's team"),
                    ("Policy", lambda r: r.escalation_policy_slug or "—"),
                    ("Business hours", lambda r: f"{_days(r.business_days)} {r.business_start:%H:%M}–"
                                                 f"{r.business_end:%H:%M} {r.time_zone}"
                                                 + (", paging held" if r.defer_to_business_hours else "")),
                    ("Active", lambda r: "yes" if r.active else "no")],
    },
}


def _days(days) -> str:
    names = "Mon Tue Wed Thu Fri Sat Sun".split()
    return ",".join(names[d - 1] for d in (days or [1, 2, 3, 4, 5]))


def _kind(kind: str) -> dict:
    return RULE_KINDS[kind]


@page_view
@require_GET
def rule_list(request, kind: str):
    spec = _kind(kind)
    rules = queries.visible_rules(request.user, spec["model"])
    rows = [{"rule": r, "cells": [str(cell(r)) for _h, cell in spec["columns"]],
             "may_configure": actions.may_configure(request.user, r.service)} for r in rules]
    may_create = actions.may_configure(request.user, None) or \
        actions.services_to_configure(request.user).exists()
    return render(request, "intake/rule_list.html", {
        "spec": spec, "kind": kind, "tab": kind, "rows": rows, "headers": [h for h, _c in spec["columns"]],
        "may_create": may_create,
    })


def _rule_form_page(request, kind, form, rule=None, status=200) -> HttpResponse:
    return render(request, "intake/rule_form.html", {"spec": _kind(kind), "kind": kind, "tab": kind, "form": form,
                                                      "rule": rule}, status=status)


@page_view
def rule_create(request, kind: str):
    spec = _kind(kind)
    form = spec["form"](request.POST or None, user=request.user)
    if not form.offers_a_service():
        return error_page(request, "You need the admin role in a service's team to add rules.", 403)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                actions.create_rule(spec["model"], **form.cleaned_data, **_who(request))
            except DomainError as exc:
                status = _form_failure(form, exc)
            else:
                messages.success(request, f"{spec['model']._meta.verbose_name.capitalize()} created.")
                return redirect(f"alerts:rules-{kind}")
    return _rule_form_page(request, kind, form, status=status)


@page_view
def rule_edit(request, kind: str, pk: int):
    spec = _kind(kind)
    rule = queries.get_rule_for_user(request.user, spec["model"], pk)
    if not actions.may_configure(request.user, rule.service):
        raise Forbidden("you may not change this rule" if rule.service else
                        "only a global admin may change rules for every service")
    form_class = spec["form"]
    initial = {name: getattr(rule, name) for name in form_class.base_fields}
    form = form_class(request.POST or None, user=request.user, initial=initial)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                actions.update_rule(rule, **form.cleaned_data, **_who(request))
            except DomainError as exc:
                status = _form_failure(form, exc)
            else:
                messages.success(request, f"{rule._meta.verbose_name.capitalize()} saved.")
                return redirect(f"alerts:rules-{kind}")
    return _rule_form_page(request, kind, form, rule, status=status)


@page_view
@require_POST
def rule_delete(request, kind: str, pk: int):
    spec = _kind(kind)
    rule = queries.get_rule_for_user(request.user, spec["model"], pk)
    actions.delete_rule(rule, **_who(request))
    messages.success(request, f"{rule._meta.verbose_name.capitalize()} “{rule}” deleted.")
    return redirect(f"alerts:rules-{kind}")
