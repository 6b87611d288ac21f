"""Reads for the playbook doors. The incident itself is found through incidents.queries
(permission-scoped); these only read its reminders and the templates."""

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from alertum.core.permissions import is_member_anywhere
from incidents.models import Incident, PlaybookStep, PlaybookTemplate, Reminder

SHOWN_LABELS = {"upcoming": "Upcoming", "due": "Due", "overdue": "Overdue", "done": "Done", "skipped": "Skipped"}
WORKSPACE_LIMIT = 50


def reminders_of(incident: Incident) -> QuerySet[Reminder]:
    return Reminder.objects.filter(incident=incident).select_related("addressed_to", "done_by").order_by("due_at", "id")


def shown_reminders(incident: Incident, now=None) -> list[Reminder]:
    """The workspace's playbook panel: open steps first (overdue, due, upcoming, by due
    time), then the done and skipped ones, newest first. Each row gets `shown` (its state
    as the viewer sees it now) and `shown_label`."""
    now = now or timezone.now()
    rows = list(reminders_of(incident)[:WORKSPACE_LIMIT * 2])
    for row in rows:
        row.shown = row.shown_state(now)
        row.shown_label = SHOWN_LABELS[row.shown]
        row.is_open = row.state in (Reminder.State.UPCOMING, Reminder.State.DUE)
    open_rows = [r for r in rows if r.is_open]
    closed = sorted((r for r in rows if not r.is_open), key=lambda r: r.done_at or r.skipped_at or r.due_at,
                    reverse=True)
    return (open_rows + closed)[:WORKSPACE_LIMIT]


def visible_templates(user) -> QuerySet[PlaybookTemplate]:
    """Playbooks are global configuration: every team member reads them."""
    qs = PlaybookTemplate.objects.prefetch_related(
        Prefetch("steps", queryset=PlaybookStep.objects.order_by("position", "offset_minutes", "id")))
    return qs.order_by("severity", "name") if is_member_anywhere(user) else qs.none()
