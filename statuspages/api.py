"""REST API for status pages (/api/v1/status-pages/…) and stakeholder audiences.

Pages are addressed by slug; their components, public incidents, maintenance and
subscribers by their public 12-character code. Reads need a role in the page's team;
every write goes through `statuspages.actions`, which checks who may and audits.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alertum.core.api import ApiPagination, UTCDateTimeField, client_ip, errors
from alertum.core.errors import Forbidden
from alertum.core.models import Door, MaintenanceWindow, Service, Team
from alertum.core.permissions import has_team_role, is_admin, teams_with_role
from incidents.queries import get_incident_for_user
from monitoring.models import Monitor
from statuspages import actions, queries
from statuspages.models import (
    Component,
    ComponentStatus,
    IncidentStatus,
    MaintenanceStatus,
    Notice,
    PublicIncident,
    PublicMaintenance,
    PublicUpdate,
    StakeholderAudience,
    StatusPage,
    Subscriber,
)


def _who(request) -> dict:
    return {"actor": request.user, "source": Door.API, "ip_address": client_ip(request)}


# --- pages -----------------------------------------------------------------------------------

class PageSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    password = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                     help_text="Sets the shared password (stored hashed) of a password page.")
    public_url = serializers.SerializerMethodField()
    created_at = UTCDateTimeField(read_only=True)
    updated_at = UTCDateTimeField(read_only=True)

    class Meta:
        model = StatusPage
        fields = ["id", "slug", "name", "team", "custom_domain", "description", "time_zone", "access", "password",
                  "allowed_ips", "support_url", "public_url", "created_at", "updated_at"]

    def get_public_url(self, page) -> str:
        return actions.public_url(page)


@extend_schema(tags=["status pages"])
class PageViewSet(viewsets.ModelViewSet):
    """Status pages. Team members read; team admins create, edit and delete."""

    serializer_class = PageSerializer
    pagination_class = ApiPagination
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return queries.visible_pages(self.request.user).order_by("name")

    @extend_schema(responses={201: PageSerializer, **errors(400, 403, 409, 422)})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        team = data.pop("team")
        page = actions.create_page(team=team, **data, **_who(request))
        return Response(self.get_serializer(page).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: PageSerializer, **errors(400, 403, 404, 409, 422)})
    def partial_update(self, request, *args, **kwargs):
        page = self.get_object()
        body = self.get_serializer(page, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        page = actions.update_page(page, **body.validated_data, **_who(request))
        return Response(self.get_serializer(page).data)

    @extend_schema(responses={204: None, **errors(403, 404)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_page(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _page(request, slug) -> StatusPage:
    return queries.get_page_for_user(request.user, slug)


# --- components ------------------------------------------------------------------------------

class ComponentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", read_only=True)
    group = serializers.CharField(source="group.code", allow_null=True, required=False,
                                  help_text="The id of the group it sits in; null at the top.")
    services = serializers.SlugRelatedField(slug_field="slug", many=True, required=False,
                                            queryset=Service.objects.all())
    monitors = serializers.PrimaryKeyRelatedField(many=True, required=False, queryset=Monitor.objects.all())
    created_at = UTCDateTimeField(read_only=True)
    updated_at = UTCDateTimeField(read_only=True)

    class Meta:
        model = Component
        fields = ["id", "name", "description", "group", "is_group", "position", "status", "reported_status",
                  "automatic", "showcase", "only_show_if_degraded", "start_date", "services", "monitors",
                  "created_at", "updated_at"]
        read_only_fields = ["status", "reported_status"]


class ComponentStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ComponentStatus.choices)


@extend_schema(tags=["status pages"])
class ComponentViewSet(viewsets.GenericViewSet):
    """A page's components and groups (two levels). Team admins edit; responders set
    the status by hand."""

    serializer_class = ComponentSerializer
    lookup_field = "code"

    def get_queryset(self):
        return Component.objects.filter(page=_page(self.request, self.kwargs["page_slug"])).select_related(
            "group").prefetch_related("services", "monitors").order_by("position", "id")

    def _fields(self, data, page):
        data = dict(data)
        links = {"services": data.pop("services", None), "monitors": data.pop("monitors", None)}
        if "group" in data:
            code = (data.pop("group") or {}).get("code")
            group = Component.objects.filter(page=page, code=code, is_group=True).first() if code else None
            if code and group is None:
                raise exceptions.ValidationError({"group": [f"no component group {code!r} on this page"]})
            data["group"] = group
        return data, links

    @extend_schema(responses={200: ComponentSerializer(many=True)})
    def list(self, request, page_slug=None):
        return Response(self.get_serializer(self.get_queryset(), many=True).data)

    @extend_schema(responses={200: ComponentSerializer, **errors(404)})
    def retrieve(self, request, page_slug=None, code=None):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(responses={201: ComponentSerializer, **errors(400, 403, 404, 409, 422)})
    def create(self, request, page_slug=None):
        page = _page(request, page_slug)
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields, links = self._fields(body.validated_data, page)
        component = actions.save_component(page, **fields, **links, **_who(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=component.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ComponentSerializer, **errors(400, 403, 404, 409, 422)})
    def partial_update(self, request, page_slug=None, code=None):
        component = self.get_object()
        body = self.get_serializer(component, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        fields, links = self._fields(body.validated_data, component.page)
        actions.save_component(component.page, component, **fields, **links, **_who(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=component.pk)).data)

    @extend_schema(responses={204: None, **errors(403, 404, 409)})
    def destroy(self, request, page_slug=None, code=None):
        actions.delete_component(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ComponentStatusSerializer,
                   responses={200: ComponentSerializer, **errors(400, 403, 404, 422)},
                   summary="Set a component's status by hand")
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, page_slug=None, code=None):
        component = self.get_object()
        body = ComponentStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.set_component_status(component, body.validated_data["status"], **_who(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=component.pk)).data)


# --- public incidents ------------------------------------------------------------------------

class PublicUpdateSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", read_only=True)
    created_at = UTCDateTimeField(read_only=True)
    display_at = UTCDateTimeField(read_only=True)

    class Meta:
        model = PublicUpdate
        fields = ["id", "status", "body", "affected_components", "deliver_notifications", "created_at",
                  "display_at"]


class PublicIncidentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", read_only=True)
    incident = serializers.IntegerField(source="incident_id", read_only=True, allow_null=True,
                                        help_text="The internal incident's id.")
    components = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    updates = serializers.SerializerMethodField()
    created_at = UTCDateTimeField(read_only=True)
    updated_at = UTCDateTimeField(read_only=True)
    resolved_at = UTCDateTimeField(read_only=True)

    class Meta:
        model = PublicIncident
        fields = ["id", "name", "status", "impact", "impact_override", "incident", "components", "postmortem_body",
                  "created_at", "updated_at", "resolved_at", "updates"]

    def get_updates(self, obj) -> list[dict]:
        return PublicUpdateSerializer(sorted(obj.updates.all(), key=lambda u: (u.display_at, u.pk), reverse=True),
                                many=True).data


ComponentStatuses = serializers.DictField(
    child=serializers.ChoiceField(choices=ComponentStatus.choices), required=False, allow_null=True,
    help_text='{"<component id>": "<new status>"} for the affected components.')


class PublicIncidentCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    status = serializers.ChoiceField(choices=IncidentStatus.choices[:3], default="investigating")
    body = serializers.CharField(max_length=actions.MAX_BODY)
    components = serializers.DictField(child=serializers.ChoiceField(choices=ComponentStatus.choices),
                                       required=False, help_text='{"<component id>": "<new status>"}')
    incident = serializers.IntegerField(required=False, help_text="The internal incident's id to link.")
    impact_override = serializers.ChoiceField(choices=["", "none", "minor", "major", "critical"], required=False,
                                              default="")
    deliver_notifications = serializers.BooleanField(default=True)


class PublicIncidentUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=IncidentStatus.choices)
    body = serializers.CharField(max_length=actions.MAX_BODY)
    components = serializers.DictField(child=serializers.ChoiceField(choices=ComponentStatus.choices),
                                       required=False, help_text='{"<component id>": "<new status>"}')
    deliver_notifications = serializers.BooleanField(default=True)


class PublicIncidentPatchSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    impact_override = serializers.ChoiceField(choices=["", "none", "minor", "major", "critical"], required=False)
    incident = serializers.IntegerField(required=False, allow_null=True)


def _internal(request, pk):
    if pk is None:
        return None
    return get_incident_for_user(request.user, pk)


@extend_schema(tags=["status pages"])
class PublicIncidentViewSet(viewsets.GenericViewSet):
    """Incidents told to customers, each with its public updates."""

    serializer_class = PublicIncidentSerializer
    lookup_field = "code"
    pagination_class = ApiPagination

    def get_queryset(self):
        return PublicIncident.objects.filter(page=_page(self.request, self.kwargs["page_slug"])).prefetch_related(
            "updates", "components").order_by("-created_at", "-id")

    @extend_schema(parameters=[OpenApiParameter("status", str, description="unresolved, or one status")],
                   responses={200: PublicIncidentSerializer(many=True)})
    def list(self, request, page_slug=None):
        qs = self.get_queryset()
        wanted = request.query_params.get("status")
        if wanted == "unresolved":
            qs = qs.filter(status__in=["investigating", "identified", "monitoring"])
        elif wanted:
            if wanted not in IncidentStatus.values:
                raise exceptions.ValidationError({"status": [f"unknown status {wanted!r}"]})
            qs = qs.filter(status=wanted)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses={200: PublicIncidentSerializer, **errors(404)})
    def retrieve(self, request, page_slug=None, code=None):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=PublicIncidentCreateSerializer,
                   responses={201: PublicIncidentSerializer, **errors(400, 403, 404, 422)})
    def create(self, request, page_slug=None):
        page = _page(request, page_slug)
        body = PublicIncidentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        public = actions.create_public_incident(
            page, name=data["name"], status=data["status"], body=data["body"],
            component_statuses=data.get("components"), incident=_internal(request, data.get("incident")),
            impact_override=data["impact_override"], deliver_notifications=data["deliver_notifications"],
            **_who(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=public.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=PublicIncidentPatchSerializer,
                   responses={200: PublicIncidentSerializer, **errors(400, 403, 404, 422)})
    def partial_update(self, request, page_slug=None, code=None):
        public = self.get_object()
        body = PublicIncidentPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        unlink = "incident" in data and data["incident"] is None
        actions.edit_public_incident(public, name=data.get("name"), impact_override=data.get("impact_override"),
                                     incident=_internal(request, data.get("incident")), unlink=unlink,
                                     **_who(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=public.pk)).data)

    @extend_schema(request=PublicIncidentUpdateSerializer,
                   responses={201: PublicUpdateSerializer, **errors(400, 403, 404, 409, 422)},
                   summary="Post a public update (investigating → identified → monitoring → resolved → postmortem)")
    @action(detail=True, methods=["post"], url_path="updates")
    def post_update(self, request, page_slug=None, code=None):
        public = self.get_object()
        body = PublicIncidentUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        update = actions.post_incident_update(public, status=data["status"], body=data["body"],
                                              component_statuses=data.get("components"),
                                              deliver_notifications=data["deliver_notifications"], **_who(request))
        return Response(PublicUpdateSerializer(update).data, status=status.HTTP_201_CREATED)


PreviewSerializer = inline_serializer("PublicUpdatePreview", fields={
    "status": serializers.CharField(), "body": serializers.CharField(),
    "templates": serializers.ListField(child=serializers.DictField())})


@extend_schema(tags=["status pages"], request=inline_serializer("PreviewRequest", fields={
    "status": serializers.ChoiceField(choices=IncidentStatus.choices + MaintenanceStatus.choices),
    "body": serializers.CharField(required=False, allow_blank=True),
    "components": serializers.ListField(child=serializers.CharField(), required=False)}),
    responses={200: PreviewSerializer, **errors(400, 404)},
    summary="Preview an update's text (templates filled in) before publishing; changes nothing")
class PreviewView(viewsets.ViewSet):
    def create(self, request, page_slug=None):
        page = _page(request, page_slug)
        wanted = request.data.get("status")
        if wanted not in IncidentStatus.values + MaintenanceStatus.values:
            raise exceptions.ValidationError({"status": ["unknown status"]})
        components = list(Component.objects.filter(page=page, code__in=request.data.get("components") or []))
        templates = [{"name": n, "body": actions.render_template(b, components=components)}
                     for n, b in actions.templates_for(page, wanted)]
        text = (request.data.get("body") or "").strip() or templates[0]["body"]
        return Response({"status": wanted, "body": actions.render_template(text, components=components),
                         "templates": templates})


# --- maintenance -----------------------------------------------------------------------------

class MaintenanceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", read_only=True)
    window = serializers.IntegerField(source="window_id", read_only=True)
    scheduled_for = UTCDateTimeField(source="window.starts_at", read_only=True)
    scheduled_until = UTCDateTimeField(source="window.ends_at", read_only=True)
    components = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    updates = serializers.SerializerMethodField()

    class Meta:
        model = PublicMaintenance
        fields = ["id", "name", "status", "window", "scheduled_for", "scheduled_until", "components", "remind_prior",
                  "reminded_at", "cancelled", "updates"]

    def get_updates(self, obj) -> list[dict]:
        return PublicUpdateSerializer(sorted(obj.updates.all(), key=lambda u: (u.display_at, u.pk), reverse=True),
                                many=True).data


class PublicMaintenanceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    starts_at = UTCDateTimeField(required=False)
    ends_at = UTCDateTimeField(required=False)
    window = serializers.PrimaryKeyRelatedField(queryset=MaintenanceWindow.objects.all(), required=False,
                                                help_text="An existing core maintenance window instead of times.")
    components = serializers.ListField(child=serializers.CharField(), required=False)
    body = serializers.CharField(required=False, allow_blank=True, max_length=actions.MAX_BODY)
    remind_prior = serializers.BooleanField(default=True)
    deliver_notifications = serializers.BooleanField(default=True)

    def validate(self, data):
        if "window" not in data and not ("starts_at" in data and "ends_at" in data):
            raise serializers.ValidationError("give starts_at and ends_at, or an existing window")
        return data


class PublicMaintenanceUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=MaintenanceStatus.choices)
    body = serializers.CharField(required=False, allow_blank=True, max_length=actions.MAX_BODY)
    deliver_notifications = serializers.BooleanField(default=True)


@extend_schema(tags=["status pages"])
class MaintenanceViewSet(viewsets.GenericViewSet):
    """Scheduled maintenance told to customers, on core maintenance windows."""

    serializer_class = MaintenanceSerializer
    lookup_field = "code"
    pagination_class = ApiPagination

    def get_queryset(self):
        return PublicMaintenance.objects.filter(page=_page(self.request, self.kwargs["page_slug"])).select_related(
            "window").prefetch_related("updates", "components").order_by("-window__starts_at", "-id")

    @extend_schema(responses={200: MaintenanceSerializer(many=True)})
    def list(self, request, page_slug=None):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses={200: MaintenanceSerializer, **errors(404)})
    def retrieve(self, request, page_slug=None, code=None):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=PublicMaintenanceCreateSerializer,
                   responses={201: MaintenanceSerializer, **errors(400, 403, 404, 409, 422)})
    def create(self, request, page_slug=None):
        page = _page(request, page_slug)
        body = PublicMaintenanceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        components = list(Component.objects.filter(page=page, code__in=data.get("components", []), is_group=False))
        if len(components) != len(set(data.get("components", []))):
            raise exceptions.ValidationError({"components": ["unknown component id on this page"]})
        maintenance = actions.schedule_public_maintenance(
            page, name=data["name"], starts_at=data.get("starts_at"), ends_at=data.get("ends_at"),
            window=data.get("window"), components=components, body=data.get("body", ""),
            remind_prior=data["remind_prior"], deliver_notifications=data["deliver_notifications"], **_who(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=maintenance.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=PublicMaintenanceUpdateSerializer,
                   responses={201: PublicUpdateSerializer, **errors(400, 403, 404, 409, 422)},
                   summary="Move the maintenance on (in_progress, verifying, completed) or add a message")
    @action(detail=True, methods=["post"], url_path="updates")
    def post_update(self, request, page_slug=None, code=None):
        maintenance = self.get_object()
        body = PublicMaintenanceUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        update = actions.post_maintenance_update(maintenance, status=data["status"], body=data.get("body", ""),
                                                 deliver_notifications=data["deliver_notifications"],
                                                 **_who(request))
        return Response(PublicUpdateSerializer(update).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: MaintenanceSerializer, **errors(403, 404, 409)})
    @action(detail=True, methods=["post"], url_path="cancel")
    def cancel(self, request, page_slug=None, code=None):
        maintenance = actions.cancel_maintenance(self.get_object(), **_who(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=maintenance.pk)).data)


# --- subscribers and notices -----------------------------------------------------------------

class SubscriberSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="code", read_only=True)
    components = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    component_ids = serializers.ListField(child=serializers.CharField(), write_only=True, required=False,
                                          help_text="Only these components; none: everything.")
    created_at = UTCDateTimeField(read_only=True)
    confirmed_at = UTCDateTimeField(read_only=True)
    unsubscribed_at = UTCDateTimeField(read_only=True)

    class Meta:
        model = Subscriber
        fields = ["id", "kind", "email", "url", "components", "component_ids", "confirmed_at", "unsubscribed_at",
                  "created_at"]


class SubscriberCreatedSerializer(SubscriberSerializer):
    secret = serializers.CharField(read_only=True, help_text="Webhooks only, shown once: the signing secret.")

    class Meta(SubscriberSerializer.Meta):
        fields = [*SubscriberSerializer.Meta.fields, "secret"]


class NoticeSerializer(serializers.ModelSerializer):
    subscriber = serializers.CharField(source="subscriber.code", read_only=True, allow_null=True)
    created_at = UTCDateTimeField(read_only=True)
    sent_at = UTCDateTimeField(read_only=True)
    next_attempt_at = UTCDateTimeField(read_only=True)

    class Meta:
        model = Notice
        fields = ["id", "key", "event", "kind", "subscriber", "title", "state", "attempts", "last_error",
                  "next_attempt_at", "created_at", "sent_at"]


@extend_schema(tags=["status pages"])
class SubscriberViewSet(viewsets.GenericViewSet):
    """A page's subscribers. Staff add e-mail (confirmed) and webhook subscribers; the
    public subscribes by e-mail with double opt-in on the page."""

    serializer_class = SubscriberSerializer
    lookup_field = "code"
    pagination_class = ApiPagination

    def get_queryset(self):
        return Subscriber.objects.filter(page=_page(self.request, self.kwargs["page_slug"])).prefetch_related(
            "components").order_by("-created_at", "-id")

    @extend_schema(responses={200: SubscriberSerializer(many=True)})
    def list(self, request, page_slug=None):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=SubscriberSerializer,
                   responses={201: SubscriberCreatedSerializer, **errors(400, 403, 404, 409, 422)})
    def create(self, request, page_slug=None):
        page = _page(request, page_slug)
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        subscriber = actions.add_subscriber(page, kind=data["kind"], email=data.get("email", ""),
                                            url=data.get("url", ""), components=data.get("component_ids", []),
                                            **_who(request))
        return Response(SubscriberCreatedSerializer(subscriber).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **errors(403, 404)})
    def destroy(self, request, page_slug=None, code=None):
        actions.remove_subscriber(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["status pages"])
class NoticeViewSet(viewsets.GenericViewSet):
    """What was sent to subscribers, and what failed (retry after fixing the target)."""

    serializer_class = NoticeSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        qs = Notice.objects.filter(page=_page(self.request, self.kwargs["page_slug"])).select_related("subscriber")
        wanted = self.request.query_params.get("state")
        if wanted:
            if wanted not in Notice.State.values:
                raise exceptions.ValidationError({"state": [f"unknown state {wanted!r}"]})
            qs = qs.filter(state=wanted)
        return qs.order_by("-created_at", "-id")

    @extend_schema(parameters=[OpenApiParameter("state", str, description="pending, sending, delivered, failed")],
                   responses={200: NoticeSerializer(many=True)})
    def list(self, request, page_slug=None):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=None, responses={200: NoticeSerializer, **errors(403, 404, 409)})
    @action(detail=True, methods=["post"], url_path="retry")
    def retry(self, request, page_slug=None, pk=None):
        notice = actions.retry_notice(self.get_object(), actor=request.user, source=Door.API)
        return Response(self.get_serializer(notice).data)


# --- stakeholder audiences -------------------------------------------------------------------

class AudienceSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), allow_null=True,
                                        required=False)
    severities = serializers.ListField(child=serializers.ChoiceField(choices=["P1", "P2", "P3", "P4"]),
                                       required=False)

    class Meta:
        model = StakeholderAudience
        fields = ["id", "name", "kind", "target", "team", "severities", "enabled"]


@extend_schema(tags=["status pages"])
class AudienceViewSet(viewsets.ModelViewSet):
    """Internal audiences told about serious (P1/P2) incidents. Team admins manage their
    team's; global admins every one."""

    serializer_class = AudienceSerializer
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        qs = StakeholderAudience.objects.select_related("team").order_by("name")
        if is_admin(self.request.user):
            return qs
        return qs.filter(team_id__in=teams_with_role(self.request.user, "viewer"))

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        audience = actions.save_audience(None, **body.validated_data, **_who(request))
        return Response(self.get_serializer(audience).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        audience = self.get_object()
        body = self.get_serializer(audience, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        audience = actions.save_audience(audience, **body.validated_data, **_who(request))
        return Response(self.get_serializer(audience).data)

    def destroy(self, request, *args, **kwargs):
        audience = self.get_object()
        if not (is_admin(request.user) or (audience.team_id and has_team_role(request.user, audience.team_id,
                                                                               "admin"))):
            raise Forbidden("you need the admin role in the audience's team")
        from alertum.core.actions import delete_config

        delete_config(audience, **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

