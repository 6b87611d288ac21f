"""REST API for incidents: list / declare / read / edit, the lifecycle actions, comments,
structured updates, checklist, evidence and the read-only timeline.

Views are thin: a serializer shapes the input, `incidents.queries` decides what the
caller may see (hidden incidents are 404), and `incidents.actions` does every write and
checks who may do it (DomainError -> 403/404/409/422 through the shared exception
handler). Serializers shape input and output only.
"""

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from alertum.core.api import (
    ApiModelSerializer,
    ApiPagination,
    PayloadTooLarge,
    UserField,
    UserRefSerializer,
    UTCDateTimeField,
    boolean_param,
    client_ip,
    errors,
    service_slugs_field,
    team_slug_field,
    whole_number,
)
from alertum.core.errors import Forbidden, NotFound
from alertum.core.models import Door, Service, Team
from incidents import actions
from incidents.models import (
    ChecklistItem,
    Evidence,
    Impact,
    Incident,
    IncidentRole,
    Sensitivity,
    Severity,
    Status,
    TimelineEntry,
    Urgency,
    UsersAffected,
)
from incidents.queries import get_incident_for_user, list_incidents, timeline_after, visible_incidents

# --- output ----------------------------------------------------------------------------------


class TeamRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class ServiceRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class IncidentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    title = serializers.CharField()


class IncidentListSerializer(ApiModelSerializer):
    """One row of the list: everything here is joined or prefetched by the view."""

    url = serializers.HyperlinkedIdentityField(view_name="api-incident-detail")
    reference = serializers.CharField(read_only=True)
    team = TeamRefSerializer()
    services = ServiceRefSerializer(many=True)
    assignee = UserRefSerializer(allow_null=True)
    commander = UserRefSerializer(allow_null=True)

    class Meta:
        model = Incident
        fields = ["id", "reference", "url", "title", "status", "severity", "sensitivity", "team", "services",
                  "assignee", "commander", "started_at", "detected_at", "acknowledged_at", "resolved_at",
                  "created_at", "updated_at"]


class RolesSerializer(serializers.Serializer):
    commander = UserRefSerializer(allow_null=True)
    comms_lead = UserRefSerializer(allow_null=True)
    liaison = UserRefSerializer(allow_null=True)
    responders = UserRefSerializer(many=True)


class ChecklistItemSerializer(ApiModelSerializer):
    done = serializers.SerializerMethodField()
    done_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ChecklistItem
        fields = ["id", "position", "text", "done", "done_at", "done_by"]

    def get_done(self, item) -> bool:
        return item.done_at is not None


class EvidenceSerializer(ApiModelSerializer):
    kind = serializers.CharField(read_only=True)
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Evidence
        fields = ["id", "filename", "content_type", "kind", "size", "description", "uploaded_by", "uploaded_at"]


class AccessSerializer(serializers.Serializer):
    respond = serializers.BooleanField(help_text="You may act on this incident (status, comments, updates …).")
    command = serializers.BooleanField(help_text="You may reassign the commander or the owning team.")


class IncidentDetailSerializer(IncidentListSerializer):
    roles = RolesSerializer(source="*")
    checklist = ChecklistItemSerializer(many=True)
    evidence = EvidenceSerializer(many=True)
    merged_into = serializers.SerializerMethodField()
    related = serializers.SerializerMethodField()
    channel_slug = serializers.CharField(read_only=True)
    allowed_next_statuses = serializers.ListField(child=serializers.CharField(), read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    your_access = serializers.SerializerMethodField()

    class Meta(IncidentListSerializer.Meta):
        fields = [*IncidentListSerializer.Meta.fields, "description", "severity_reason", "impact", "users_affected",
                  "business_functions", "urgency", "tags", "roles", "checklist", "evidence", "merged_into",
                  "related", "channel_slug", "identified_at", "monitoring_at", "last_seq", "source", "created_by",
                  "allowed_next_statuses", "your_access"]

    def _user(self):
        return self.context["request"].user

    @extend_schema_field(IncidentRefSerializer(allow_null=True))
    def get_merged_into(self, incident):
        # A survivor the caller cannot see stays hidden (restricted incidents do not
        # reveal that they exist).
        survivor = incident.merged_into
        if survivor is None or not actions.can_view(self._user(), survivor):
            return None
        return IncidentRefSerializer(survivor).data

    @extend_schema_field(IncidentRefSerializer(many=True))
    def get_related(self, incident):
        return IncidentRefSerializer(getattr(incident, "visible_related", []), many=True).data

    @extend_schema_field(AccessSerializer)
    def get_your_access(self, incident) -> dict:
        user = self._user()
        return {"respond": actions.can_respond(user, incident), "command": actions.can_command(user, incident)}


class TimelineEntrySerializer(ApiModelSerializer):
    actor = UserRefSerializer(allow_null=True)
    data = serializers.JSONField()

    class Meta:
        model = TimelineEntry
        fields = ["seq", "kind", "actor", "source", "occurred_at", "visibility", "data", "prev_hash", "hash"]


class TimelinePageSerializer(serializers.Serializer):
    last_seq = serializers.IntegerField(help_text="The newest entry's seq; poll again with after=last seen seq.")
    has_more = serializers.BooleanField(help_text="More entries follow; ask again with after= the last seq here.")
    results = TimelineEntrySerializer(many=True)


# --- input -----------------------------------------------------------------------------------

def _tags_field():
    return serializers.ListField(child=serializers.CharField(max_length=50), max_length=50, required=False)


class IncidentCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    team = team_slug_field()
    services = service_slugs_field(required=False)
    impact = serializers.ChoiceField(choices=Impact.choices, required=False)
    users_affected = serializers.ChoiceField(choices=UsersAffected.choices, required=False)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    business_functions = serializers.CharField(required=False, allow_blank=True, max_length=500)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False,
                                       help_text="Leave out to take the severity matrix's answer.")
    severity_reason = serializers.CharField(required=False, allow_blank=True, max_length=500,
                                            help_text="Required when severity differs from the matrix.")
    tags = _tags_field()
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices, required=False)
    started_at = UTCDateTimeField(required=False)
    detected_at = UTCDateTimeField(required=False)
    assignee = UserField(required=False, allow_null=True)
    commander = UserField(required=False, allow_null=True)


# PATCH keys that belong to another endpoint, with where to go instead.
_ELSEWHERE = {
    "status": "use POST /incidents/{id}/status/ (or acknowledge/, resolve/, reopen/)",
    "team": "use POST /incidents/{id}/team/",
    "commander": "use POST /incidents/{id}/assign-role/",
    "comms_lead": "use POST /incidents/{id}/assign-role/",
    "liaison": "use POST /incidents/{id}/assign-role/",
    "responders": "use POST /incidents/{id}/assign-role/",
    "merged_into": "use POST /incidents/{id}/merge/",
    "related": "use POST /incidents/{id}/relate/",
}


class IncidentPatchSerializer(serializers.Serializer):
    """Partial update. Each concern goes to its own action: details and services to
    edit_incident, severity (with a reason) to set_severity, assignee to assign_incident."""

    title = serializers.CharField(required=False, max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    impact = serializers.ChoiceField(choices=Impact.choices, required=False)
    users_affected = serializers.ChoiceField(choices=UsersAffected.choices, required=False)
    urgency = serializers.ChoiceField(choices=Urgency.choices, required=False)
    business_functions = serializers.CharField(required=False, allow_blank=True, max_length=500)
    tags = _tags_field()
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices, required=False)
    started_at = UTCDateTimeField(required=False)
    services = service_slugs_field(required=False, help_text="Service slugs (replaces the list).")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    severity_reason = serializers.CharField(required=False, allow_blank=True, max_length=500,
                                            help_text="Why the severity changes; required with severity.")
    assignee = UserField(required=False, allow_null=True)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: [_ELSEWHERE.get(name, "not a field that can be changed")] for name in unknown})
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["send at least one field to change"]})
        if "severity_reason" in attrs and "severity" not in attrs:
            raise serializers.ValidationError({"severity_reason": ["only with a new severity"]})
        return attrs


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=5_000)


class ReopenSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2_000, help_text="Why it is reopened.")


class StatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=5_000)


class MergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Id of the incident that survives.")


class RelateSerializer(serializers.Serializer):
    other = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Id of the related incident.")


class AssignRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=IncidentRole.choices)
    user = UserField(allow_null=True, help_text="Username or id; null clears a single-holder role.")
    remove = serializers.BooleanField(default=False, help_text="Take an engineering responder off.")


class SeveritySerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices)
    reason = serializers.CharField(max_length=500)


class TeamChangeSerializer(serializers.Serializer):
    team = team_slug_field()


class CommentSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)
    public = serializers.BooleanField(default=False)


class UpdateSerializer(serializers.Serializer):
    impact = serializers.CharField(max_length=5_000, help_text="The current impact.")
    action_taken = serializers.CharField(required=False, allow_blank=True, max_length=5_000)
    next_step = serializers.CharField(required=False, allow_blank=True, max_length=5_000)
    public = serializers.BooleanField(default=False)


class ChecklistTickSerializer(serializers.Serializer):
    done = serializers.BooleanField()


class EvidenceUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    description = serializers.CharField(required=False, allow_blank=True, max_length=300)


# --- views -----------------------------------------------------------------------------------

LIST_PARAMETERS = [
    OpenApiParameter("status", str, description="`open`, or comma-separated statuses: " + ", ".join(Status.values)),
    OpenApiParameter("severity", str, description="Comma-separated: " + ", ".join(Severity.values)),
    OpenApiParameter("service", str, description="Service slug."),
    OpenApiParameter("team", str, description="Owning team slug."),
    OpenApiParameter("mine", bool, description="1: only incidents you are assigned to, command or respond to."),
    OpenApiParameter("q", str, description="Text in the title, or a reference (INC-42 or 42)."),
]


def _csv(request, name: str) -> list[str]:
    return [part.strip() for part in request.query_params.get(name, "").split(",") if part.strip()]


def _list_filters(request) -> dict:
    """Read and check the list's filters; an unknown value is a 400 saying so."""
    params, problems = request.query_params, {}
    filters = {"mine": boolean_param(request, "mine")}
    statuses = _csv(request, "status")
    if statuses != ["open"]:
        unknown = [s for s in statuses if s not in Status.values]
        if unknown:
            problems["status"] = [f"unknown status {', '.join(map(repr, unknown))}; use open or "
                                  f"comma-separated {', '.join(Status.values)}"]
    filters["status"] = ",".join(statuses) or None
    severities = _csv(request, "severity")
    unknown = [s for s in severities if s not in Severity.values]
    if unknown:
        problems["severity"] = [f"unknown severity {', '.join(map(repr, unknown))}; use {', '.join(Severity.values)}"]
    filters["severity"] = ",".join(severities) or None
    for name, model in (("service", Service), ("team", Team)):
        slug = params.get(name, "").strip()
        if slug and not model.objects.filter(slug=slug).exists():
            problems[name] = [f"no {name} with slug {slug!r}"]
        filters[name] = slug or None
    q = params.get("q", "").strip()
    if len(q) > 200:
        problems["q"] = ["the search text is longer than 200 characters"]
    filters["q"] = q or None
    if problems:
        raise exceptions.ValidationError(problems)
    return filters


def _int_param(request, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw)
    if value is None or not minimum <= value <= maximum:
        raise exceptions.ValidationError({name: [f"must be a whole number from {minimum} to {maximum}; got {raw!r}"]})
    return value


def _referenced_incident(user, pk: int, field: str) -> Incident:
    """An incident named in the body: unknown or hidden is a field error, not a 404 of the URL."""
    try:
        return get_incident_for_user(user, pk)
    except NotFound as exc:
        raise exceptions.ValidationError({field: [exc.message]}) from None


def detail_queryset(user):
    """Everything the detail view shows, in a fixed number of queries."""
    return visible_incidents(user).select_related(
        "team", "assignee", "commander", "comms_lead", "liaison", "created_by", "merged_into"
    ).prefetch_related(
        Prefetch("services", queryset=Service.objects.only("id", "slug", "name").order_by("name")),
        "responders",
        Prefetch("checklist", queryset=ChecklistItem.objects.select_related("done_by").order_by("position")),
        Prefetch("evidence", queryset=Evidence.objects.select_related("uploaded_by").order_by("uploaded_at", "id")),
        Prefetch("related", queryset=visible_incidents(user).only("id", "number", "title").order_by("number"),
                 to_attr="visible_related"),
    )


ACTION_ERRORS = errors(400, 403, 404, 409, 422)
MULTIPART_SLACK = 64 * 1024


@extend_schema(tags=["incidents"])
class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents the caller can see. Restricted incidents of other teams do not exist here."""

    serializer_class = IncidentDetailSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        return visible_incidents(self.request.user)

    def get_serializer_class(self):
        return IncidentListSerializer if self.action == "list" else IncidentDetailSerializer

    def get_object(self):
        pk = whole_number(self.kwargs["pk"])
        if pk is None:
            raise NotFound(f"incident {self.kwargs['pk']!r} does not exist")
        return get_incident_for_user(self.request.user, pk)

    def _detail(self, pk: int, *, status_code=status.HTTP_200_OK, still_visible=True) -> Response:
        incident = detail_queryset(self.request.user).filter(pk=pk).first()
        if incident is None and not still_visible:
            # The caller just moved it to a team they are not in (restricted incident):
            # show them the outcome of their own action once.
            incident = Incident.objects.select_related("team", "merged_into").get(pk=pk)
        if incident is None:
            raise NotFound(f"incident {pk} does not exist")
        return Response(IncidentDetailSerializer(incident, context=self.get_serializer_context()).data,
                        status=status_code)

    # -- list, declare, read, edit ------------------------------------------------------------

    @extend_schema(parameters=LIST_PARAMETERS, responses={200: IncidentListSerializer(many=True), **errors(400)})
    def list(self, request, *args, **kwargs):
        services = Prefetch("services", queryset=Service.objects.only("id", "slug", "name").order_by("name"))
        incidents = list_incidents(request.user, **_list_filters(request)).prefetch_related(services)
        page = self.paginate_queryset(incidents)
        return self.get_paginated_response(IncidentListSerializer(page, many=True,
                                                                  context=self.get_serializer_context()).data)

    def retrieve(self, request, *args, **kwargs):
        return self._detail(self.get_object().pk)

    @extend_schema(request=IncidentCreateSerializer, responses={201: IncidentDetailSerializer, **ACTION_ERRORS},
                   summary="Declare an incident")
    def create(self, request, *args, **kwargs):
        body = IncidentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = actions.declare_incident(**body.validated_data, actor=request.user, source=Door.API)
        response = self._detail(incident.pk, status_code=status.HTTP_201_CREATED)
        response["Location"] = response.data["url"]
        return response

    @extend_schema(request=IncidentPatchSerializer, responses={200: IncidentDetailSerializer, **ACTION_ERRORS})
    def partial_update(self, request, *args, **kwargs):
        incident = self.get_object()
        body = IncidentPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if data.get("severity", incident.severity) != incident.severity and not data.get("severity_reason", "").strip():
            raise exceptions.ValidationError({"severity_reason": ["a reason is required to change the severity"]})
        who = {"actor": request.user, "source": Door.API}
        # One action per concern, all or nothing: a refusal from a later one undoes the earlier.
        with transaction.atomic():
            edits = {f: data[f] for f in actions.EDITABLE_FIELDS if f in data}
            if edits or "services" in data:
                actions.edit_incident(incident, services=data.get("services"), ip_address=client_ip(request),
                                      **edits, **who)
            if "severity" in data:
                actions.set_severity(incident, data["severity"], reason=data.get("severity_reason", ""), **who)
            if "assignee" in data:
                actions.assign_incident(incident, data["assignee"], **who)
        return self._detail(incident.pk)

    # -- lifecycle actions ----------------------------------------------------------------------

    @extend_schema(request=None, responses={200: IncidentDetailSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        incident = self.get_object()
        actions.acknowledge_incident(incident, actor=request.user, source=Door.API)
        return self._detail(incident.pk)

    @extend_schema(request=NoteSerializer, responses={200: IncidentDetailSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        incident = self.get_object()
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.resolve_incident(incident, actor=request.user, source=Door.API,
                                 note=body.validated_data.get("note", "").strip())
        return self._detail(incident.pk)

    @extend_schema(request=ReopenSerializer, responses={200: IncidentDetailSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        incident = self.get_object()
        body = ReopenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.reopen_incident(incident, actor=request.user, source=Door.API,
                                reason=body.validated_data["reason"].strip())
        return self._detail(incident.pk)

    @extend_schema(request=StatusSerializer, responses={200: IncidentDetailSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        incident = self.get_object()
        body = StatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.change_status(incident, body.validated_data["status"], actor=request.user, source=Door.API,
                              note=body.validated_data.get("note", "").strip())
        return self._detail(incident.pk)

    @extend_schema(request=MergeSerializer, responses={200: IncidentDetailSerializer, **ACTION_ERRORS},
                   summary="Merge this incident (the duplicate) into another; answers with the survivor")
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        incident = self.get_object()
        body = MergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        survivor = _referenced_incident(request.user, body.validated_data["into"], "into")
        survivor = actions.merge_incidents(incident, survivor, actor=request.user, source=Door.API)
        return self._detail(survivor.pk)

    @extend_schema(request=AssignRoleSerializer, responses={200: IncidentDetailSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], url_path="assign-role")
    def assign_role(self, request, pk=None):
        incident = self.get_object()
        body = AssignRoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.assign_role(incident, body.validated_data["role"], body.validated_data["user"],
                            remove=body.validated_data["remove"], actor=request.user, source=Door.API)
        return self._detail(incident.pk)

    @extend_schema(request=SeveritySerializer, responses={200: IncidentDetailSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], url_path="severity")
    def set_severity(self, request, pk=None):
        incident = self.get_object()
        body = SeveritySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.set_severity(incident, body.validated_data["severity"], reason=body.validated_data["reason"],
                             actor=request.user, source=Door.API)
        return self._detail(incident.pk)

    @extend_schema(request=TeamChangeSerializer, responses={200: IncidentDetailSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], url_path="team")
    def change_team(self, request, pk=None):
        incident = self.get_object()
        body = TeamChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.change_team(incident, body.validated_data["team"], actor=request.user, source=Door.API,
                            ip_address=client_ip(request))
        return self._detail(incident.pk, still_visible=False)

    @extend_schema(request=RelateSerializer, responses={200: IncidentDetailSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"])
    def relate(self, request, pk=None):
        incident = self.get_object()
        body = RelateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        other = _referenced_incident(request.user, body.validated_data["other"], "other")
        actions.relate_incidents(incident, other, actor=request.user, source=Door.API)
        return self._detail(incident.pk)

    # -- the workspace: comments, updates, checklist, evidence, timeline ------------------------

    @extend_schema(request=CommentSerializer, responses={201: TimelineEntrySerializer, **ACTION_ERRORS},
                   summary="Comment (internal unless public)")
    @action(detail=True, methods=["post"])
    def comments(self, request, pk=None):
        incident = self.get_object()
        body = CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = actions.add_comment(incident, body.validated_data["body"], public=body.validated_data["public"],
                                    actor=request.user, source=Door.API)
        return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UpdateSerializer, responses={201: TimelineEntrySerializer, **ACTION_ERRORS},
                   summary="Post a structured update (impact, action taken, next step)")
    @action(detail=True, methods=["post"])
    def updates(self, request, pk=None):
        incident = self.get_object()
        body = UpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = actions.post_update(incident, **body.validated_data, actor=request.user, source=Door.API)
        return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChecklistTickSerializer, responses={200: ChecklistItemSerializer, **ACTION_ERRORS},
                   parameters=[OpenApiParameter("item_id", int, OpenApiParameter.PATH)],
                   summary="Tick (or untick) a checklist item")
    @action(detail=True, methods=["post"], url_path=r"checklist/(?P<item_id>\d+)")
    def checklist(self, request, pk=None, item_id=None):
        incident = self.get_object()
        if not incident.checklist.filter(pk=item_id).exists():
            raise NotFound(f"{incident.reference} has no checklist item {item_id}")
        body = ChecklistTickSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = actions.tick_checklist_item(int(item_id), body.validated_data["done"], actor=request.user,
                                           source=Door.API)
        return Response(ChecklistItemSerializer(item).data)

    @extend_schema(request={"multipart/form-data": EvidenceUploadSerializer},
                   responses={201: EvidenceSerializer, **errors(400, 403, 404, 413, 422)},
                   summary="Attach a file (log, screenshot, document)")
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def evidence(self, request, pk=None):
        incident = self.get_object()
        # Refuse early, before judging a file the caller may not attach anyway.
        if not actions.can_respond(request.user, incident):
            raise Forbidden("you need the responder role in the owning team")
        limit = settings.EVIDENCE_MAX_BYTES
        # A body far over the limit is refused before it is read and spooled to disk; the
        # multipart framing around the file is allowed some slack.
        declared = whole_number(request.META.get("CONTENT_LENGTH") or "")
        if declared is not None and declared > limit + MULTIPART_SLACK:
            raise PayloadTooLarge(f"the upload is {declared} bytes; the limit is {limit} bytes")
        body = EvidenceUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        if upload.size > limit:
            raise PayloadTooLarge(f"the file is {upload.size} bytes; the limit is {limit} bytes")
        evidence = actions.add_evidence(incident, upload, description=body.validated_data.get("description", ""),
                                        actor=request.user, source=Door.API)
        return Response(EvidenceSerializer(evidence).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("after", OpenApiTypes.INT, description="Only entries with a greater seq (default 0)."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="At most this many entries (1–1000, 200)."),
        ],
        responses={200: TimelinePageSerializer, **errors(400, 404)},
        summary="Read the timeline (append-only), oldest first",
    )
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        incident = self.get_object()
        after = _int_param(request, "after", 0, 0, 2**31 - 1)
        limit = _int_param(request, "limit", 200, 1, 1000)
        entries = list(timeline_after(incident, after, limit + 1))
        return Response({
            "last_seq": incident.last_seq,
            "has_more": len(entries) > limit,
            "results": TimelineEntrySerializer(entries[:limit], many=True).data,
        })
