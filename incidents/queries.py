"""Permission-scoped reads. Every door reads incidents through these."""

from django.db.models import Q, QuerySet

from alertum.core.errors import NotFound
from alertum.core.models import Role
from alertum.core.permissions import is_admin, is_member_anywhere, teams_with_role
from incidents.models import OPEN_STATUSES, Incident, Sensitivity, TimelineEntry


def visible_incidents(user) -> QuerySet[Incident]:
    """Normal incidents for any team member; restricted ones for their own team and admins."""
    qs = Incident.objects.all()
    if is_admin(user):
        return qs
    if not is_member_anywhere(user):
        return qs.none()
    return qs.filter(Q(sensitivity=Sensitivity.NORMAL) | Q(team_id__in=teams_with_role(user, Role.VIEWER)))


def get_incident_for_user(user, pk: int) -> Incident:
    """The incident, or NotFound — also when it exists but is hidden from this user,
    so that restricted incidents do not reveal their existence."""
    incident = visible_incidents(user).select_related(
        "team", "assignee", "commander", "comms_lead", "liaison", "merged_into").filter(pk=pk).first()
    if incident is None:
        raise NotFound(f"incident {pk} does not exist")
    return incident


def list_incidents(user, *, status: str | None = None, severity: str | None = None, service: str | None = None,
                   team: str | None = None, mine: bool = False, q: str | None = None) -> QuerySet[Incident]:
    """Filtered list for the page and the API. Joins what a row shows, so the query
    count does not grow with the page size."""
    qs = visible_incidents(user).select_related("team", "assignee", "commander")
    if status == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif status:
        qs = qs.filter(status__in=status.split(","))
    if severity:
        qs = qs.filter(severity__in=severity.split(","))
    if service:
        qs = qs.filter(services__slug=service)
    if team:
        qs = qs.filter(team__slug=team)
    if mine and user.is_authenticated:
        qs = qs.filter(Q(assignee=user) | Q(commander=user) | Q(responders=user)).distinct()
    if q:
        number = q.upper().removeprefix("INC-")
        is_number = number.isascii() and number.isdigit()  # isdigit alone accepts "²", which int() refuses
        qs = qs.filter(Q(title__icontains=q) | (Q(number=int(number)) if is_number else Q()))
    return qs.order_by("-number")


def list_open_incidents(user) -> QuerySet[Incident]:
    return list_incidents(user, status="open")


def timeline_after(incident: Incident, after_seq: int = 0, limit: int | None = None) -> QuerySet[TimelineEntry]:
    qs = TimelineEntry.objects.filter(incident=incident, seq__gt=after_seq).select_related("actor").order_by("seq")
    return qs[:limit] if limit else qs
