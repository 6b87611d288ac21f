"""The only write path for status pages. Every door (management pages, API, admin,
public subscribe forms, ticks, incident signals) calls these functions.

Each action: checks who is asking (the page's team: admins configure, responders tell
customers), opens a transaction, locks its subject, saves, audits, writes the notices it
owes (unique keys, so a repeat sends nothing twice) and registers on commit: the page's
cache bump (statuspages.cache) and the delivery kick.

Lock order when several rows are involved: page, then incident or maintenance, then
components by id.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import re

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from alertum.core import audit
from alertum.core.actions import can_manage_maintenance, schedule_maintenance, set_maintenance_state
from alertum.core.errors import Conflict, Forbidden, Invalid, NotFound
from alertum.core.models import Door, MaintenanceWindow, Role
from alertum.core.notify import Message
from alertum.core.notify import send as notify_send
from alertum.core.notify.webhook import generate_secret
from alertum.core.permissions import has_team_role, is_member_anywhere
from statuspages import cache, v2
from statuspages.models import (
    UNRESOLVED,
    Component,
    ComponentStatus,
    ComponentStatusChange,
    IncidentStatus,
    MaintenanceStatus,
    Notice,
    PublicIncident,
    PublicMaintenance,
    PublicUpdate,
    StakeholderAudience,
    StatusPage,
    Subscriber,
    worst,
)

log = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,78}[a-z0-9]$|^[a-z0-9]$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
LOGO_MAX_BYTES = 100 * 1024
LOGO_TYPES = {"image/png", "image/svg+xml", "image/jpeg", "image/webp", "image/gif"}
MAX_BODY = 10_000
RETRY_DELAYS = [10, 30, 60, 300, 900, 1800, 3600]  # seconds before attempt n+1
MAX_ATTEMPTS = 10
REMIND_BEFORE = dt.timedelta(hours=1)

# Default texts offered for each state when a page has no templates of its own.
DEFAULT_TEMPLATES = {
    "investigating": "We are investigating reports of problems with {components}. We will post an update "
                     "as soon as we know more.",
    "identified": "We have identified the cause and are working on a fix.",
    "monitoring": "A fix has been applied and we are monitoring the results.",
    "resolved": "This incident has been resolved.",
    "postmortem": "We have published a postmortem of this incident.",
    "scheduled": "Maintenance is scheduled for {components}.",
    "in_progress": "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
    "verifying": "Maintenance work is complete; we are verifying the results.",
    "completed": "The scheduled maintenance has been completed.",
}

# What an open internal incident's impact means for a linked component.
INCIDENT_IMPACT_STATUS = {"outage": ComponentStatus.MAJOR, "partial": ComponentStatus.PARTIAL,
                          "degraded": ComponentStatus.DEGRADED, "cosmetic": ComponentStatus.OPERATIONAL}
MONITOR_STATE_STATUS = {"down": ComponentStatus.MAJOR, "late": ComponentStatus.DEGRADED}


# --- who may ---------------------------------------------------------------------------------

def can_view_page_admin(user, page: StatusPage) -> bool:
    return has_team_role(user, page.team_id, Role.VIEWER)


def can_communicate(user, page: StatusPage) -> bool:
    """Post incidents and maintenance, manage subscribers: responders of the page's team."""
    return has_team_role(user, page.team_id, Role.RESPONDER)


def can_configure(user, page: StatusPage) -> bool:
    """Edit the page, its components, access and templates: admins of the page's team."""
    return has_team_role(user, page.team_id, Role.ADMIN)


def _require(allowed: bool, actor, message: str) -> None:
    if actor is not None and not allowed:  # actor None: the system itself (ticks, signals)
        raise Forbidden(message)


def _audit(verb: str, obj, *, actor, source, ip_address=None, changes=None) -> None:
    audit.record(verb, obj, actor=actor if actor is not None and actor.pk else None, source=source,
                 ip_address=ip_address, changes=changes or {})


def base_url() -> str:
    return settings.STATUSPAGES_BASE_URL.rstrip("/")


def public_url(page: StatusPage) -> str:
    if page.custom_domain:
        return f"{settings.STATUSPAGES_DOMAIN_SCHEME}://{page.custom_domain}/"
    return f"{base_url()}/status/{page.slug}/"


# --- pages -----------------------------------------------------------------------------------

PAGE_FIELDS = ["name", "slug", "custom_domain", "description", "time_zone", "access", "allowed_ips", "support_url",
               "team"]


def _clean_page(page: StatusPage) -> None:
    page.name = (page.name or "").strip()
    if not page.name:
        raise Invalid("name is required", field="name")
    page.slug = (page.slug or "").strip().lower()
    if not SLUG_RE.match(page.slug):
        raise Invalid("slug must be lowercase letters, digits and dashes", field="slug")
    domain = (page.custom_domain or "").strip().lower().rstrip(".") or None
    if domain and not DOMAIN_RE.match(domain):
        raise Invalid(f"{domain!r} is not a host name such as status.example.com", field="custom_domain")
    page.custom_domain = domain
    for network in page.ip_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise Invalid(f"{network!r} is not an IP address or network", field="allowed_ips") from None
    if page.access == StatusPage.Access.IP and not page.ip_networks:
        raise Invalid("an IP allow-list page needs at least one address or network", field="allowed_ips")
    if page.access == StatusPage.Access.PASSWORD and not page.password_hash:
        raise Invalid("set a password for a password-protected page", field="password")
    try:
        page.full_clean(exclude=["team", "password_hash", "logo", "logo_type"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise Invalid(f"{field}: {' '.join(messages)}", field=field) from None


def create_page(*, team, name: str, slug: str, actor, source: str, ip_address=None, password: str = "",
                **fields) -> StatusPage:
    _require(has_team_role(actor, team.pk, Role.ADMIN), actor, "you need the admin role in the page's team")
    page = StatusPage(team=team, name=name, slug=slug, **fields)
    if password:
        page.set_password(password)
    _clean_page(page)
    try:
        with transaction.atomic():
            page.save()
            _audit("statuspage.created", page, actor=actor, source=source, ip_address=ip_address,
                   changes=audit.model_changes(page, PAGE_FIELDS, None))
            cache.bump(page.slug)
            cache.bump_domains()
    except IntegrityError:
        raise Conflict("another page already has this slug or custom domain", field="slug") from None
    return page


def update_page(page: StatusPage, *, actor, source: str, ip_address=None, password: str | None = None,
                **fields) -> StatusPage:
    """Change a page's settings; `password` non-empty sets a new shared password."""
    _require(can_configure(actor, page), actor, "you need the admin role in the page's team")
    try:
        with transaction.atomic():
            page = StatusPage.objects.select_for_update().get(pk=page.pk)
            before = audit.snapshot(page, PAGE_FIELDS)
            old_slug = page.slug
            if "team" in fields and fields["team"].pk != page.team_id:
                _require(has_team_role(actor, fields["team"].pk, Role.ADMIN), actor,
                         "you need the admin role in the new team too")
            for name, value in fields.items():
                if name not in PAGE_FIELDS:
                    raise Invalid(f"unknown field {name}", field=name)
                setattr(page, name, value)
            if password:
                page.set_password(password)
            _clean_page(page)
            page.updated_at = timezone.now()
            page.save()
            changes = audit.model_changes(page, PAGE_FIELDS, before)
            if password:
                changes["password"] = ["…", "changed"]  # never the value itself
            if changes:
                _audit("statuspage.updated", page, actor=actor, source=source, ip_address=ip_address,
                       changes=changes)
            cache.bump(old_slug, page.slug)
            cache.bump_domains()
    except IntegrityError:
        raise Conflict("another page already has this slug or custom domain", field="slug") from None
    return page


def set_logo(page: StatusPage, data: bytes | None, content_type: str = "", *, actor, source: str,
             ip_address=None) -> StatusPage:
    _require(can_configure(actor, page), actor, "you need the admin role in the page's team")
    if data is not None:
        if len(data) > LOGO_MAX_BYTES:
            raise Invalid(f"the logo must be at most {LOGO_MAX_BYTES // 1024} KB", field="logo")
        if content_type not in LOGO_TYPES:
            raise Invalid(f"the logo must be one of {', '.join(sorted(LOGO_TYPES))}", field="logo")
    with transaction.atomic():
        page = StatusPage.objects.select_for_update().get(pk=page.pk)
        page.logo, page.logo_type = (data, content_type) if data is not None else (None, "")
        page.updated_at = timezone.now()
        page.save(update_fields=["logo", "logo_type", "updated_at"])
        _audit("statuspage.logo", page, actor=actor, source=source, ip_address=ip_address,
               changes={"logo": [None, f"{len(data)} bytes" if data else None]})
        cache.bump(page.slug)
    return page


def delete_page(page: StatusPage, *, actor, source: str, ip_address=None) -> None:
    _require(can_configure(actor, page), actor, "you need the admin role in the page's team")
    with transaction.atomic():
        slug, text, pk = page.slug, str(page), page.pk
        page.delete()
        audit.record("statuspage.deleted", None, actor=actor, source=source, ip_address=ip_address,
                     object_type="statuspages.statuspage", object_repr=text, changes={"id": pk})
        cache.bump(slug)
        cache.bump_domains()


# --- components ------------------------------------------------------------------------------

COMPONENT_FIELDS = ["name", "description", "position", "group", "is_group", "automatic", "showcase",
                    "only_show_if_degraded", "start_date"]


def save_component(page: StatusPage, component: Component | None = None, *, actor, source: str, ip_address=None,
                   services=None, monitors=None, **fields) -> Component:
    """Create (component None) or edit a component or group. Two levels only: a group
    sits at the top, a leaf in at most one group of the same page."""
    _require(can_configure(actor, page), actor, "you need the admin role in the page's team")
    creating = component is None
    with transaction.atomic():
        if creating:
            component = Component(page=page)
            before = None
        else:
            component = Component.objects.select_for_update().get(pk=component.pk, page=page)
            before = audit.snapshot(component, COMPONENT_FIELDS)
        for name, value in fields.items():
            if name not in COMPONENT_FIELDS:
                raise Invalid(f"unknown field {name}", field=name)
            setattr(component, name, value)
        component.name = (component.name or "").strip()
        if not component.name:
            raise Invalid("name is required", field="name")
        group = component.group
        if group is not None:
            if group.page_id != page.pk or not group.is_group:
                raise Invalid("group must be a component group of the same page", field="group")
            if component.is_group:
                raise Invalid("a group cannot sit inside another group (two levels only)", field="group")
        if not component.is_group and not creating and component.children.exists():
            raise Conflict("this group still holds components; move them out first", field="is_group")
        if Component.objects.filter(page=page, name=component.name).exclude(pk=component.pk).exists():
            raise Conflict(f"this page already has a component named {component.name!r}", field="name")
        if creating and "position" not in fields:
            last = Component.objects.filter(page=page).order_by("-position").values_list("position", flat=True).first()
            component.position = (last or 0) + 1
        component.updated_at = timezone.now()
        component.save()
        changes = audit.model_changes(component, COMPONENT_FIELDS, before)
        for name, values in (("services", services), ("monitors", monitors)):
            if values is not None:
                manager = getattr(component, name)
                old = sorted(manager.values_list("pk", flat=True))
                manager.set(values)
                new = sorted(v.pk for v in values)
                if old != new:
                    changes[name] = [old, new]
        if creating:
            ComponentStatusChange.objects.create(component=component, at=component.created_at, old_status="",
                                                 status=component.status)
        if creating or changes:
            _audit(f"component.{'created' if creating else 'updated'}", component, actor=actor, source=source,
                   ip_address=ip_address, changes=changes)
        cache.bump(page.slug)
    recompute_components([component.pk])
    component.refresh_from_db()
    return component


def delete_component(component: Component, *, actor, source: str, ip_address=None) -> None:
    page = component.page
    _require(can_configure(actor, page), actor, "you need the admin role in the page's team")
    with transaction.atomic():
        if component.is_group and component.children.exists():
            raise Conflict("this group still holds components; move or delete them first")
        text, pk = str(component), component.pk
        component.delete()
        audit.record("component.deleted", None, actor=actor, source=source, ip_address=ip_address,
                     object_type="statuspages.component", object_repr=text, changes={"id": pk})
        cache.bump(page.slug)


def _check_status(status: str, field: str = "status") -> str:
    if status not in ComponentStatus.values:
        raise Invalid(f"{field} must be one of {', '.join(ComponentStatus.values)}; got {status!r}", field=field)
    return status


def set_component_status(component: Component, status: str, *, actor, source: str, ip_address=None) -> Component:
    """Set by hand what the component's status is (for automatic components, the shown
    status is still at least what monitors and incidents say)."""
    page = component.page
    _require(can_communicate(actor, page), actor, "you need the responder role in the page's team")
    _check_status(status)
    if component.is_group:
        raise Invalid("a group's status follows its components; set theirs")
    with transaction.atomic():
        component = Component.objects.select_for_update().get(pk=component.pk)
        if component.reported_status == status:
            return component
        old = component.reported_status
        component.reported_status = status
        component.save(update_fields=["reported_status"])
        _audit("component.status", component, actor=actor, source=source, ip_address=ip_address,
               changes={"status": [old, status]})
    recompute_components([component.pk], announce=True)
    component.refresh_from_db()
    return component


def _monitor_states(monitor_ids) -> dict[int, str]:
    if not monitor_ids:
        return {}
    try:
        from monitoring import queries as monitoring_queries
    except ImportError:
        return {}
    reader = getattr(monitoring_queries, "current_states", None)
    if reader is None:
        return {}
    return reader(list(monitor_ids))


def derived_statuses(components, now=None) -> dict[int, str]:
    """{component id: the status its links say} — monitors down or late, open internal
    incidents on its services (by their impact), maintenance running on it."""
    from incidents.models import OPEN_STATUSES, Incident

    now = now or timezone.now()
    ids = [c.pk for c in components]
    result = {pk: ComponentStatus.OPERATIONAL for pk in ids}
    links = Component.monitors.through.objects.filter(component_id__in=ids).values_list("component_id", "monitor_id")
    monitor_links = list(links)
    states = _monitor_states({m for _, m in monitor_links})
    for cid, mid in monitor_links:
        status = MONITOR_STATE_STATUS.get(states.get(mid, ""))
        if status:
            result[cid] = worst([result[cid], status])
    service_links = list(Component.services.through.objects.filter(component_id__in=ids)
                         .values_list("component_id", "service_id"))
    if service_links:
        impacts: dict[int, list[str]] = {}
        for service_id, impact in Incident.objects.filter(
                status__in=OPEN_STATUSES, services__in={s for _, s in service_links}).values_list("services", "impact"):
            impacts.setdefault(service_id, []).append(impact)
        for cid, sid in service_links:
            for impact in impacts.get(sid, ()):
                result[cid] = worst([result[cid], INCIDENT_IMPACT_STATUS.get(impact, ComponentStatus.OPERATIONAL)])
    running = PublicMaintenance.objects.filter(components__in=ids, done=False, cancelled=False).filter(
        Q(window__state__in=["in_progress", "verifying"]) | Q(window__state="scheduled", window__starts_at__lte=now,
                                                              window__ends_at__gt=now))
    for cid in running.values_list("components", flat=True):
        if cid in result:
            result[cid] = worst([result[cid], ComponentStatus.MAINTENANCE])
    return result


def recompute_components(component_ids, *, announce: bool = True, now=None) -> list[tuple[Component, str]]:
    """Set each component's shown status from what was reported and (when automatic)
    what its links say; record each change in the history (uptime) and, with
    `announce`, tell webhook subscribers. Groups show their worst child.
    Returns [(component, old status)] for the ones that changed."""
    now = now or timezone.now()
    changed: list[tuple[Component, str]] = []
    with transaction.atomic():
        components = list(Component.objects.select_for_update().filter(pk__in=list(component_ids))
                          .select_related("page").order_by("pk"))
        leaves = [c for c in components if not c.is_group]
        derived = derived_statuses([c for c in leaves if c.automatic], now)
        groups = {c.group_id for c in leaves if c.group_id} | {c.pk for c in components if c.is_group}
        for component in leaves:
            target = component.reported_status
            if component.automatic:
                target = worst([target, derived.get(component.pk, ComponentStatus.OPERATIONAL)])
            old = _change_status(component, target, now)
            if old is not None:
                changed.append((component, old))
        for group in Component.objects.select_for_update().filter(pk__in=groups, is_group=True).select_related("page"):
            child_statuses = list(group.children.values_list("status", flat=True))
            old = _change_status(group, worst(child_statuses), now)
            if old is not None:
                changed.append((group, old))
        for page_slug in {c.page.slug for c, _ in changed}:
            cache.bump(page_slug)
        if announce:
            for component, old in changed:
                if not component.is_group:
                    _component_update_notices(component, old, now)
    return changed


def _change_status(component: Component, status: str, now) -> str | None:
    """Show a new status and record it; returns the old one, or None when unchanged."""
    if component.status == status:
        return None
    old = component.status
    ComponentStatusChange.objects.create(component=component, at=now, old_status=component.status, status=status)
    component.status = status
    component.updated_at = now
    component.save(update_fields=["status", "updated_at"])
    return old


def recompute_all(now=None) -> int:
    """The sync tick: re-derive every automatic component (monitors and internal
    incidents change without telling us). Cheap when nothing moved: one pass of reads."""
    now = now or timezone.now()
    components = list(Component.objects.filter(automatic=True, is_group=False).only(
        "pk", "status", "reported_status"))
    derived = derived_statuses(components, now)
    # Lock and write only the components whose status would move: most ticks move none,
    # and then take no write lock at all.
    due = [c.pk for c in components
           if worst([c.reported_status, derived.get(c.pk, ComponentStatus.OPERATIONAL)]) != c.status]
    changed = 0
    for start in range(0, len(due), 200):
        changed += len(recompute_components(due[start:start + 200], now=now))
    return changed


def components_for_services(service_ids) -> list[int]:
    return list(Component.objects.filter(services__in=service_ids, automatic=True).values_list("pk", flat=True)
                .distinct())


# --- public incidents ------------------------------------------------------------------------

def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise Invalid("write the message customers will read", field="body")
    if len(body) > MAX_BODY:
        raise Invalid(f"the message is longer than {MAX_BODY:,} characters", field="body")
    return body


def _component_changes(page: StatusPage, component_statuses: dict | None) -> list[tuple[Component, str]]:
    """[(locked component, new status)] from {component or code: status}."""
    pairs = []
    for key, status in (component_statuses or {}).items():
        code = key.code if isinstance(key, Component) else str(key)
        _check_status(status, field="components")
        component = Component.objects.select_for_update().filter(page=page, code=code, is_group=False).first()
        if component is None:
            raise Invalid(f"no component {code!r} on this page", field="components")
        pairs.append((component, status))
    return pairs


def _apply_component_statuses(pairs) -> list[dict]:
    affected = []
    for component, status in pairs:
        affected.append({"code": component.code, "name": component.name, "old_status": component.status,
                         "new_status": status})
        component.reported_status = status
        component.save(update_fields=["reported_status"])
    return affected


def render_template(text: str, *, components=()) -> str:
    names = ", ".join(c.name for c in components) or "some of our services"
    return text.replace("{components}", names)


def templates_for(page: StatusPage, status: str) -> list[tuple[str, str]]:
    """[(name, body)] offered for a state: the page's own, else the default."""
    own = [(t.name, t.body) for t in page.templates.filter(status=status)]
    return own or [("Default", DEFAULT_TEMPLATES[status])]


def _timeline_note(public: PublicIncident, status: str, body: str, *, actor, source: str) -> None:
    """Put the public text on the internal incident's timeline (marked public)."""
    if public.incident_id is None:
        return
    from incidents import actions as incident_actions
    from incidents.models import TimelineEntry

    incident = incident_actions.lock_incident(public.incident_id)
    incident_actions.append_entry(
        incident, TimelineEntry.Kind.UPDATE, actor=actor, source=source,
        visibility=TimelineEntry.Visibility.PUBLIC,
        data={"impact": f"Status page “{public.page.name}”, {status}: {body}", "action_taken": "", "next_step": "",
              "public_incident": public.code, "public_status": status})


def create_public_incident(page: StatusPage, *, name: str, status: str = IncidentStatus.INVESTIGATING, body: str,
                           component_statuses: dict | None = None, incident=None, impact_override: str = "",
                           deliver_notifications: bool = True, actor, source: str,
                           ip_address=None) -> PublicIncident:
    """Open a public incident with its first update; sets the affected components'
    statuses, notes the text on the internal incident's timeline, tells subscribers."""
    _require(can_communicate(actor, page), actor, "you need the responder role in the page's team")
    name = (name or "").strip()
    if not name:
        raise Invalid("name is required", field="name")
    if status not in UNRESOLVED:
        raise Invalid("a new incident starts as investigating, identified or monitoring", field="status")
    if impact_override and impact_override not in ("none", "minor", "major", "critical"):
        raise Invalid("impact_override must be none, minor, major or critical", field="impact_override")
    body = _clean_body(body)
    if incident is not None:
        from incidents.actions import can_view

        _require(can_view(actor, incident), actor, "you cannot see that internal incident")
    now = timezone.now()
    with transaction.atomic():
        StatusPage.objects.select_for_update().get(pk=page.pk)
        pairs = _component_changes(page, component_statuses)
        public = PublicIncident.objects.create(
            page=page, incident=incident, name=name, status=status, impact_override=impact_override,
            impact=v2.incident_impact([s for _, s in pairs], impact_override), created_at=now, updated_at=now,
            started_at=now, monitoring_at=now if status == IncidentStatus.MONITORING else None)
        public.components.set([c for c, _ in pairs])
        update = PublicUpdate.objects.create(incident=public, status=status, body=body, created_at=now, display_at=now,
                                             affected_components=_apply_component_statuses(pairs) or None,
                                             deliver_notifications=deliver_notifications)
        _audit("publicincident.created", public, actor=actor, source=source, ip_address=ip_address,
               changes={"status": [None, status], "incident": [None, incident.pk if incident else None]})
        _timeline_note(public, status, body, actor=actor, source=source)
        recompute_components([c.pk for c, _ in pairs], now=now)
        if deliver_notifications:
            _incident_notices(public, update)
        cache.bump(page.slug)
    return public


INCIDENT_NEXT = {
    IncidentStatus.INVESTIGATING: set(IncidentStatus.values) - {"postmortem"},
    IncidentStatus.IDENTIFIED: set(IncidentStatus.values) - {"postmortem"},
    IncidentStatus.MONITORING: set(IncidentStatus.values) - {"postmortem"},
    IncidentStatus.RESOLVED: {"resolved", "postmortem"},
    IncidentStatus.POSTMORTEM: {"postmortem"},
}


def post_incident_update(public: PublicIncident, *, status: str, body: str, component_statuses: dict | None = None,
                         deliver_notifications: bool = True, actor, source: str,
                         ip_address=None) -> PublicUpdate:
    """One update: investigating → identified → monitoring → resolved (→ postmortem).
    Resolving with no component statuses given puts the affected ones back to
    operational. A postmortem keeps its text as the incident's postmortem too."""
    page = public.page
    _require(can_communicate(actor, page), actor, "you need the responder role in the page's team")
    if status not in IncidentStatus.values:
        raise Invalid(f"status must be one of {', '.join(IncidentStatus.values)}", field="status")
    body = _clean_body(body)
    now = timezone.now()
    with transaction.atomic():
        public = PublicIncident.objects.select_for_update().select_related("page").get(pk=public.pk)
        if status not in INCIDENT_NEXT[public.status]:
            raise Conflict(f"a {public.status} incident cannot get a {status} update", field="status")
        if status == IncidentStatus.RESOLVED and component_statuses is None:
            component_statuses = {c.code: ComponentStatus.OPERATIONAL for c in public.components.all()}
        pairs = _component_changes(page, component_statuses)
        old_status = public.status
        public.status = status
        if status == IncidentStatus.MONITORING and public.monitoring_at is None:
            public.monitoring_at = now
        if status == IncidentStatus.RESOLVED and public.resolved_at is None:
            public.resolved_at = now
        if status == IncidentStatus.POSTMORTEM:
            public.postmortem_body = body
        if pairs:
            public.components.add(*[c for c, _ in pairs])
            new_impact = v2.incident_impact([s for _, s in pairs], public.impact_override)
            if public.impact_override or v2.IMPACT_RANK[new_impact] > v2.IMPACT_RANK[public.impact]:
                public.impact = new_impact  # an incident's impact is the worst it reached
        public.updated_at = now
        public.save()
        update = PublicUpdate.objects.create(incident=public, status=status, body=body, created_at=now,
                                             display_at=now,
                                             affected_components=_apply_component_statuses(pairs) or None,
                                             deliver_notifications=deliver_notifications)
        _audit("publicincident.updated", public, actor=actor, source=source, ip_address=ip_address,
               changes={"status": [old_status, status]})
        _timeline_note(public, status, body, actor=actor, source=source)
        recompute_components([c.pk for c, _ in pairs], now=now)
        if deliver_notifications:
            _incident_notices(public, update)
        cache.bump(page.slug)
    return update


def edit_public_incident(public: PublicIncident, *, actor, source: str, ip_address=None, name: str | None = None,
                         impact_override: str | None = None, incident=None, unlink: bool = False) -> PublicIncident:
    page = public.page
    _require(can_communicate(actor, page), actor, "you need the responder role in the page's team")
    with transaction.atomic():
        public = PublicIncident.objects.select_for_update().get(pk=public.pk)
        changes = {}
        if name is not None:
            name = name.strip()
            if not name:
                raise Invalid("name is required", field="name")
            if name != public.name:
                changes["name"] = [public.name, name]
                public.name = name
        if impact_override is not None and impact_override != public.impact_override:
            if impact_override and impact_override not in ("none", "minor", "major", "critical"):
                raise Invalid("impact_override must be none, minor, major or critical", field="impact_override")
            changes["impact_override"] = [public.impact_override, impact_override]
            public.impact_override = impact_override
            if impact_override:
                public.impact = impact_override
        if incident is not None or unlink:
            new_id = None if unlink else incident.pk
            if new_id != public.incident_id:
                changes["incident"] = [public.incident_id, new_id]
                public.incident_id = new_id
        if not changes:
            return public
        public.updated_at = timezone.now()
        public.save()
        _audit("publicincident.edited", public, actor=actor, source=source, ip_address=ip_address, changes=changes)
        cache.bump(page.slug)
    return public


# --- scheduled maintenance -------------------------------------------------------------------

WINDOW_TO_STATUS = {"scheduled": "scheduled", "in_progress": "in_progress", "verifying": "verifying",
                    "completed": "completed", "cancelled": "completed"}


def schedule_public_maintenance(page: StatusPage, *, name: str, starts_at, ends_at, body: str = "", components=(),
                                window: MaintenanceWindow | None = None, remind_prior: bool = True,
                                deliver_notifications: bool = True, actor, source: str,
                                ip_address=None) -> PublicMaintenance:
    """Tell customers about maintenance, on an existing core maintenance window or on a
    new one for the components' services. The window's own moves (by hand or by the core
    tick) drive the public status; see `sync_maintenance`."""
    _require(can_communicate(actor, page), actor, "you need the responder role in the page's team")
    components = list(components)
    for component in components:
        if component.page_id != page.pk:
            raise Invalid("components must belong to this page", field="components")
    if window is None:
        services = {s for c in components for s in c.services.all()}
        if not services:
            raise Invalid("link the components to services (the maintenance window is on services), or choose "
                          "an existing maintenance window", field="components")
        window = schedule_maintenance(title=name, starts_at=starts_at, ends_at=ends_at, services=services,
                                      actor=actor, source=source, description=body, ip_address=ip_address)
    elif actor is not None and not can_manage_maintenance(actor, list(window.services.all())):
        raise Forbidden("you need the responder role in every service team of that maintenance window")
    name = (name or window.title or "").strip()
    if not name:
        raise Invalid("name is required", field="name")
    if window.state in ("completed", "cancelled"):
        raise Conflict("that maintenance window is already over", field="window")
    body = (body or "").strip() or render_template(DEFAULT_TEMPLATES["scheduled"], components=components)
    now = timezone.now()
    with transaction.atomic():
        maintenance = PublicMaintenance.objects.create(page=page, window=window, name=name, remind_prior=remind_prior,
                                                       status=WINDOW_TO_STATUS[window.state], created_at=now,
                                                       updated_at=now)
        maintenance.components.set(components)
        update = PublicUpdate.objects.create(maintenance=maintenance, status=maintenance.status,
                                             body=_clean_body(body), created_at=now, display_at=now,
                                             deliver_notifications=deliver_notifications)
        _audit("publicmaintenance.created", maintenance, actor=actor, source=source, ip_address=ip_address,
               changes={"window": [None, window.pk]})
        if deliver_notifications:
            _maintenance_notices(maintenance, update)
        cache.bump(page.slug)
    if maintenance.status != "scheduled":
        recompute_components([c.pk for c in components])
    return maintenance


def post_maintenance_update(maintenance: PublicMaintenance, *, status: str, body: str = "",
                            deliver_notifications: bool = True, actor, source: str,
                            ip_address=None) -> PublicUpdate:
    """Move the maintenance on (through the core window's own state action) and tell
    customers; or, with the same status, just add a message."""
    page = maintenance.page
    _require(can_communicate(actor, page), actor, "you need the responder role in the page's team")
    if status not in MaintenanceStatus.values:
        raise Invalid(f"status must be one of {', '.join(MaintenanceStatus.values)}", field="status")
    if maintenance.status != status:
        set_maintenance_state(maintenance.window, status, actor=actor, source=source, ip_address=ip_address)
    return _record_maintenance_move(maintenance, status, body, deliver_notifications=deliver_notifications,
                                    actor=actor, source=source)


def cancel_maintenance(maintenance: PublicMaintenance, *, actor, source: str, ip_address=None) -> PublicMaintenance:
    _require(can_communicate(actor, maintenance.page), actor, "you need the responder role in the page's team")
    set_maintenance_state(maintenance.window, "cancelled", actor=actor, source=source, ip_address=ip_address)
    sync_maintenance()
    maintenance.refresh_from_db()
    return maintenance


def _record_maintenance_move(maintenance, status, body, *, deliver_notifications=True, actor=None,
                             source=Door.BEAT) -> PublicUpdate:
    now = timezone.now()
    with transaction.atomic():
        maintenance = PublicMaintenance.objects.select_for_update().select_related("page", "window").get(
            pk=maintenance.pk)
        components = list(maintenance.components.all())
        text = (body or "").strip() or render_template(DEFAULT_TEMPLATES[status], components=components)
        maintenance.status = status
        maintenance.updated_at = now
        maintenance.done = status == MaintenanceStatus.COMPLETED
        maintenance.save()
        update = PublicUpdate.objects.create(maintenance=maintenance, status=status, body=_clean_body(text),
                                             created_at=now, display_at=now,
                                             deliver_notifications=deliver_notifications)
        if deliver_notifications:
            _maintenance_notices(maintenance, update)
        cache.bump(maintenance.page.slug)
    recompute_components([c.pk for c in components], now=now)
    return update


def sync_maintenance(now=None) -> int:
    """The status-page tick's maintenance half: when a core window moved (the core tick
    starts and completes windows on time), post the matching public update, put the
    components under maintenance or back; send the reminder an hour before the start."""
    now = now or timezone.now()
    moved = 0
    for maintenance in PublicMaintenance.objects.filter(done=False).select_related("window", "page"):
        window = maintenance.window
        if window.state == "cancelled":
            with transaction.atomic():
                PublicMaintenance.objects.filter(pk=maintenance.pk).update(done=True, cancelled=True, updated_at=now)
                PublicUpdate.objects.create(maintenance=maintenance, status="completed", created_at=now,
                                            display_at=now, body="This scheduled maintenance has been cancelled.")
                cache.bump(maintenance.page.slug)
            recompute_components(list(maintenance.components.values_list("pk", flat=True)), now=now)
            moved += 1
            continue
        target = WINDOW_TO_STATUS[window.state]
        if target != maintenance.status:
            _record_maintenance_move(maintenance, target, "")
            moved += 1
        elif (maintenance.remind_prior and maintenance.reminded_at is None and target == "scheduled"
              and window.starts_at - REMIND_BEFORE <= now < window.starts_at):
            with transaction.atomic():
                if PublicMaintenance.objects.filter(pk=maintenance.pk, reminded_at=None).update(reminded_at=now):
                    _reminder_notices(maintenance)
        elif target == "scheduled" and window.starts_at <= now:
            # Running by the clock before the core tick has moved the window: show it.
            recompute_components(list(maintenance.components.values_list("pk", flat=True)), now=now)
    return moved


# --- subscribers -----------------------------------------------------------------------------

SIGNING_SALT = "statuspages.subscriber"


def subscriber_token(subscriber: Subscriber, purpose: str) -> str:
    return signing.dumps({"s": subscriber.code, "p": purpose}, salt=SIGNING_SALT, compress=True)


def subscriber_from_token(token: str, purpose: str, max_age=None) -> Subscriber:
    try:
        data = signing.loads(token, salt=SIGNING_SALT, max_age=max_age)
    except signing.BadSignature:
        raise NotFound("this link is not valid (or has expired)") from None
    if data.get("p") != purpose:
        raise NotFound("this link is not valid")
    subscriber = Subscriber.objects.select_related("page").filter(code=data.get("s")).first()
    if subscriber is None:
        raise NotFound("this subscription no longer exists")
    return subscriber


def _page_components(page: StatusPage, codes) -> list[Component]:
    codes = [c for c in (codes or []) if c]
    found = list(Component.objects.filter(page=page, code__in=codes, is_group=False))
    if len(found) != len(set(codes)):
        raise Invalid("choose components of this page", field="components")
    return found


def subscribe_email(page: StatusPage, email: str, *, components=(), source: str = Door.WEB) -> Subscriber:
    """Start a double opt-in: a pending subscriber and a confirmation e-mail. Asking again
    while pending sends the confirmation again (at most a few times); asking while
    subscribed changes nothing — the answer is the same either way, so the form does not
    tell strangers who is subscribed."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise Invalid("enter a valid e-mail address", field="email") from None
    chosen = _page_components(page, components)
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().filter(page=page, kind="email", email=email).first()
        if subscriber is None:
            subscriber = Subscriber.objects.create(page=page, kind="email", email=email)
            subscriber.components.set(chosen)
        elif subscriber.is_active:
            return subscriber
        elif subscriber.unsubscribed_at is not None:
            subscriber.unsubscribed_at = None
            subscriber.confirmed_at = None
            subscriber.save(update_fields=["unsubscribed_at", "confirmed_at"])
            subscriber.components.set(chosen)
        sent = Notice.objects.filter(subscriber=subscriber, event="subscriber.confirm").count()
        if sent >= 5:
            return subscriber
        link = f"{base_url()}/status/{page.slug}/subscribers/confirm/{subscriber_token(subscriber, 'confirm')}"
        _queue([Notice(key=f"confirm:{subscriber.code}:{sent + 1}", page=page, subscriber=subscriber, kind="email",
                       target=email, event="subscriber.confirm",
                       title=f"Confirm your subscription to {page.name} status",
                       text=f"Someone (we hope you) asked to be told about incidents and maintenance on the "
                            f"{page.name} status page.\nConfirm within 7 days: {link}\n\nIf it was not you, ignore "
                            "this e-mail and nothing will be sent.",
                       urls={"Confirm subscription": link})])
    return subscriber


def confirm_subscriber(token: str) -> Subscriber:
    subscriber = subscriber_from_token(token, "confirm", max_age=7 * 24 * 3600)
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.confirmed_at is None and subscriber.unsubscribed_at is None:
            subscriber.confirmed_at = timezone.now()
            subscriber.save(update_fields=["confirmed_at"])
    return subscriber


def unsubscribe(token: str) -> Subscriber:
    subscriber = subscriber_from_token(token, "unsubscribe")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if subscriber.unsubscribed_at is None:
            subscriber.unsubscribed_at = timezone.now()
            subscriber.save(update_fields=["unsubscribed_at"])
    return subscriber


def add_subscriber(page: StatusPage, *, kind: str, email: str = "", url: str = "", components=(), actor,
                   source: str, ip_address=None) -> Subscriber:
    """Staff add a subscriber: e-mail (confirmed, as the staff vouch for it) or webhook
    (a new signing secret, shown once). Webhooks are added by staff only, so that the
    public cannot make us POST to arbitrary addresses."""
    _require(can_communicate(actor, page), actor, "you need the responder role in the page's team")
    chosen = _page_components(page, [c.code if isinstance(c, Component) else c for c in components])
    subscriber = Subscriber(page=page, kind=kind, confirmed_at=timezone.now())
    if kind == Subscriber.Kind.EMAIL:
        try:
            validate_email(email)
        except ValidationError:
            raise Invalid("enter a valid e-mail address", field="email") from None
        subscriber.email = email.strip().lower()
    elif kind == Subscriber.Kind.WEBHOOK:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise Invalid("enter an http(s) URL", field="url") from None
        subscriber.url = url
        subscriber.secret = generate_secret()
    else:
        raise Invalid("kind must be email or webhook", field="kind")
    try:
        with transaction.atomic():
            subscriber.save()
            subscriber.components.set(chosen)
            _audit("subscriber.created", subscriber, actor=actor, source=source, ip_address=ip_address,
                   changes={"kind": [None, kind]})
    except IntegrityError:
        raise Conflict("this page already has that subscriber", field="email" if kind == "email" else "url") from None
    return subscriber


def remove_subscriber(subscriber: Subscriber, *, actor, source: str, ip_address=None) -> None:
    _require(can_communicate(actor, subscriber.page), actor, "you need the responder role in the page's team")
    with transaction.atomic():
        text, pk = str(subscriber), subscriber.pk
        subscriber.delete()
        audit.record("subscriber.deleted", None, actor=actor, source=source, ip_address=ip_address,
                     object_type="statuspages.subscriber", object_repr=text, changes={"id": pk})


# --- notices ---------------------------------------------------------------------------------

def _audience(page: StatusPage, component_ids: set[int]):
    """Active subscribers who want to hear about these components (no choice = all)."""
    subs = Subscriber.objects.filter(page=page, confirmed_at__isnull=False, unsubscribed_at__isnull=True) \
        .prefetch_related("components")
    for sub in subs:
        chosen = {c.pk for c in sub.components.all()}
        if not chosen or not component_ids or chosen & component_ids:
            yield sub


def _links(subscriber: Subscriber, page: StatusPage) -> dict:
    return {"View status page": public_url(page),
            "Unsubscribe": f"{base_url()}/status/{page.slug}/subscribers/unsubscribe/"
                           f"{subscriber_token(subscriber, 'unsubscribe')}"}


def _webhook_meta(subscriber: Subscriber, page: StatusPage, payload: dict) -> dict:
    components = list(page.components.all())
    status = v2.overall_status(components)
    return {"meta": {"unsubscribe": _links(subscriber, page)["Unsubscribe"],
                     "documentation": f"{base_url()}/status/{page.slug}/#subscribe"},
            "page": {"id": page.code, "status_indicator": status["indicator"],
                     "status_description": status["description"]},
            **payload}


def _subscriber_notices(page, component_ids, key: str, event: str, title: str, text: str, webhook_payload):
    notices = []
    for sub in _audience(page, component_ids):
        base = dict(key=f"{key}:{sub.code}", page=page, subscriber=sub, event=event, title=title)
        if sub.kind == Subscriber.Kind.EMAIL:
            notices.append(Notice(kind="email", target=sub.email, text=text, urls=_links(sub, page), **base))
        elif webhook_payload is not None:
            notices.append(Notice(kind="webhook", target={"url": sub.url, "secret": sub.secret},
                                  payload=_webhook_meta(sub, page, webhook_payload), **base))
    _queue(notices)


def _incident_payload(public: PublicIncident) -> dict:
    public = PublicIncident.objects.prefetch_related("updates", "components__group").get(pk=public.pk)
    return {"incident": v2.incident_json(public, public.page, public_url(public.page))}


def _incident_notices(public: PublicIncident, update: PublicUpdate) -> None:
    page = public.page
    label = IncidentStatus(update.status).label
    text = f"{label} — {update.body}"
    if update.affected_components:
        text += "\n\nAffected: " + ", ".join(
            f"{a['name']} ({ComponentStatus(a['new_status']).label.lower()})" for a in update.affected_components)
    _subscriber_notices(page, set(public.components.values_list("pk", flat=True)), f"upd:{update.code}",
                        f"incident.{update.status}", f"[{page.name}] {public.name}", text, _incident_payload(public))


def _maintenance_notices(maintenance: PublicMaintenance, update: PublicUpdate) -> None:
    page = maintenance.page
    window = maintenance.window
    tz = v2.page_tz(page)
    when = f"{window.starts_at.astimezone(tz):%Y-%m-%d %H:%M} – {window.ends_at.astimezone(tz):%Y-%m-%d %H:%M %Z}"
    label = MaintenanceStatus(update.status).label
    payload = PublicMaintenance.objects.prefetch_related("updates", "components__group").select_related(
        "window").get(pk=maintenance.pk)
    _subscriber_notices(page, set(maintenance.components.values_list("pk", flat=True)), f"upd:{update.code}",
                        f"maintenance.{update.status}", f"[{page.name}] Maintenance: {maintenance.name}",
                        f"{label} ({when}) — {update.body}",
                        {"incident": v2.maintenance_json(payload, page, public_url(page))})


def _reminder_notices(maintenance: PublicMaintenance) -> None:
    page = maintenance.page
    tz = v2.page_tz(page)
    starts = maintenance.window.starts_at.astimezone(tz)
    notices = []
    for sub in _audience(page, set(maintenance.components.values_list("pk", flat=True))):
        if sub.kind != Subscriber.Kind.EMAIL:
            continue
        notices.append(Notice(key=f"remind:{maintenance.code}:{sub.code}", page=page, subscriber=sub, kind="email",
                              target=sub.email, event="maintenance.reminder",
                              title=f"[{page.name}] Reminder: {maintenance.name} starts at {starts:%H:%M %Z}",
                              text=f"Scheduled maintenance “{maintenance.name}” starts at "
                                   f"{starts:%Y-%m-%d %H:%M %Z} and runs until "
                                   f"{maintenance.window.ends_at.astimezone(tz):%Y-%m-%d %H:%M %Z}.",
                              urls=_links(sub, page)))
    _queue(notices)


def _component_update_notices(component: Component, old: str, now) -> None:
    """Webhook subscribers hear of every component status change (Statuspage does so)."""
    page = component.page
    tz = v2.page_tz(page)
    payload = {"component_update": {"created_at": v2.ts(now, tz), "new_status": component.status,
                                    "old_status": old, "id": f"{component.code}{int(now.timestamp())}",
                                    "component_id": component.code},
               "component": {"created_at": v2.ts(component.created_at, tz), "id": component.code,
                             "name": component.name, "status": component.status}}
    notices = []
    for sub in _audience(page, {component.pk}):
        if sub.kind == Subscriber.Kind.WEBHOOK:
            notices.append(Notice(key=f"comp:{component.code}:{now.timestamp():.6f}:{sub.code}", page=page,
                                  subscriber=sub, kind="webhook", target={"url": sub.url, "secret": sub.secret},
                                  event="component.update", title=f"{component.name} is {component.status}",
                                  payload=_webhook_meta(sub, page, payload)))
    _queue(notices)


def _queue(notices: list[Notice]) -> None:
    """Write the notices (a key already there means already owed: skipped) and kick
    delivery after commit."""
    if not notices:
        return
    Notice.objects.bulk_create(notices, ignore_conflicts=True)
    keys = [n.key for n in notices]
    transaction.on_commit(lambda: _kick(keys))


def _kick(keys) -> None:
    ids = list(Notice.objects.filter(key__in=keys, state=Notice.State.PENDING).values_list("pk", flat=True))
    if not ids:
        return
    from statuspages.tasks import deliver_notices

    try:
        deliver_notices.delay(ids)
    except Exception:  # broker down: the rows wait for the delivery tick
        log.warning("could not queue status page notices; the delivery tick will send them", exc_info=True)


def deliver(notice_id: int, now=None) -> Notice | None:
    """Claim one due notice (pending → sending), send it, record the outcome. A notice
    another worker holds, or already delivered, is left alone: each goes out once."""
    now = now or timezone.now()
    with transaction.atomic():
        notice = Notice.objects.select_for_update(skip_locked=True).filter(
            pk=notice_id, state=Notice.State.PENDING).first()
        if notice is None or (notice.next_attempt_at and notice.next_attempt_at > now):
            return None
        notice.state = Notice.State.SENDING
        notice.attempts += 1
        notice.save(update_fields=["state", "attempts"])
    message = Message(title=notice.title, text=notice.text, urls=notice.urls or {}, key=f"sp-{notice.pk}",
                      event=notice.event, payload=notice.payload,
                      reference="" if notice.audience_id is None else notice.key.split(":")[1])
    result = notify_send(notice.kind, notice.target, message)
    done = timezone.now()
    if result.delivered:
        Notice.objects.filter(pk=notice.pk).update(state=Notice.State.DELIVERED, sent_at=done, last_error="",
                                                   next_attempt_at=None)
    elif result.permanent or notice.attempts >= MAX_ATTEMPTS:
        Notice.objects.filter(pk=notice.pk).update(state=Notice.State.FAILED, last_error=result.error,
                                                   next_attempt_at=None)
    else:
        delay = max(RETRY_DELAYS[min(notice.attempts - 1, len(RETRY_DELAYS) - 1)], result.retry_after or 0)
        Notice.objects.filter(pk=notice.pk).update(state=Notice.State.PENDING, last_error=result.error,
                                                   next_attempt_at=done + dt.timedelta(seconds=delay))
    notice.refresh_from_db()
    return notice


STUCK_AFTER = dt.timedelta(minutes=5)


def deliver_due(now=None, limit: int = 200) -> int:
    """The delivery tick: send what is due (new or waiting for a retry), and put back
    notices left in `sending` by a worker that died (it may have sent the message: the
    webhook id and the e-mail key stay the same, so receivers can drop the repeat)."""
    now = now or timezone.now()
    Notice.objects.filter(state=Notice.State.SENDING, created_at__lt=now - STUCK_AFTER,
                          sent_at__isnull=True).update(state=Notice.State.PENDING, next_attempt_at=now)
    ids = list(Notice.objects.filter(state=Notice.State.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    sent = 0
    for pk in ids:
        if deliver(pk, now=now) is not None:
            sent += 1
    return sent


def retry_notice(notice: Notice, *, actor, source: str) -> Notice:
    """Send a failed notice again (after fixing the address or the endpoint)."""
    if notice.page_id:
        _require(can_communicate(actor, notice.page), actor, "you need the responder role in the page's team")
    elif actor is not None and not is_member_anywhere(actor):
        raise Forbidden("you may not do this")
    with transaction.atomic():
        notice = Notice.objects.select_for_update().get(pk=notice.pk)
        if notice.state != Notice.State.FAILED:
            raise Conflict("only failed notices can be retried")
        notice.state = Notice.State.PENDING
        notice.next_attempt_at = timezone.now()
        notice.attempts = 0
        notice.save(update_fields=["state", "next_attempt_at", "attempts"])
        transaction.on_commit(lambda: _kick([notice.key]))
    return notice


# --- stakeholders ----------------------------------------------------------------------------

STAKEHOLDER_SEVERITIES = ("P1", "P2")


def save_audience(audience: StakeholderAudience | None = None, *, actor, source: str, ip_address=None,
                  **fields) -> StakeholderAudience:
    from alertum.core.permissions import is_admin

    team = fields.get("team", audience.team if audience else None)
    allowed = is_admin(actor) or (team is not None and has_team_role(actor, team.pk, Role.ADMIN))
    _require(allowed, actor, "you need the admin role in the audience's team (or be a global admin)")
    audience = audience or StakeholderAudience()
    for name, value in fields.items():
        setattr(audience, name, value)
    if not audience.severities:
        audience.severities = list(STAKEHOLDER_SEVERITIES)
    bad = [s for s in audience.severities if s not in ("P1", "P2", "P3", "P4")]
    if bad:
        raise Invalid(f"severities must be P1–P4; got {bad}", field="severities")
    if audience.kind not in StakeholderAudience.Kind.values:
        raise Invalid("kind must be email, slack, teams or webhook", field="kind")
    if audience.kind == "email":
        for address in audience.targets:
            try:
                validate_email(address)
            except ValidationError:
                raise Invalid(f"{address!r} is not an e-mail address", field="target") from None
    else:
        try:
            URLValidator(schemes=["http", "https"])(audience.target.strip())
        except ValidationError:
            raise Invalid("enter the channel's webhook URL", field="target") from None
        if audience.kind == "webhook" and not audience.secret:
            audience.secret = generate_secret()
    if not audience.targets:
        raise Invalid("name at least one address", field="target")
    from alertum.core.actions import save_config

    try:
        return save_config(audience, actor=actor, source=source, ip_address=ip_address,
                           fields=["name", "kind", "target", "team", "severities", "enabled"])
    except ValidationError as exc:
        raise Invalid("; ".join(exc.messages)) from None


def notify_stakeholders(incident_id: int, event: str) -> int:
    """Tell the internal audiences about a serious incident (signal listener). Keyed by
    incident, audience, target and event, so a repeated signal sends nothing twice."""
    from incidents.models import Incident

    incident = Incident.objects.select_related("team").filter(pk=incident_id).first()
    if incident is None:
        return 0
    notices = []
    link = f"{base_url()}/incidents/{incident.pk}/"
    event_label = {"triggered": "declared", "severity": f"raised to {incident.severity}",
                   "resolved": "resolved"}[event]
    for audience in StakeholderAudience.objects.filter(enabled=True).filter(Q(team=None) | Q(team=incident.team_id)):
        if incident.severity not in (audience.severities or STAKEHOLDER_SEVERITIES):
            continue
        tag = f"{event}:{incident.severity}" if event == "severity" else event
        for target in audience.targets:
            kind = audience.kind
            to = {"url": target, "secret": audience.secret} if kind == "webhook" else target
            notices.append(Notice(
                key=f"stake:{incident.pk}:{audience.pk}:{tag}:{target}"[:200], audience=audience, kind=kind,
                target=to, event=f"stakeholder.{event}",
                title=f"[{incident.severity}] {incident.reference} {event_label}: {incident.title}",
                text=f"{incident.reference} “{incident.title}” ({incident.get_severity_display()}, team "
                     f"{incident.team}) was {event_label}. Status: {incident.get_status_display()}.",
                urls={"Open incident": link}))
    if notices:  # no empty write transaction: on SQLite even that takes the write lock
        with transaction.atomic():
            _queue(notices)
    return len(notices)


def on_incident_changed(incident_id: int, event: str) -> None:
    """Signal listener: stakeholders for P1/P2, and automatic components on the
    incident's services follow it at once (not only at the next tick)."""
    from incidents.models import Incident

    if event in ("triggered", "severity", "resolved"):
        notify_stakeholders(incident_id, event)
    service_ids = list(Incident.services.through.objects.filter(incident_id=incident_id)
                       .values_list("service_id", flat=True))
    ids = components_for_services(service_ids)
    if ids:
        recompute_components(ids)


def tick(now=None) -> dict:
    """The status-page tick: maintenance moves and reminders, derived statuses."""
    return {"maintenance": sync_maintenance(now), "components": recompute_all(now)}

