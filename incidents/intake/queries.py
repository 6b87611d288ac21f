"""Permission-scoped reads of intake: alerts, integrations, raw events, silences, rules.

Alerts follow incidents.queries: any member of any team sees them, except an alert
attached to a restricted incident, which only that incident's team (and admins) see.
Integrations, silences and rules are configuration every member may read; a raw event
is read with its integration. Each list joins what a row shows, so the query count
does not grow with the page size.
"""

from django.db.models import Count, Q, QuerySet

from alertum.core.errors import NotFound
from alertum.core.models import Role, Service
from alertum.core.permissions import is_admin, is_member_anywhere, teams_with_role
from incidents.models import (
    Alert,
    AlertSeverityRule,
    GroupingRule,
    InhibitionRule,
    Integration,
    RawEvent,
    RoutingRule,
    Sensitivity,
    Silence,
)

SUPPRESSED_CHOICES = [("silenced", "Silenced"), ("inhibited", "Inhibited"), ("maintenance", "Maintenance")]


def _members_only(user, qs: QuerySet) -> QuerySet:
    return qs if is_member_anywhere(user) else qs.none()


def visible_alerts(user) -> QuerySet[Alert]:
    qs = Alert.objects.all()
    if is_admin(user):
        return qs
    if not is_member_anywhere(user):
        return qs.none()
    return qs.filter(Q(incident__isnull=True) | Q(incident__sensitivity=Sensitivity.NORMAL)
                     | Q(incident__team_id__in=teams_with_role(user, Role.VIEWER)))


def list_alerts(user, *, status: list[str] | None = None, service: str | None = None,
                severity: list[str] | None = None, suppressed: str | None = None,
                integration: int | None = None) -> QuerySet[Alert]:
    """Filters: statuses, a service slug, severities, suppressed ("yes", "no", or a reason:
    silenced / inhibited / maintenance), an integration id. Newest activity first."""
    qs = visible_alerts(user).select_related("service", "integration", "incident")
    if status:
        qs = qs.filter(status__in=status)
    if service:
        qs = qs.filter(service__slug=service)
    if severity:
        qs = qs.filter(severity__in=severity)
    if suppressed == "yes":
        qs = qs.exclude(suppressed="")
    elif suppressed == "no":
        qs = qs.filter(suppressed="")
    elif suppressed:
        qs = qs.filter(suppressed=suppressed)
    if integration:
        qs = qs.filter(integration_id=integration)
    return qs.order_by("-last_seen_at", "-id")


def alert_counts(user) -> dict[str, int]:
    """Open alerts by what a responder cares about, in one query: firing (and not muted),
    acknowledged, suppressed (silenced, inhibited or in maintenance)."""
    open_ = visible_alerts(user).exclude(status=Alert.Status.RESOLVED).order_by()
    return open_.aggregate(
        firing=Count("id", filter=Q(status=Alert.Status.FIRING, suppressed="")),
        acknowledged=Count("id", filter=Q(status=Alert.Status.ACKNOWLEDGED)),
        suppressed=Count("id", filter=~Q(suppressed="")),
    )


def get_alert_for_user(user, pk: int) -> Alert:
    alert = visible_alerts(user).select_related("service__owner_team", "integration", "incident").filter(pk=pk).first()
    if alert is None:
        raise NotFound(f"alert {pk} does not exist")
    return alert


def last_raw_event(alert: Alert) -> RawEvent | None:
    """The raw event last applied to the alert (the payload as the sender sent it)."""
    if not alert.last_raw_event_id:
        return None
    return RawEvent.objects.filter(pk=alert.last_raw_event_id, integration_id=alert.integration_id).first()


def visible_integrations(user) -> QuerySet[Integration]:
    return _members_only(user, Integration.objects.select_related("service__owner_team", "created_by")
                         .order_by("service__name", "name"))


def get_integration_for_user(user, pk: int) -> Integration:
    integration = visible_integrations(user).filter(pk=pk).first()
    if integration is None:
        raise NotFound(f"integration {pk} does not exist")
    return integration


def raw_events_of(integration: Integration, *, state: list[str] | None = None) -> QuerySet[RawEvent]:
    qs = RawEvent.objects.filter(integration=integration)
    if state:
        qs = qs.filter(state__in=state)
    return qs.order_by("-id")


def get_raw_event_for_user(user, integration_pk: int, pk: int) -> RawEvent:
    integration = get_integration_for_user(user, integration_pk)
    raw = RawEvent.objects.select_related("integration__service").filter(integration=integration, pk=pk).first()
    if raw is None:
        raise NotFound(f"{integration} has no raw event {pk}")
    return raw


def visible_silences(user) -> QuerySet[Silence]:
    return _members_only(user, Silence.objects.select_related("service__owner_team", "created_by")
                         .order_by("-starts_at", "-id"))


def silence_state_q(state: str, now) -> Q:
    """The silences in a state (as Silence.state() tells it): pending, active or expired."""
    return {"pending": Q(starts_at__gt=now) & Q(ends_at__gt=now),
            "active": Q(starts_at__lte=now, ends_at__gt=now),
            "expired": Q(ends_at__lte=now)}[state]


def silences_in_state(qs: QuerySet[Silence], state: str, now) -> QuerySet[Silence]:
    return qs.filter(silence_state_q(state, now)) if state in ("pending", "active", "expired") else qs


def visible_rules(user, model) -> QuerySet:
    """Grouping, inhibition, alert-severity or routing rules, in the order they apply."""
    qs = model.objects.select_related("service__owner_team")
    if model is RoutingRule:
        qs = qs.select_related("team")
    order = {GroupingRule: ["service__name"], InhibitionRule: ["name", "id"],
             AlertSeverityRule: ["position", "id"], RoutingRule: ["position", "id"]}[model]
    return _members_only(user, qs.order_by(*order))


def get_rule_for_user(user, model, pk: int):
    rule = visible_rules(user, model).filter(pk=pk).first()
    if rule is None:
        raise NotFound(f"{model._meta.verbose_name} {pk} does not exist")
    return rule


def services_with_grouping(user) -> QuerySet[Service]:
    """Every service with its grouping rule (or none: the defaults apply)."""
    return _members_only(user, Service.objects.select_related("owner_team", "grouping_rule").order_by("name"))
