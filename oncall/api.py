"""REST API for escalation: policies with their levels, targets and severity variants
(and a preview of who would be paged when), team channels, the caller's contact methods
and notification rules, services' default policies, an incident's escalation status, the
ownership matrix, and the signed-link door (`POST /page-links/`).

Thin: serializers shape input and output, `oncall.actions` checks who may and writes,
`oncall.queries` reads.
"""

import datetime as dt

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from alertum.core.api import (
    ApiModelSerializer,
    ApiPagination,
    UserField,
    UTCDateTimeField,
    client_ip,
    errors,
    team_slug_field,
)
from alertum.core.errors import NotFound
from alertum.core.models import Door, Service
from alertum.core.permissions import is_member_anywhere
from incidents import queries as incident_queries
from incidents.models import Severity
from oncall import actions, links, queries
from oncall.models import (
    ContactMethod,
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    NotificationRule,
    Page,
    ServicePolicy,
    SeverityVariant,
    TeamChannel,
    Urgency,
)
from oncall.schedules.models import Schedule


def _who(request) -> dict:
    return {"actor": request.user, "source": Door.API, "ip_address": client_ip(request)}


class MemberRead(permissions.BasePermission):
    message = "you are not a member of any team"

    def has_permission(self, request, view):
        return is_member_anywhere(request.user)


# --- policies ------------------------------------------------------------------------------------

class TargetSerializer(ApiModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    schedule = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    channel = serializers.PrimaryKeyRelatedField(read_only=True)
    name = serializers.CharField(source="__str__", read_only=True)

    class Meta:
        model = EscalationTarget
        fields = ["id", "kind", "user", "schedule", "channel", "name"]


class TargetWriteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=EscalationTarget.Kind.choices)
    user = UserField(required=False)
    schedule = serializers.SlugRelatedField(slug_field="slug", queryset=Schedule.objects.all(), required=False,
                                            help_text="Schedule slug.",
                                            error_messages={"does_not_exist": "no schedule with slug {value!r}"})
    channel = serializers.PrimaryKeyRelatedField(queryset=TeamChannel.objects.all(), required=False,
                                                 help_text="Team channel id.")


class LevelSerializer(ApiModelSerializer):
    targets = TargetSerializer(many=True, read_only=True)

    class Meta:
        model = EscalationLevel
        fields = ["id", "position", "delay_minutes", "targets"]
        read_only_fields = ["position"]


class VariantSerializer(ApiModelSerializer):
    class Meta:
        model = SeverityVariant
        fields = ["severity", "mode", "escalate_after_minutes", "repeat_count", "urgency"]
        read_only_fields = ["severity"]


class PolicySerializer(ApiModelSerializer):
    team = team_slug_field()
    levels = LevelSerializer(many=True, read_only=True)
    variants = VariantSerializer(many=True, read_only=True)
    services = serializers.SerializerMethodField(help_text="Slugs of the services this is the default policy of.")

    class Meta:
        model = EscalationPolicy
        fields = ["id", "team", "name", "slug", "description", "repeat_count", "repeat_after_minutes",
                  "notify_on_resolve", "digest_interval_minutes", "levels", "variants", "services", "created_at"]
        read_only_fields = ["created_at"]
        # Uniqueness is the action's to check (it answers 409); DRF's validator would say 400.
        validators = []
        extra_kwargs = {"slug": {"validators": []}}

    def get_services(self, policy) -> list[str]:
        return sorted(sp.service.slug for sp in policy.services.all())


class PreviewStepSerializer(serializers.Serializer):
    at = UTCDateTimeField()
    method = serializers.CharField()


class PreviewPersonSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="user.__str__")
    via = serializers.CharField()
    steps = serializers.SerializerMethodField()

    def get_steps(self, person) -> list[dict]:
        return [{"at": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "method": method}
                for at, method in person.steps]


class PreviewLevelSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    repeat = serializers.IntegerField()
    at = UTCDateTimeField()
    people = PreviewPersonSerializer(many=True)
    channels = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())


class PreviewSerializer(serializers.Serializer):
    severity = serializers.CharField()
    mode = serializers.CharField()
    urgency = serializers.CharField()
    digest_at = UTCDateTimeField(allow_null=True)
    levels = PreviewLevelSerializer(many=True)


@extend_schema(tags=["escalation"])
class PolicyViewSet(viewsets.ModelViewSet):
    """Escalation policies. Team members read; the owning team's admins write. Running
    escalations keep the snapshot they started with."""

    serializer_class = PolicySerializer
    pagination_class = ApiPagination
    permission_classes = [permissions.IsAuthenticated, MemberRead]
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]

    def get_queryset(self):
        return queries.visible_policies(self.request.user)

    @extend_schema(responses={201: PolicySerializer, **errors(400, 403, 409, 422)})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = actions.create_policy(**_who(request), **body.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=policy.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: PolicySerializer, **errors(400, 403, 404, 409, 422)})
    def update(self, request, *args, **kwargs):
        policy = self.get_object()
        body = self.get_serializer(policy, data=request.data, partial=kwargs.get("partial", False))
        body.is_valid(raise_exception=True)
        actions.update_policy(policy, **_who(request), **body.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=policy.pk)).data)

    @extend_schema(responses={204: None, **errors(403, 404, 409)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_policy(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _fresh(self, policy):
        return Response(self.get_serializer(self.get_queryset().get(pk=policy.pk)).data)

    @extend_schema(request=inline_serializer("LevelWrite", {"delay_minutes": serializers.IntegerField(
        min_value=0, max_value=1440, help_text="Minutes after the previous level (level 1: after the trigger).")}),
        responses={200: PolicySerializer, **errors(400, 403, 404, 422)}, summary="Append a level")
    @action(detail=True, methods=["post"])
    def levels(self, request, slug=None):
        policy = self.get_object()
        body = LevelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.add_level(policy, delay_minutes=body.validated_data.get("delay_minutes", 0), **_who(request))
        return self._fresh(policy)

    def _level(self, policy, level_id) -> EscalationLevel:
        return get_object_or_404(EscalationLevel, pk=level_id, policy=policy)

    @extend_schema(request=inline_serializer("LevelChange", {"delay_minutes": serializers.IntegerField(
        min_value=0, max_value=1440)}), responses={200: PolicySerializer, **errors(400, 403, 404, 422)},
        methods=["PATCH"], summary="Change a level's delay")
    @extend_schema(request=None, responses={200: PolicySerializer, **errors(403, 404)}, methods=["DELETE"],
                   summary="Remove a level (later ones move up)")
    @action(detail=True, methods=["patch", "delete"], url_path=r"levels/(?P<level_id>\d+)")
    def level(self, request, slug=None, level_id=None):
        policy = self.get_object()
        level = self._level(policy, level_id)
        if request.method == "DELETE":
            actions.delete_level(level, **_who(request))
        else:
            body = LevelSerializer(level, data=request.data, partial=True)
            body.is_valid(raise_exception=True)
            if "delay_minutes" not in body.validated_data:
                raise exceptions.ValidationError({"delay_minutes": ["This field is required."]})
            actions.update_level(level, delay_minutes=body.validated_data["delay_minutes"], **_who(request))
        return self._fresh(policy)

    @extend_schema(request=TargetWriteSerializer, responses={200: PolicySerializer, **errors(400, 403, 404, 409, 422)},
                   summary="Add a target (person, schedule or team channel) to a level")
    @action(detail=True, methods=["post"], url_path=r"levels/(?P<level_id>\d+)/targets")
    def targets(self, request, slug=None, level_id=None):
        policy = self.get_object()
        level = self._level(policy, level_id)
        body = TargetWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.add_target(level, **body.validated_data, **_who(request))
        return self._fresh(policy)

    @extend_schema(request=None, responses={200: PolicySerializer, **errors(403, 404)}, summary="Remove a target")
    @action(detail=True, methods=["delete"], url_path=r"targets/(?P<target_id>\d+)")
    def target(self, request, slug=None, target_id=None):
        policy = self.get_object()
        target = get_object_or_404(EscalationTarget.objects.select_related("level__policy"), pk=target_id,
                                   level__policy=policy)
        actions.remove_target(target, **_who(request))
        return self._fresh(policy)

    @extend_schema(request=VariantSerializer, responses={200: PolicySerializer, **errors(400, 403, 404, 422)},
                   methods=["PUT"], summary="Set how the policy treats one severity")
    @extend_schema(request=None, responses={200: PolicySerializer, **errors(403, 404)}, methods=["DELETE"],
                   summary="Back to the policy's defaults for this severity")
    @action(detail=True, methods=["put", "delete"], url_path=r"variants/(?P<severity>P[1-4])")
    def variant(self, request, slug=None, severity=None):
        policy = self.get_object()
        if request.method == "DELETE":
            variant = get_object_or_404(SeverityVariant, policy=policy, severity=severity)
            actions.delete_variant(variant, **_who(request))
        else:
            body = VariantSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            actions.set_variant(policy, severity, **body.validated_data, **_who(request))
        return self._fresh(policy)

    @extend_schema(parameters=[
        OpenApiParameter("severity", str, enum=Severity.values, description="Default P1."),
        OpenApiParameter("at", dt.datetime, description="Trigger time (ISO 8601); default now.")],
        responses={200: PreviewSerializer, **errors(400, 404)},
        summary="Who would be paged when, if an incident triggered now and nobody acknowledged")
    @action(detail=True, methods=["get"])
    def preview(self, request, slug=None):
        policy = self.get_object()
        severity = request.query_params.get("severity", "P1")
        if severity not in Severity.values:
            raise exceptions.ValidationError({"severity": [f"must be one of {', '.join(Severity.values)}"]})
        at = None
        if request.query_params.get("at"):
            at = UTCDateTimeField().run_validation(request.query_params["at"])
        return Response(PreviewSerializer(queries.preview(policy, severity, at)).data)


# --- service defaults -----------------------------------------------------------------------------

class ServicePolicySerializer(serializers.Serializer):
    service = serializers.CharField(source="slug", read_only=True)
    policy = serializers.SlugRelatedField(slug_field="slug", queryset=EscalationPolicy.objects.all(), allow_null=True,
                                          help_text="Policy slug; null removes the default.",
                                          error_messages={"does_not_exist": "no escalation policy {value!r}"})


@extend_schema(tags=["escalation"])
class ServicePolicyViewSet(viewsets.GenericViewSet):
    """Each service's default escalation policy (a routing rule's policy wins over it)."""

    permission_classes = [permissions.IsAuthenticated, MemberRead]
    serializer_class = ServicePolicySerializer
    lookup_field = "slug"
    lookup_url_kwarg = "service"

    def get_queryset(self):
        return Service.objects.order_by("name")

    def _data(self, service):
        assigned = ServicePolicy.objects.filter(service=service).select_related("policy").first()
        return {"service": service.slug, "policy": assigned.policy.slug if assigned else None}

    @extend_schema(responses={200: ServicePolicySerializer(many=True)})
    def list(self, request):
        return Response([self._data(s) for s in self.get_queryset()])

    @extend_schema(responses={200: ServicePolicySerializer, **errors(404)})
    def retrieve(self, request, service=None):
        return Response(self._data(self.get_object()))

    @extend_schema(request=ServicePolicySerializer, responses={200: ServicePolicySerializer,
                                                                **errors(400, 403, 404)})
    def update(self, request, service=None):
        service = self.get_object()
        body = ServicePolicySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.assign_policy(service, body.validated_data["policy"], **_who(request))
        return Response(self._data(service))


# --- team channels --------------------------------------------------------------------------------

class ChannelSerializer(ApiModelSerializer):
    team = team_slug_field()
    address = serializers.CharField(max_length=500, help_text="Webhook URL or e-mail address; shown to the "
                                                              "team's admins only.")
    secret = serializers.CharField(read_only=True, help_text="Webhook signing secret; team admins only.")

    class Meta:
        model = TeamChannel
        fields = ["id", "team", "name", "kind", "address", "secret", "active", "created_at"]
        read_only_fields = ["created_at"]
        validators = []

    def to_representation(self, channel):
        data = super().to_representation(channel)
        request = self.context.get("request")
        if request is None or not queries.may_see_channel_address(request.user, channel):
            data["address"] = data["secret"] = None
        return data


@extend_schema(tags=["escalation"])
class ChannelViewSet(viewsets.ModelViewSet):
    """Team channels (Slack/Teams webhooks, e-mail groups, signed webhooks) that
    escalation levels can page. Members of the team read; its admins write."""

    serializer_class = ChannelSerializer
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return queries.visible_channels(self.request.user)

    @extend_schema(responses={201: ChannelSerializer, **errors(400, 403, 409, 422)})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        channel = actions.create_channel(**body.validated_data, **_who(request))
        return Response(self.get_serializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ChannelSerializer, **errors(400, 403, 404, 409, 422)})
    def partial_update(self, request, *args, **kwargs):
        channel = self.get_object()
        body = self.get_serializer(channel, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = {k: v for k, v in body.validated_data.items() if k in ("name", "address", "active")}
        channel = actions.update_channel(channel, **changes, **_who(request))
        return Response(self.get_serializer(channel).data)

    @extend_schema(responses={204: None, **errors(403, 404, 409)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_channel(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- my contact methods and notification rules -----------------------------------------------------

class ContactMethodSerializer(ApiModelSerializer):
    secret = serializers.CharField(read_only=True, help_text="Webhook signing secret (whsec_…), for kind webhook.")

    class Meta:
        model = ContactMethod
        fields = ["id", "kind", "address", "label", "secret", "created_at"]
        read_only_fields = ["created_at"]
        validators = []


@extend_schema(tags=["notification rules"])
class ContactMethodViewSet(viewsets.ModelViewSet):
    """The caller's own contact methods (e-mail, SMS, voice, Slack, Teams, webhook)."""

    serializer_class = ContactMethodSerializer
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ContactMethod.objects.none()
        return ContactMethod.objects.filter(user=self.request.user).order_by("kind", "id")

    @extend_schema(responses={201: ContactMethodSerializer, **errors(400, 409, 422)})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        method = actions.add_contact_method(request.user, **body.validated_data, **_who(request))
        return Response(self.get_serializer(method).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **errors(404)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_contact_method(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationRuleSerializer(ApiModelSerializer):
    contact_method = serializers.PrimaryKeyRelatedField(queryset=ContactMethod.objects.all(),
                                                        help_text="Id of one of your contact methods.")
    delay_minutes = serializers.IntegerField(min_value=0, max_value=1440, default=0)
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.HIGH)

    class Meta:
        model = NotificationRule
        fields = ["id", "contact_method", "urgency", "delay_minutes"]
        validators = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            self.fields["contact_method"].queryset = ContactMethod.objects.filter(user=request.user)


@extend_schema(tags=["notification rules"])
class NotificationRuleViewSet(viewsets.ModelViewSet):
    """The caller's notification rules: which method, how many minutes after being paged,
    in the high- or low-urgency list."""

    serializer_class = NotificationRuleSerializer
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return NotificationRule.objects.none()
        return NotificationRule.objects.filter(user=self.request.user).order_by("urgency", "delay_minutes", "id")

    @extend_schema(responses={201: NotificationRuleSerializer, **errors(400, 409, 422)})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = actions.add_notification_rule(request.user, **body.validated_data, **_who(request))
        return Response(self.get_serializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **errors(404)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_notification_rule(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- an incident's escalation -----------------------------------------------------------------------

class PageSerializer(ApiModelSerializer):
    recipient = serializers.SlugRelatedField(slug_field="username", read_only=True)
    channel = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Page
        fields = ["id", "purpose", "level", "repeat", "step", "recipient", "channel", "kind", "via", "urgency",
                  "state", "due_at", "attempts", "sent_at", "last_error", "created_at"]


class EscalationSerializer(ApiModelSerializer):
    policy = serializers.SerializerMethodField()
    levels = serializers.SerializerMethodField()
    pages = serializers.SerializerMethodField()

    class Meta:
        model = Escalation
        fields = ["id", "state", "policy", "chosen_by", "severity", "urgency", "mode", "next_level", "repeat",
                  "next_escalation_at", "started_at", "stopped_at", "stop_reason", "levels", "pages"]

    def get_policy(self, escalation) -> dict:
        return escalation.snapshot.get("policy", {})

    def get_levels(self, escalation) -> list[dict]:
        """The snapshot the escalation runs from."""
        return escalation.levels

    def get_pages(self, escalation) -> list[dict]:
        return PageSerializer(escalation.pages.select_related("recipient", "channel").order_by("id"), many=True).data


@extend_schema(tags=["escalation"], responses={200: EscalationSerializer, **errors(404)},
               summary="The incident's escalation: state, snapshot, next level, every page and its outcome")
@api_view(["GET"])
def incident_escalation(request, pk: int):
    incident = incident_queries.get_incident_for_user(request.user, pk)
    escalation = queries.escalation_of(incident)
    if escalation is None:
        raise NotFound(f"{incident.reference} has no escalation")
    return Response(EscalationSerializer(escalation).data)


# --- ownership matrix --------------------------------------------------------------------------------

class OwnershipSerializer(serializers.Serializer):
    service = serializers.CharField(source="service.slug")
    team = serializers.CharField(source="service.owner_team.slug")
    policy = serializers.CharField(source="policy.slug", allow_null=True, default=None)
    primary = serializers.ListField(child=serializers.CharField())
    secondary = serializers.ListField(child=serializers.CharField())
    complete = serializers.BooleanField()
    problem = serializers.CharField()


@extend_schema(tags=["escalation"], responses={200: OwnershipSerializer(many=True), **errors(403)},
               summary="Each service's primary and secondary responders; flags services without both")
@api_view(["GET"])
@permission_classes([permissions.IsAuthenticated, MemberRead])
def ownership(request):
    return Response(OwnershipSerializer(queries.ownership(request.user), many=True).data)


# --- the signed-link door ---------------------------------------------------------------------------

class PageLinkSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2000, help_text="The token from an acknowledge/resolve link.")


class PageLinkView(APIView):
    """Acknowledge or resolve with the token of a notification's link: no sign-in, the
    signed token is the authority (one incident, one action, expiring)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(tags=["escalation"], request=PageLinkSerializer, auth=[],
                   responses={200: inline_serializer("PageLinkResult", {
                       "detail": serializers.CharField(), "incident": serializers.IntegerField(),
                       "reference": serializers.CharField(), "status": serializers.CharField()}),
                       **errors(400, 404, 409, 422)},
                   summary="Acknowledge or resolve with a notification link's token")
    def post(self, request):
        body = PageLinkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        claim = links.read_token(body.validated_data["token"])
        detail = actions.act_on_link(claim, ip_address=client_ip(request))
        incident = actions.incident_for_link(claim)
        return Response({"detail": detail, "incident": incident.pk, "reference": incident.reference,
                         "status": incident.status})


__all__ = ["ChannelViewSet", "ContactMethodViewSet", "NotificationRuleViewSet", "PageLinkView", "PolicyViewSet",
           "ServicePolicyViewSet", "incident_escalation", "ownership"]
