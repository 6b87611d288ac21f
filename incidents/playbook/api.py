"""REST API for response playbooks: templates (read by every member, written by admins)
at /api/v1/playbooks/, and an incident's reminders at
/api/v1/incidents/{id}/reminders/ with POST …/{reminder_id}/done/.

Thin like incidents/api.py: serializers shape input and output, incidents.queries
decides which incidents the caller sees (hidden is 404), incidents.playbook.actions
writes and checks who may (DomainError -> 403/404/409/422 through the shared handler).
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alertum.core.api import ApiModelSerializer, ApiPagination, UserRefSerializer, client_ip, errors, whole_number
from alertum.core.errors import NotFound
from alertum.core.models import Door
from incidents.models import IncidentRole, PlaybookStep, PlaybookTemplate, Reminder, Severity
from incidents.playbook import actions
from incidents.playbook.actions import MAX_MINUTES
from incidents.playbook.queries import SHOWN_LABELS, reminders_of, visible_templates
from incidents.queries import get_incident_for_user

WRITE_ERRORS = errors(400, 403, 404, 409, 422)


class PlaybookStepSerializer(ApiModelSerializer):
    offset_minutes = serializers.IntegerField(min_value=0, max_value=MAX_MINUTES,
                                              help_text="Minutes after the incident got this severity.")
    role = serializers.ChoiceField(choices=IncidentRole.choices,
                                   help_text="Whose step it is; `responder` means any responder.")
    text = serializers.CharField(max_length=300)
    repeat_every_minutes = serializers.IntegerField(min_value=5, max_value=MAX_MINUTES, required=False,
                                                    allow_null=True, help_text="Null: once.")

    class Meta:
        model = PlaybookStep
        fields = ["offset_minutes", "role", "text", "repeat_every_minutes"]


class PlaybookTemplateSerializer(ApiModelSerializer):
    severity = serializers.ChoiceField(choices=Severity.choices)
    grace_minutes = serializers.IntegerField(min_value=0, max_value=24 * 60, required=False,
                                             help_text="A due step not done after this long shows as overdue.")
    steps = PlaybookStepSerializer(many=True, help_text="In order; on PATCH the list replaces the steps.")

    class Meta:
        model = PlaybookTemplate
        fields = ["id", "name", "severity", "grace_minutes", "active", "steps", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators = []  # one active playbook per severity: the action answers 409, not a 400


class NotificationSerializer(serializers.Serializer):
    state = serializers.CharField(source="notify_state", help_text="'' (nobody to e-mail), pending, sending, "
                                                                    "sent, failed or cancelled")
    attempts = serializers.IntegerField(source="notify_attempts")
    sent_at = serializers.DateTimeField(source="notified_at", allow_null=True)
    error = serializers.CharField(source="notify_error")


class ReminderSerializer(ApiModelSerializer):
    shown_state = serializers.SerializerMethodField(
        help_text="As the workspace shows it now: upcoming, due, overdue, done or skipped.")
    overdue_at = serializers.DateTimeField(read_only=True)
    addressed_to = UserRefSerializer(allow_null=True, help_text="Who it went to when it came due.")
    done_by = UserRefSerializer(allow_null=True)
    notification = NotificationSerializer(source="*")

    class Meta:
        model = Reminder
        fields = ["id", "step", "occurrence", "severity", "role", "text", "repeat_every_minutes", "due_at",
                  "overdue_at", "state", "shown_state", "fired_at", "addressed_to", "done_at", "done_by",
                  "skipped_at", "skip_reason", "notification"]

    @extend_schema_field(serializers.ChoiceField(choices=list(SHOWN_LABELS)))
    def get_shown_state(self, reminder) -> str:
        return reminder.shown_state(self.context.get("now"))


def _who(request) -> dict:
    return {"actor": request.user, "source": Door.API, "ip_address": client_ip(request)}


@extend_schema(tags=["playbooks"])
class PlaybookTemplateViewSet(viewsets.ModelViewSet):
    """Response playbooks per severity: ordered steps, each a reminder to a role holder.
    Every member reads them; admins change them (audited). Incidents already armed keep
    their reminders."""

    serializer_class = PlaybookTemplateSerializer
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return visible_templates(self.request.user)

    def get_object(self):
        pk = whole_number(self.kwargs["pk"])
        template = self.get_queryset().filter(pk=pk).first() if pk is not None else None
        if template is None:
            raise NotFound(f"playbook {self.kwargs['pk']!r} does not exist")
        return template

    def _answer(self, template, code=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=template.pk)).data, status=code)

    @extend_schema(responses={201: PlaybookTemplateSerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        data["steps"] = [dict(step) for step in data["steps"]]
        return self._answer(actions.create_template(**data, **_who(request)), status.HTTP_201_CREATED)

    @extend_schema(responses={200: PlaybookTemplateSerializer, **WRITE_ERRORS})
    def partial_update(self, request, *args, **kwargs):
        template = self.get_object()
        body = self.get_serializer(template, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if "steps" in data:
            data["steps"] = [dict(step) for step in data["steps"]]
        return self._answer(actions.update_template(template, **data, **_who(request)))

    @extend_schema(responses={204: None, **errors(403, 404)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_template(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


INCIDENT_PARAMETER = OpenApiParameter("incident_pk", int, OpenApiParameter.PATH, description="The incident's id.")


@extend_schema(tags=["incidents"], parameters=[INCIDENT_PARAMETER])
class IncidentReminderViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """An incident's playbook reminders, in due order; visible to whoever sees the incident."""

    serializer_class = ReminderSerializer
    pagination_class = None  # a few dozen at most per incident

    def incident(self):
        pk = whole_number(self.kwargs["incident_pk"])
        if pk is None:
            raise NotFound(f"incident {self.kwargs['incident_pk']!r} does not exist")
        return get_incident_for_user(self.request.user, pk)

    def get_queryset(self):
        return reminders_of(self.incident())

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(responses={200: ReminderSerializer(many=True), **errors(404)},
                   summary="List an incident's playbook reminders")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: ReminderSerializer, **errors(403, 404, 409)},
                   parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The reminder's id.")],
                   summary="Mark a playbook step done (responders of the owning team)")
    @action(detail=True, methods=["post"])
    def done(self, request, incident_pk=None, pk=None):
        incident = self.incident()
        reminder_id = whole_number(pk)
        if reminder_id is None or not Reminder.objects.filter(pk=reminder_id, incident=incident).exists():
            raise NotFound(f"{incident.reference} has no playbook step {pk}")
        actions.complete_reminder(reminder_id, actor=request.user, source=Door.API)
        reminder = reminders_of(incident).get(pk=reminder_id)
        return Response(self.get_serializer(reminder).data)
