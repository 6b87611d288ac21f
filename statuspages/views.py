"""Management pages for status pages (/status-pages/): pages, components, public
incidents with templates and a preview before publishing, maintenance, subscribers and
their notices, stakeholder audiences, message templates.

Thin: a form shapes the input, `statuspages.queries` decides what the viewer sees,
`statuspages.actions` does every write and checks who may. A DomainError comes back
as its status code with its message, on the form or on the error page; nothing is
saved then.
"""


from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from alertum.core.errors import DomainError, NotFound
from alertum.core.models import Door, Role, Team
from alertum.core.pages import PageDoor
from alertum.core.pages import form_error as _fail
from alertum.core.pages import web_actor as _who
from alertum.core.permissions import is_admin, teams_with_role
from incidents.queries import visible_incidents
from statuspages import actions, forms, queries
from statuspages.models import (
    Component,
    MessageTemplate,
    Notice,
    PublicIncident,
    PublicMaintenance,
    PublicUpdate,
    StakeholderAudience,
    Subscriber,
)

_DOOR = PageDoor("statuspages:list", "Back to the status pages")
page_view = _DOOR.view
error_page = _DOOR.error


def _get(model, **filters):
    obj = model.objects.filter(**filters).first()
    if obj is None:
        raise NotFound(f"no such {model._meta.verbose_name}")
    return obj


def _admin_teams(user):
    return Team.objects.all() if is_admin(user) else Team.objects.filter(pk__in=teams_with_role(user, Role.ADMIN))


# --- pages -----------------------------------------------------------------------------------

@page_view
def page_list(request):
    return render(request, "statuspages/list.html", {
        "pages": queries.visible_pages(request.user).order_by("name"),
        "may_create": _admin_teams(request.user).exists()})


def _page_fields(data) -> dict:
    return {name: data[name] for name in ("name", "slug", "custom_domain", "description", "time_zone", "access",
                                           "allowed_ips", "support_url", "team")}


@page_view
@require_http_methods(["GET", "POST"])
def page_create(request):
    form = forms.PageForm(request.POST or None, request.FILES or None, teams=_admin_teams(request.user))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = _page_fields(form.cleaned_data)
            team = data.pop("team")
            try:
                page = actions.create_page(team=team, password=form.cleaned_data["password"], **data, **_who(request))
                _save_logo(request, form, page)
                return redirect("statuspages:detail", slug=page.slug)
            except DomainError as exc:
                status = _fail(form, exc)
        else:
            status = 400
    return render(request, "statuspages/form.html", {"form": form, "title": "New status page",
                                                     "submit": "Create page", "multipart": True}, status=status)


def _save_logo(request, form, page):
    upload = form.cleaned_data.get("logo")
    if upload:
        actions.set_logo(page, upload.read(actions.LOGO_MAX_BYTES + 1), upload.content_type or "", **_who(request))


@page_view
@require_http_methods(["GET", "POST"])
def page_edit(request, slug):
    page = queries.get_page_for_user(request.user, slug)
    initial = {name: getattr(page, name) for name in ("name", "slug", "custom_domain", "description", "time_zone",
                                                       "access", "allowed_ips", "support_url")}
    initial["team"] = page.team
    form = forms.PageForm(request.POST or None, request.FILES or None, initial=initial,
                          teams=_admin_teams(request.user) | Team.objects.filter(pk=page.team_id))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                page = actions.update_page(page, password=form.cleaned_data["password"] or None,
                                           **_page_fields(form.cleaned_data), **_who(request))
                _save_logo(request, form, page)
                messages.success(request, "Saved.")
                return redirect("statuspages:detail", slug=page.slug)
            except DomainError as exc:
                status = _fail(form, exc)
        else:
            status = 400
    return render(request, "statuspages/form.html", {"form": form, "title": f"Edit {page.name}", "page": page,
                                                     "submit": "Save", "multipart": True}, status=status)


@page_view
def page_detail(request, slug):
    page = queries.get_page_for_user(request.user, slug)
    components = queries.ordered_components(queries.page_components(page))
    return render(request, "statuspages/detail.html", {
        "page": page, "components": components, "public_url": actions.public_url(page),
        "incidents": PublicIncident.objects.filter(page=page).order_by("-created_at")[:20],
        "maintenances": PublicMaintenance.objects.filter(page=page).select_related("window")
        .order_by("-window__starts_at")[:20],
        "subscriber_count": Subscriber.objects.filter(page=page, confirmed_at__isnull=False,
                                                      unsubscribed_at__isnull=True).count(),
        "failed": queries.failed_notices(page).count(),
        "may_configure": actions.can_configure(request.user, page),
        "may_communicate": actions.can_communicate(request.user, page),
        "statuses": forms.ComponentStatus.choices})


# --- components ------------------------------------------------------------------------------

def _component_fields(data) -> dict:
    fields = {name: data[name] for name in ("name", "description", "is_group", "group", "automatic", "showcase",
                                             "only_show_if_degraded", "start_date")}
    if data.get("position") is not None:
        fields["position"] = data["position"]
    return fields


@page_view
@require_http_methods(["GET", "POST"])
def component_edit(request, slug, code=None):
    page = queries.get_page_for_user(request.user, slug)
    component = _get(Component, page=page, code=code) if code else None
    initial = {}
    if component:
        initial = {name: getattr(component, name) for name in ("name", "description", "is_group", "group",
                                                                "position", "automatic", "showcase",
                                                                "only_show_if_degraded", "start_date")}
        initial["services"] = list(component.services.all())
        initial["monitors"] = list(component.monitors.all())
    form = forms.ComponentForm(request.POST or None, initial=initial, page=page)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                actions.save_component(page, component, services=list(data["services"]),
                                       monitors=list(data["monitors"]), **_component_fields(data), **_who(request))
                return redirect("statuspages:detail", slug=page.slug)
            except DomainError as exc:
                status = _fail(form, exc)
        else:
            status = 400
    return render(request, "statuspages/form.html", {
        "form": form, "page": page, "title": f"Edit {component.name}" if component else "New component",
        "submit": "Save" if component else "Add component",
        "delete_url": reverse("statuspages:component-delete", args=[page.slug, component.code]) if component else ""},
        status=status)


@page_view
@require_POST
def component_delete(request, slug, code):
    page = queries.get_page_for_user(request.user, slug)
    actions.delete_component(_get(Component, page=page, code=code), **_who(request))
    return redirect("statuspages:detail", slug=page.slug)


@page_view
@require_POST
def component_status(request, slug, code):
    page = queries.get_page_for_user(request.user, slug)
    component = _get(Component, page=page, code=code)
    actions.set_component_status(component, request.POST.get("status", ""), **_who(request))
    messages.success(request, f"{component.name}: {request.POST.get('status', '').replace('_', ' ')}.")
    return redirect("statuspages:detail", slug=page.slug)


# --- public incidents ------------------------------------------------------------------------

def _preview(page, status, body, statuses):
    """The update as customers will read it: the template filled in, never saved."""
    codes = list(statuses)
    components = list(Component.objects.filter(page=page, code__in=codes))
    text = (body or "").strip() or actions.templates_for(page, status)[0][1]
    by_code = {c.code: c for c in components}
    update = PublicUpdate(status=status, body=actions.render_template(text, components=components),
                          display_at=timezone.now(),
                          affected_components=[{"code": code, "name": by_code[code].name, "old_status":
                                                by_code[code].status, "new_status": s}
                                               for code, s in statuses.items() if code in by_code] or None)
    return update


def _internal_incident(request, number):
    if not number:
        return None
    incident = visible_incidents(request.user).filter(number=number).first()
    if incident is None:
        raise NotFound(f"no internal incident INC-{number} that you can see")
    return incident


def _templates(page):
    return {status: [{"name": n, "body": b} for n, b in actions.templates_for(page, status)]
            for status in actions.DEFAULT_TEMPLATES}


@page_view
@require_http_methods(["GET", "POST"])
def incident_create(request, slug):
    page = queries.get_page_for_user(request.user, slug)
    initial = {}
    if request.GET.get("incident"):
        internal = visible_incidents(request.user).filter(number=request.GET["incident"]).first()
        if internal:
            initial = {"incident": internal.number, "name": internal.title}
    form = forms.IncidentForm(request.POST or None, initial=initial, page=page)
    status, preview = 200, None
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            statuses = forms.chosen_statuses(form)
            components = list(Component.objects.filter(page=page, code__in=list(statuses)))
            text = actions.render_template((data["body"] or "").strip()
                                           or actions.templates_for(page, data["status"])[0][1], components=components)
            if "publish" not in request.POST:
                preview = _preview(page, data["status"], data["body"], statuses)
            else:
                try:
                    public = actions.create_public_incident(
                        page, name=data["name"], status=data["status"], body=text, component_statuses=statuses,
                        incident=_internal_incident(request, data["incident"]),
                        impact_override=data["impact_override"],
                        deliver_notifications=data["deliver_notifications"], **_who(request))
                    messages.success(request, "Published.")
                    return redirect("statuspages:incident", slug=page.slug, code=public.code)
                except DomainError as exc:
                    status = _fail(form, exc)
        else:
            status = 400
    return render(request, "statuspages/incident.html", {
        "page": page, "form": form, "preview": preview, "templates": _templates(page), "creating": True},
        status=status)


@page_view
@require_http_methods(["GET", "POST"])
def incident_detail(request, slug, code):
    page = queries.get_page_for_user(request.user, slug)
    public = _get(PublicIncident, page=page, code=code)
    form = forms.UpdateForm(request.POST or None, page=page, initial={"status": public.status})
    status, preview = 200, None
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            statuses = forms.chosen_statuses(form)
            if "publish" not in request.POST:
                preview = _preview(page, data["status"], data["body"], statuses)
            else:
                components = list(Component.objects.filter(page=page, code__in=list(statuses))) or \
                    list(public.components.all())
                text = actions.render_template((data["body"] or "").strip()
                                               or actions.templates_for(page, data["status"])[0][1],
                                               components=components)
                try:
                    actions.post_incident_update(public, status=data["status"], body=text,
                                                 component_statuses=statuses or None,
                                                 deliver_notifications=data["deliver_notifications"], **_who(request))
                    messages.success(request, "Update published.")
                    return redirect("statuspages:incident", slug=page.slug, code=public.code)
                except DomainError as exc:
                    status = _fail(form, exc)
        else:
            status = 400
    return render(request, "statuspages/incident.html", {
        "page": page, "public": public, "form": form, "preview": preview, "templates": _templates(page),
        "updates": public.updates.order_by("-display_at", "-id"),
        "internal": public.incident if public.incident_id and visible_incidents(request.user).filter(
            pk=public.incident_id).exists() else None}, status=status)


# --- maintenance -----------------------------------------------------------------------------

@page_view
@require_http_methods(["GET", "POST"])
def maintenance_create(request, slug):
    page = queries.get_page_for_user(request.user, slug)
    form = forms.MaintenanceForm(request.POST or None, page=page)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                maintenance = actions.schedule_public_maintenance(
                    page, name=data["name"], starts_at=data["starts_at"], ends_at=data["ends_at"],
                    window=data["window"], components=list(data["components"]), body=data["body"],
                    remind_prior=data["remind_prior"], **_who(request))
                return redirect("statuspages:maintenance", slug=page.slug, code=maintenance.code)
            except DomainError as exc:
                status = _fail(form, exc)
        else:
            status = 400
    return render(request, "statuspages/form.html", {"form": form, "page": page, "title": "Schedule maintenance",
                                                     "submit": "Schedule"}, status=status)


@page_view
@require_http_methods(["GET", "POST"])
def maintenance_detail(request, slug, code):
    page = queries.get_page_for_user(request.user, slug)
    maintenance = _get(PublicMaintenance, page=page, code=code)
    form = forms.MaintenanceUpdateForm(request.POST or None, initial={"status": maintenance.status})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                actions.post_maintenance_update(maintenance, status=form.cleaned_data["status"],
                                                body=form.cleaned_data["body"], **_who(request))
                return redirect("statuspages:maintenance", slug=page.slug, code=maintenance.code)
            except DomainError as exc:
                status = _fail(form, exc)
        else:
            status = 400
    return render(request, "statuspages/maintenance.html", {
        "page": page, "maintenance": maintenance, "form": form,
        "updates": maintenance.updates.order_by("-display_at", "-id")}, status=status)


@page_view
@require_POST
def maintenance_cancel(request, slug, code):
    page = queries.get_page_for_user(request.user, slug)
    actions.cancel_maintenance(_get(PublicMaintenance, page=page, code=code), **_who(request))
    return redirect("statuspages:maintenance", slug=page.slug, code=code)


# --- subscribers, notices, templates ---------------------------------------------------------

@page_view
@require_http_methods(["GET", "POST"])
def subscribers(request, slug):
    page = queries.get_page_for_user(request.user, slug)
    form = forms.SubscriberForm(request.POST or None, page=page)
    status, secret = 200, None
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                subscriber = actions.add_subscriber(page, kind=data["kind"], email=data["email"], url=data["url"],
                                                    components=list(data["components"]), **_who(request))
                secret = subscriber.secret or None
                form = forms.SubscriberForm(page=page)
                status = 201
            except DomainError as exc:
                status = _fail(form, exc)
        else:
            status = 400
    return render(request, "statuspages/subscribers.html", {
        "page": page, "form": form, "secret": secret,
        "subscribers": Subscriber.objects.filter(page=page).order_by("-created_at")[:500],
        "failed": queries.failed_notices(page)[:100],
        "recent": Notice.objects.filter(page=page).exclude(state="failed").order_by("-created_at")[:50]},
        status=status)


@page_view
@require_POST
def subscriber_delete(request, slug, code):
    page = queries.get_page_for_user(request.user, slug)
    actions.remove_subscriber(_get(Subscriber, page=page, code=code), **_who(request))
    return redirect("statuspages:subscribers", slug=page.slug)


@page_view
@require_POST
def notice_retry(request, slug, pk):
    page = queries.get_page_for_user(request.user, slug)
    actions.retry_notice(_get(Notice, page=page, pk=pk), actor=request.user, source=Door.WEB)
    messages.success(request, "Sending again.")
    return redirect("statuspages:subscribers", slug=page.slug)


@page_view
@require_http_methods(["GET", "POST"])
def templates(request, slug):
    page = queries.get_page_for_user(request.user, slug)
    form = forms.TemplateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not actions.can_configure(request.user, page):
            return error_page(request, "you need the admin role in the page's team", 403)
        if form.is_valid():
            from alertum.core.actions import save_config

            template = form.save(commit=False)
            template.page = page
            try:
                save_config(template, **_who(request), fields=["page", "status", "name", "body"])
                return redirect("statuspages:templates", slug=page.slug)
            except Exception as exc:  # a duplicate name (ValidationError from full_clean)
                form.add_error(None, str(getattr(exc, "messages", [exc])[0]))
                status = 409
        else:
            status = 400
    return render(request, "statuspages/templates.html", {
        "page": page, "form": form, "templates": MessageTemplate.objects.filter(page=page),
        "defaults": actions.DEFAULT_TEMPLATES}, status=status)


# --- stakeholder audiences -------------------------------------------------------------------

@page_view
@require_http_methods(["GET", "POST"])
def audiences(request):
    form = forms.AudienceForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                actions.save_audience(None, **form.cleaned_data, **_who(request))
                return redirect("statuspages:audiences")
            except DomainError as exc:
                status = _fail(form, exc)
        else:
            status = 400
    visible = StakeholderAudience.objects.select_related("team")
    if not is_admin(request.user):
        visible = visible.filter(team_id__in=teams_with_role(request.user, Role.VIEWER))
    return render(request, "statuspages/audiences.html", {"form": form, "audiences": visible}, status=status)

