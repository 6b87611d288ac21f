"""REST API for the configuration in alertum.core: services, teams and memberships,
maintenance windows, and the caller's own API tokens. Also the few DRF helpers every
API module shares (pagination, UTC times, user references, error schema).

Views stay thin: they shape input with a serializer, check who is asking where the
core action does not (configuration writes), and call `alertum.core.actions`, which
saves and audits. Nothing here writes a row itself.
"""

import datetime as dt
import re

from django.db import models
from django.db.models import Prefetch
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from alertum.core import actions, audit
from alertum.core.api_auth import TokenScopePermission
from alertum.core.errors import Conflict, Forbidden
from alertum.core.models import ApiToken, Door, MaintenanceWindow, Membership, Role, Service, Team, User
from alertum.core.permissions import has_team_role, is_admin

# --- shared helpers ----------------------------------------------------------------------


class UTCDateTimeField(serializers.DateTimeField):
    """The API always speaks UTC (ISO 8601, `Z`), whatever the caller's page time zone;
    naive input is read as UTC."""

    def default_timezone(self):
        return dt.UTC


class ApiModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.DateTimeField: UTCDateTimeField}


class ApiPagination(PageNumberPagination):
    """`?page=` and `?page_size=` (1–200). A page size that is not a number in range is a
    400, not silently the default."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = whole_number(raw)
        if size is None or not 1 <= size <= self.max_page_size:
            raise exceptions.ValidationError(
                {"page_size": [f"must be a whole number from 1 to {self.max_page_size}; got {raw!r}"]})
        return size


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"
    default_code = "too_large"


def whole_number(raw) -> int | None:
    """An ASCII whole number of sane length, else None (str.isdigit also accepts "²")."""
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,18}", raw):
        return int(raw)
    return None


def client_ip(request) -> str | None:
    """The address the audit trail records (the proxy sets REMOTE_ADDR in production)."""
    return request.META.get("REMOTE_ADDR") or None


def boolean_param(request, name: str) -> bool:
    raw = request.query_params.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise exceptions.ValidationError({name: [f"must be 1 or 0; got {raw!r}"]})


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describe personal tokens in the OpenAPI schema (`Authorization: Bearer alt_…`)."""

    target_class = "alertum.core.api_auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A personal API token (`alt_…`) from POST /api/v1/tokens/ or the admin."}


# The body of every 4xx that is not a serializer's field errors.
ErrorSerializer = inline_serializer("Error", fields={
    "detail": serializers.CharField(),
    "field": serializers.CharField(required=False, help_text="The input field at fault, when there is one."),
})


# A 400 names each field at fault (or `non_field_errors`, or `detail` for a malformed body).
FIELD_ERRORS_SCHEMA = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                       "example": {"severity_reason": ["a reason is required to change the severity"]}}


def errors(*codes: int) -> dict:
    """Response schema entries for the error codes an endpoint can answer."""
    text = {400: "invalid input: {field: [messages]}", 401: "not signed in", 403: "not allowed",
            404: "not found (or not visible to you)", 409: "conflicts with the current state",
            413: "upload too large", 422: "breaks a domain rule"}
    responses = {code: OpenApiResponse(ErrorSerializer, description=text[code]) for code in codes}
    if 400 in responses:
        responses[400] = OpenApiResponse(FIELD_ERRORS_SCHEMA, description=text[400])
    return responses


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}],
                      "description": "A username or a user id."})
class UserField(serializers.Field):
    """A user given by username or id; shown as the username."""

    default_error_messages = {"unknown": "no user {value!r}"}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str) or data == "":
            self.fail("unknown", value=data)
        user = None
        pk = data if isinstance(data, int) else whole_number(data)
        if pk is not None and 0 < pk < 2**63:
            user = User.objects.filter(pk=pk, is_active=True).first()
        if user is None and isinstance(data, str):
            user = User.objects.filter(username=data, is_active=True).first()
        if user is None:
            self.fail("unknown", value=data)
        return user

    def to_representation(self, value):
        return value.get_username()


def team_slug_field(**kwargs):
    return serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), help_text="Team slug.",
                                        error_messages={"does_not_exist": "no team with slug {value!r}"}, **kwargs)


def service_slugs_field(**kwargs):
    kwargs.setdefault("help_text", "Service slugs.")
    return serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), many=True,
                                        error_messages={"does_not_exist": "no service with slug {value!r}"}, **kwargs)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField(source="__str__")


# --- teams and memberships ------------------------------------------------------------------


class MemberSerializer(ApiModelSerializer):
    username = serializers.CharField(source="user.username")
    name = serializers.CharField(source="user.__str__")

    class Meta:
        model = Membership
        fields = ["username", "name", "role"]


class TeamSerializer(ApiModelSerializer):
    members = MemberSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "description", "members"]


class MembershipWriteSerializer(serializers.Serializer):
    user = UserField()
    role = serializers.ChoiceField(choices=Role.choices)


class GlobalAdminWrites(permissions.BasePermission):
    message = "only a global admin may change teams and memberships"

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or is_admin(request.user)


@extend_schema(tags=["teams"])
class TeamViewSet(viewsets.ModelViewSet):
    """Teams with their members and roles. Any signed-in user reads; global admins write."""

    serializer_class = TeamSerializer
    pagination_class = ApiPagination
    permission_classes = [TokenScopePermission, GlobalAdminWrites]
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        members = Membership.objects.select_related("user").order_by("user__username")
        return Team.objects.prefetch_related(Prefetch("memberships", queryset=members)).order_by("name")

    def perform_create(self, serializer):
        team = Team(**serializer.validated_data)
        serializer.instance = actions.save_config(team, actor=self.request.user, source=Door.API,
                                                  ip_address=client_ip(self.request))

    def perform_update(self, serializer):
        team = serializer.instance
        before = audit.snapshot(team, TEAM_FIELDS)
        for name, value in serializer.validated_data.items():
            setattr(team, name, value)
        actions.save_config(team, actor=self.request.user, source=Door.API, ip_address=client_ip(self.request),
                            before=before, fields=TEAM_FIELDS)

    @extend_schema(responses={204: None, **errors(403, 404, 409)})
    def destroy(self, request, *args, **kwargs):
        team = self.get_object()
        try:
            actions.delete_config(team, actor=request.user, source=Door.API, ip_address=client_ip(request))
        except (models.ProtectedError, models.RestrictedError) as exc:
            raise Conflict(f"{team} still has {_still_used(exc)}; move or delete those first") from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=MembershipWriteSerializer, responses={200: TeamSerializer, **errors(400, 403, 404)},
                   summary="Add a member or change their role")
    @action(detail=True, methods=["post"])
    def members(self, request, slug=None):
        team = self.get_object()
        body = MembershipWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user, role = body.validated_data["user"], body.validated_data["role"]
        membership = Membership.objects.filter(team=team, user=user).first()
        before = audit.snapshot(membership, MEMBERSHIP_FIELDS) if membership else None
        membership = membership or Membership(team=team, user=user)
        membership.role = role
        actions.save_config(membership, actor=request.user, source=Door.API, ip_address=client_ip(request),
                            before=before, fields=MEMBERSHIP_FIELDS)
        return Response(TeamSerializer(self.get_object()).data)

    @extend_schema(request=None, responses={204: None, **errors(403, 404)}, summary="Remove a member",
                   parameters=[OpenApiParameter("username", str, OpenApiParameter.PATH)])
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<username>[\w.@+-]+)")
    def remove_member(self, request, slug=None, username=None):
        team = self.get_object()
        membership = Membership.objects.filter(team=team, user__username=username).first()
        if membership is None:
            raise exceptions.NotFound(f"{username} is not a member of {team}")
        actions.delete_config(membership, actor=request.user, source=Door.API, ip_address=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


TEAM_FIELDS = ["name", "slug", "description"]
MEMBERSHIP_FIELDS = ["team", "user", "role"]


def _still_used(exc) -> str:
    objs = list(getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", None) or [])
    names = sorted({str(o._meta.verbose_name_plural) for o in objs})
    return ", ".join(names) or "other records"


# --- services --------------------------------------------------------------------------------


class ServiceSerializer(ApiModelSerializer):
    owner_team = team_slug_field()
    depends_on = service_slugs_field(required=False, help_text="Slugs of the services this one depends on.")
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=50)

    class Meta:
        model = Service
        fields = ["id", "name", "slug", "description", "owner_team", "tier", "runbook_url", "tags", "depends_on"]

    def validate_depends_on(self, value):
        if self.instance is not None and any(s.pk == self.instance.pk for s in value):
            raise serializers.ValidationError("a service cannot depend on itself")
        return value


SERVICE_FIELDS = ["name", "slug", "description", "owner_team", "tier", "runbook_url", "tags"]


class OwnerTeamAdminWrites(permissions.BasePermission):
    """Changing or deleting a service needs the admin role in its owning team (creating
    one is checked against the team named in the body, once it is parsed)."""

    message = "you need the admin role in the service's owning team to change it"

    def has_object_permission(self, request, view, obj):
        return request.method in permissions.SAFE_METHODS or has_team_role(request.user, obj.owner_team_id, Role.ADMIN)


@extend_schema(tags=["services"])
class ServiceViewSet(viewsets.ModelViewSet):
    """The service catalog. Any signed-in user reads; admins of the owning team (or global
    admins) create, change and delete; every change is audited."""

    serializer_class = ServiceSerializer
    pagination_class = ApiPagination
    permission_classes = [TokenScopePermission, OwnerTeamAdminWrites]
    lookup_field = "slug"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return Service.objects.select_related("owner_team").prefetch_related(
            Prefetch("depends_on", queryset=Service.objects.only("id", "slug"))).order_by("name")

    def _require_team_admin(self, team):
        if not has_team_role(self.request.user, team.pk, Role.ADMIN):
            raise Forbidden(f"you need the admin role in {team} to give it services", field="owner_team")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        self._require_team_admin(data["owner_team"])
        depends_on = data.pop("depends_on", [])
        service = Service(**data)
        serializer.instance = actions.save_config(service, actor=self.request.user, source=Door.API,
                                                  ip_address=client_ip(self.request), fields=SERVICE_FIELDS,
                                                  m2m={"depends_on": depends_on})

    def perform_update(self, serializer):
        service = serializer.instance
        data = dict(serializer.validated_data)
        if "owner_team" in data:
            self._require_team_admin(data["owner_team"])
        m2m = {"depends_on": data.pop("depends_on")} if "depends_on" in data else None
        before = audit.snapshot(service, SERVICE_FIELDS)
        for name, value in data.items():
            setattr(service, name, value)
        actions.save_config(service, actor=self.request.user, source=Door.API, ip_address=client_ip(self.request),
                            before=before, fields=SERVICE_FIELDS, m2m=m2m)

    @extend_schema(responses={204: None, **errors(403, 404, 409)})
    def destroy(self, request, *args, **kwargs):
        service = self.get_object()
        try:
            actions.delete_config(service, actor=request.user, source=Door.API, ip_address=client_ip(request))
        except (models.ProtectedError, models.RestrictedError) as exc:
            raise Conflict(f"{service} is still used by {_still_used(exc)}") from None
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- maintenance windows ---------------------------------------------------------------------


class MaintenanceWindowSerializer(ApiModelSerializer):
    services = service_slugs_field(help_text="Slugs of the affected services.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = MaintenanceWindow
        fields = ["id", "title", "description", "services", "starts_at", "ends_at", "state", "created_by",
                  "created_at", "started_at", "completed_at"]
        read_only_fields = ["state", "created_by", "created_at", "started_at", "completed_at"]


class MaintenanceStateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=MaintenanceWindow.State.choices)


@extend_schema(tags=["maintenance"])
class MaintenanceWindowViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                               viewsets.GenericViewSet):
    """Maintenance windows. Any signed-in user reads; responders in every affected
    service's team (or global admins) schedule them and move them along."""

    serializer_class = MaintenanceWindowSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        qs = MaintenanceWindow.objects.select_related("created_by").prefetch_related(
            Prefetch("services", queryset=Service.objects.only("id", "slug")))
        if self.action == "list":
            wanted = [s for s in self.request.query_params.get("state", "").split(",") if s]
            unknown = sorted(set(wanted) - set(MaintenanceWindow.State.values))
            if unknown:
                raise exceptions.ValidationError({"state": [
                    f"unknown state {', '.join(unknown)}; use {', '.join(MaintenanceWindow.State.values)}"]})
            if wanted:
                qs = qs.filter(state__in=wanted)
        return qs.order_by("-starts_at", "-id")

    @extend_schema(parameters=[OpenApiParameter(
        "state", str, description="Comma-separated states: " + ", ".join(MaintenanceWindow.State.values))])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={201: MaintenanceWindowSerializer, **errors(400, 403, 422)})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        window = actions.schedule_maintenance(**body.validated_data, actor=request.user, source=Door.API,
                                              ip_address=client_ip(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=window.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=MaintenanceStateSerializer,
                   responses={200: MaintenanceWindowSerializer, **errors(400, 403, 404, 409)},
                   summary="Move a window to another state (in_progress, verifying, completed, cancelled)")
    @action(detail=True, methods=["post"], url_path="state")
    def state(self, request, pk=None):
        window = self.get_object()
        body = MaintenanceStateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.set_maintenance_state(window, body.validated_data["state"], actor=request.user, source=Door.API,
                                      ip_address=client_ip(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=window.pk)).data)


# --- API tokens ----------------------------------------------------------------------------


class ApiTokenSerializer(ApiModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "scope", "prefix", "created_at", "last_used_at", "revoked_at", "active"]
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]


class NewApiTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The raw token. Shown this once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


@extend_schema(tags=["tokens"])
class ApiTokenViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin,
                      viewsets.GenericViewSet):
    """The caller's own API tokens. The raw token is in the create response only; the
    database keeps its SHA-256."""

    serializer_class = ApiTokenSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user).order_by("-created_at", "-id")

    @extend_schema(request=ApiTokenSerializer, responses={201: NewApiTokenSerializer, **errors(400, 403, 409)})
    def create(self, request, *args, **kwargs):
        body = ApiTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, raw = actions.create_api_token(request.user, name=body.validated_data["name"],
                                              scope=body.validated_data.get("scope", ApiToken.Scope.READ),
                                              actor=request.user, source=Door.API, ip_address=client_ip(request))
        token.token = raw
        return Response(NewApiTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **errors(403, 404)}, summary="Revoke a token")
    def destroy(self, request, *args, **kwargs):
        token = self.get_object()
        actions.revoke_api_token(token, actor=request.user, source=Door.API, ip_address=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


