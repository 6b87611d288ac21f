"""The workspace's playbook panel (htmx): the panel itself (it re-polls every minute so
upcoming steps turn due and overdue on an open page) and the "done" button. Writes go
through incidents.playbook.actions, which checks the responder role."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from alertum.core.errors import NotFound
from incidents import actions, queries
from incidents.models import Reminder
from incidents.playbook import actions as playbook
from incidents.playbook.queries import shown_reminders
from incidents.views import _post_action, _web, answers_domain_errors, incident_post


@login_required
@require_GET
@answers_domain_errors
def reminders_panel(request, pk: int):
    incident = queries.get_incident_for_user(request.user, pk)
    return render(request, "incidents/_reminders.html", {
        "incident": incident, "reminders": shown_reminders(incident),
        "may_respond": actions.can_respond(request.user, incident)})


@incident_post
def mark_done(request, pk: int, reminder_id: int):
    def perform(incident, data):
        # The reminder must belong to this incident (which the user may see).
        if not Reminder.objects.filter(pk=reminder_id, incident=incident).exists():
            raise NotFound(f"{incident.reference} has no playbook step {reminder_id}")
        playbook.complete_reminder(reminder_id, **_web(request))

    return _post_action(request, pk, None, perform)
