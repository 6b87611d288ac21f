"""REST API for heartbeats: CRUD, the ping log, pause / resume, and ping keys.
Serializers shape input and output; `queries` decides what the caller sees; `actions`
writes and checks who may (DomainError -> 403/404/409/422 through the shared handler)."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alertum.core.api import ApiModelSerializer, ApiPagination, client_ip, errors
from alertum.core.api_auth import TokenScopePermission
from alertum.core.errors import NotFound
from alertum.core.models import TIME_ZONE_NAMES, Door, Service, Team
from monitoring.heartbeats import actions, queries
from monitoring.heartbeats.models import SLUG_PATTERN, Heartbeat, Ping, PingKey

WRITE_ERRORS = errors(400, 403, 404, 409, 422)


def _who(request) -> dict:
    return {"actor": request.user, "source": Door.API, "ip_address": client_ip(request)}


class HeartbeatSerializer(ApiModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), source="monitor.service",
                                           help_text="Service slug.",
                                           error_messages={"does_not_exist": "no service with slug {value!r}"})
    name = serializers.CharField(source="monitor.name", max_length=200)
    monitor = serializers.IntegerField(source="monitor_id", read_only=True)
    slug = serializers.RegexField(SLUG_PATTERN, required=False, allow_blank=True, max_length=100,
                                  error_messages={"invalid": "use only lowercase letters, digits, '-' and '_'"})
    time_zone = serializers.ChoiceField(choices=TIME_ZONE_NAMES, required=False)
    state = serializers.SerializerMethodField(help_text="new, up, late, down, paused or started.")
    started = serializers.SerializerMethodField()
    next_ping = serializers.SerializerMethodField(help_text="When the next ping is expected (late after).")
    down_at = serializers.SerializerMethodField(help_text="When it goes down without a ping.")
    uuid = serializers.SerializerMethodField(help_text="Owning team only.")
    ping_url = serializers.SerializerMethodField(help_text="Owning team only.")

    class Meta:
        model = Heartbeat
        fields = ["id", "monitor", "service", "name", "uuid", "ping_url", "slug", "schedule", "period_seconds",
                  "grace_seconds", "cron", "time_zone", "manual_resume", "body_limit", "state", "status", "started",
                  "last_ping_at", "next_ping", "down_at", "last_start_at", "last_duration", "n_pings", "created_at"]
        read_only_fields = ["status", "last_ping_at", "last_start_at", "last_duration", "n_pings", "created_at"]

    def _secrets(self, obj) -> bool:
        request = self.context.get("request")
        return request is not None and queries.may_see_secrets(request.user, obj)

    def get_state(self, obj) -> str:
        return obj.shown_state()

    def get_started(self, obj) -> bool:
        return obj.last_start_at is not None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_ping(self, obj):
        return _utc(obj.late_at())

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_down_at(self, obj):
        return _utc(obj.down_at())

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_uuid(self, obj):
        return str(obj.uuid) if self._secrets(obj) else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_ping_url(self, obj):
        if not self._secrets(obj):
            return None
        request = self.context["request"]
        return request.build_absolute_uri(obj.ping_path())


def _utc(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


class PingSerializer(ApiModelSerializer):
    class Meta:
        model = Ping
        fields = ["n", "kind", "exit_status", "received_at", "rid", "method", "scheme", "remote_addr", "user_agent",
                  "body", "body_size", "duration"]


class PingKeySerializer(ApiModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(),
                                        error_messages={"does_not_exist": "no team with slug {value!r}"})
    default_service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), required=False,
                                                   allow_null=True)

    class Meta:
        model = PingKey
        fields = ["id", "team", "name", "key_prefix", "default_service", "created_at"]
        read_only_fields = ["key_prefix", "created_at"]


class PingKeyCreatedSerializer(PingKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The key itself: shown only in this answer.")

    class Meta(PingKeySerializer.Meta):
        fields = [*PingKeySerializer.Meta.fields, "key"]


SETTINGS = actions.SETTINGS


@extend_schema(tags=["heartbeats"])
class HeartbeatViewSet(viewsets.ModelViewSet):
    """Heartbeats (monitors of kind heartbeat that jobs ping). Team members read; responders
    of the owning team write, pause and resume."""

    serializer_class = HeartbeatSerializer
    pagination_class = ApiPagination
    permission_classes = [TokenScopePermission]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        qs = queries.heartbeats_visible_to(self.request.user).order_by("id")
        service = self.request.query_params.get("service")
        return qs.filter(monitor__service__slug=service) if service else qs

    def get_object(self):
        return queries.get_heartbeat_for_user(self.request.user, self.kwargs["pk"])

    @extend_schema(responses={201: HeartbeatSerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        monitor = data.pop("monitor")
        heartbeat = actions.create_heartbeat(service=monitor["service"], name=monitor["name"],
                                             **{k: v for k, v in data.items() if k in SETTINGS}, **_who(request))
        return Response(self.get_serializer(heartbeat).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: HeartbeatSerializer, **WRITE_ERRORS})
    def partial_update(self, request, *args, **kwargs):
        heartbeat = self.get_object()
        body = self.get_serializer(heartbeat, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        monitor = data.pop("monitor", {})
        heartbeat = actions.update_heartbeat(heartbeat, name=monitor.get("name"), service=monitor.get("service"),
                                             **{k: v for k, v in data.items() if k in SETTINGS}, **_who(request))
        return Response(self.get_serializer(heartbeat).data)

    def update(self, request, *args, **kwargs):  # PUT is not offered (http_method_names)
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(responses={204: None, **errors(403, 404)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_heartbeat(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: HeartbeatSerializer, **errors(403, 404)})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        heartbeat = actions.pause_heartbeat(self.get_object(), **_who(request))
        return Response(self.get_serializer(heartbeat).data)

    @extend_schema(request=None, responses={200: HeartbeatSerializer, **errors(403, 404)})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        heartbeat = actions.resume_heartbeat(self.get_object(), **_who(request))
        return Response(self.get_serializer(heartbeat).data)

    @extend_schema(responses={200: PingSerializer(many=True), **errors(403, 404)},
                   summary="The ping log, newest first (owning team only)")
    @action(detail=True, methods=["get"])
    def pings(self, request, pk=None):
        heartbeat = self.get_object()
        if not queries.may_see_secrets(request.user, heartbeat):
            raise NotFound("the ping log is shown to the owning team only")
        qs = Ping.objects.filter(heartbeat=heartbeat).order_by("-n")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PingSerializer(page, many=True).data)


@extend_schema(tags=["heartbeats"])
class PingKeyViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin,
                     viewsets.GenericViewSet):
    """Ping keys for the slug URLs. The key is returned once, on creation. Commanders and
    admins of the team make and delete them; members read the list (prefixes only)."""

    serializer_class = PingKeySerializer
    pagination_class = ApiPagination
    permission_classes = [TokenScopePermission]

    def get_queryset(self):
        return queries.ping_keys_visible_to(self.request.user).order_by("id")

    @extend_schema(request=PingKeySerializer, responses={201: PingKeyCreatedSerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        body = PingKeySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key, raw = actions.create_ping_key(data["team"], name=data.get("name", ""),
                                           default_service=data.get("default_service"), **_who(request))
        key.key = raw
        return Response(PingKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **errors(403, 404)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_ping_key(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
