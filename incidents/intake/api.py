"""REST API for intake: alerts (read), silences, grouping / inhibition / alert-severity /
routing rules, integrations (the raw key is in the create and rotate answers only), the
raw events of an integration and their replay.

Thin like incidents/api.py: serializers shape input and output, `incidents.intake.queries`
decides what the caller sees (every team member reads; outsiders get empty lists and
404s), `incidents.intake.actions` writes, validates and checks who may (DomainError ->
403/404/409/422 through the shared exception handler).
"""

import operator
from functools import reduce

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alertum.core.api import (
    ApiModelSerializer,
    ApiPagination,
    client_ip,
    errors,
    team_slug_field,
    whole_number,
)
from alertum.core.errors import Conflict
from alertum.core.models import Door, Service
from incidents.api import IncidentRefSerializer, ServiceRefSerializer
from incidents.intake import actions, queries, setup_text
from incidents.intake.queries import SUPPRESSED_CHOICES
from incidents.models import (
    Alert,
    AlertSeverityRule,
    GroupingRule,
    InhibitionRule,
    Integration,
    RawEvent,
    RoutingRule,
    Silence,
)


def _who(request) -> dict:
    return {"actor": request.user, "source": Door.API, "ip_address": client_ip(request)}


def service_field(**kwargs):
    return serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(), help_text="Service slug.",
                                        error_messages={"does_not_exist": "no service with slug {value!r}"}, **kwargs)


def _csv(request, name: str, allowed: list[str]) -> list[str]:
    values = [v.strip() for v in request.query_params.get(name, "").split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise exceptions.ValidationError({name: [f"unknown value {', '.join(map(repr, unknown))}; use "
                                                 f"{', '.join(allowed)}"]})
    return values


class MatcherSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Label name.")
    value = serializers.CharField(max_length=1000, allow_blank=True, trim_whitespace=False)
    isRegex = serializers.BooleanField(default=False, help_text="Value is an (anchored) regular expression.")
    isEqual = serializers.BooleanField(default=True, help_text="False negates: != or !~.")


def matchers_field(**kwargs):
    return MatcherSerializer(many=True, **kwargs)


def label_names_field(**kwargs):
    return serializers.ListField(child=serializers.CharField(max_length=100), max_length=50, **kwargs)


# --- alerts ------------------------------------------------------------------------------------


class IntegrationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()


class DecisionSerializer(serializers.Serializer):
    at = serializers.CharField(help_text="ISO 8601, UTC.")
    what = serializers.CharField(help_text="deduplicated, grouped, declared, silenced, inhibited, routed, …")
    detail = serializers.CharField()


class LinkSerializer(serializers.Serializer):
    href = serializers.CharField()
    text = serializers.CharField(required=False)


class AlertSerializer(ApiModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api-alert-detail")
    service = ServiceRefSerializer()
    integration = IntegrationRefSerializer()
    incident = IncidentRefSerializer(allow_null=True)
    labels = serializers.DictField(child=serializers.CharField())
    annotations = serializers.DictField(child=serializers.CharField())
    links = LinkSerializer(many=True)

    class Meta:
        model = Alert
        fields = ["id", "url", "summary", "status", "severity", "suppressed", "source", "dedup_key", "service",
                  "integration", "labels", "annotations", "links", "count", "first_seen_at", "last_seen_at",
                  "resolved_at", "group_key", "incident"]


class AlertDetailSerializer(AlertSerializer):
    decisions = DecisionSerializer(many=True)

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "decisions", "last_raw_event_id"]


ALERT_FILTERS = [
    OpenApiParameter("status", str, description="Comma-separated: open, " + ", ".join(Alert.Status.values)),
    OpenApiParameter("service", str, description="Service slug."),
    OpenApiParameter("severity", str, description="Comma-separated: " + ", ".join(Alert.Severity.values)),
    OpenApiParameter("suppressed", str, description="yes, no, or a reason: silenced, inhibited, maintenance."),
    OpenApiParameter("integration", int, description="Integration id."),
]


@extend_schema(tags=["alerts"])
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts every team member may see (an alert of a restricted incident: its team only)."""

    serializer_class = AlertDetailSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        return queries.visible_alerts(self.request.user).select_related("service", "integration", "incident")

    def get_serializer_class(self):
        return AlertSerializer if self.action == "list" else AlertDetailSerializer

    @extend_schema(parameters=ALERT_FILTERS, responses={200: AlertSerializer(many=True), **errors(400)})
    def list(self, request, *args, **kwargs):
        statuses = _csv(request, "status", ["open", *Alert.Status.values])
        if "open" in statuses:
            statuses = [s for s in statuses if s != "open"] + [Alert.Status.FIRING, Alert.Status.ACKNOWLEDGED]
        suppressed = request.query_params.get("suppressed", "").strip()
        if suppressed and suppressed not in ("yes", "no", *dict(SUPPRESSED_CHOICES)):
            raise exceptions.ValidationError({"suppressed": ["use yes, no, silenced, inhibited or maintenance"]})
        service = request.query_params.get("service", "").strip()
        if service and not Service.objects.filter(slug=service).exists():
            raise exceptions.ValidationError({"service": [f"no service with slug {service!r}"]})
        raw_integration = request.query_params.get("integration", "")
        integration = whole_number(raw_integration) if raw_integration else None
        if raw_integration and integration is None:
            raise exceptions.ValidationError({"integration": [f"must be an integration id; got {raw_integration!r}"]})
        alerts = queries.list_alerts(request.user, status=statuses or None, service=service or None,
                                     severity=_csv(request, "severity", Alert.Severity.values) or None,
                                     suppressed=suppressed or None, integration=integration)
        page = self.paginate_queryset(alerts)
        return self.get_paginated_response(AlertSerializer(page, many=True,
                                                           context=self.get_serializer_context()).data)

    @extend_schema(responses={200: AlertDetailSerializer, **errors(404)})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


# --- silences --------------------------------------------------------------------------------------


class SilenceSerializer(ApiModelSerializer):
    matchers = matchers_field(help_text="All must match (AND); at least one must not match an empty value.")
    service = service_field(allow_null=True, required=False)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    state = serializers.SerializerMethodField(help_text="pending, active or expired")

    class Meta:
        model = Silence
        fields = ["id", "matchers", "service", "starts_at", "ends_at", "comment", "created_by", "created_at", "state"]
        read_only_fields = ["created_by", "created_at"]

    def get_state(self, silence) -> str:
        return silence.state()


SILENCE_STATES = ["active", "pending", "expired"]
WRITE_ERRORS = errors(400, 403, 404, 409, 422)


@extend_schema(tags=["silences"])
class SilenceViewSet(viewsets.ModelViewSet):
    """Alertmanager-style silences. Responders of the service's team create, change and
    expire them; DELETE expires (as Alertmanager's API does), the record stays."""

    serializer_class = SilenceSerializer
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return queries.visible_silences(self.request.user)

    @extend_schema(parameters=[
        OpenApiParameter("state", str, description="Comma-separated: " + ", ".join(SILENCE_STATES)),
        OpenApiParameter("service", str, description="Service slug."),
    ], responses={200: SilenceSerializer(many=True), **errors(400)})
    def list(self, request, *args, **kwargs):
        qs, now = self.get_queryset(), timezone.now()
        states = _csv(request, "state", SILENCE_STATES)
        if states:
            qs = qs.filter(reduce(operator.or_, [queries.silence_state_q(state, now) for state in states]))
        service = request.query_params.get("service", "").strip()
        if service:
            qs = qs.filter(service__slug=service)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _answer(self, silence, code=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=silence.pk)).data, status=code)

    @extend_schema(responses={201: SilenceSerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        silence = actions.create_silence(**body.validated_data, **_who(request))
        return self._answer(silence, status.HTTP_201_CREATED)

    @extend_schema(responses={200: SilenceSerializer, **WRITE_ERRORS})
    def partial_update(self, request, *args, **kwargs):
        silence = self.get_object()
        body = self.get_serializer(silence, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        silence = actions.update_silence(silence, **body.validated_data, **_who(request))
        return self._answer(silence)

    @extend_schema(responses={204: None, **errors(403, 404)}, summary="Expire the silence (the record stays)")
    def destroy(self, request, *args, **kwargs):
        actions.expire_silence(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: SilenceSerializer, **errors(403, 404)},
                   summary="Expire the silence now")
    @action(detail=True, methods=["post"])
    def expire(self, request, pk=None):
        return self._answer(actions.expire_silence(self.get_object(), **_who(request)))


# --- rules -----------------------------------------------------------------------------------------


class GroupingRuleSerializer(ApiModelSerializer):
    service = service_field()  # declared, so no unique validator: a second rule is a 409 (the view)
    group_by = label_names_field(required=False, help_text='Label names, e.g. ["alertname", "cluster"].')

    class Meta:
        model = GroupingRule
        fields = ["id", "service", "group_by", "dedup_key_template", "window_seconds", "max_alerts",
                  "cooldown_seconds", "auto_resolve", "auto_resolve_after_seconds"]


class InhibitionRuleSerializer(ApiModelSerializer):
    service = service_field(allow_null=True, required=False)
    source_matchers = matchers_field()
    target_matchers = matchers_field()
    equal = label_names_field(required=False)

    class Meta:
        model = InhibitionRule
        fields = ["id", "name", "service", "source_matchers", "target_matchers", "equal", "active"]


class AlertSeverityRuleSerializer(ApiModelSerializer):
    service = service_field(allow_null=True, required=False)
    matchers = matchers_field(required=False)

    class Meta:
        model = AlertSeverityRule
        fields = ["id", "position", "service", "alert_severity", "matchers", "impact"]


class RoutingRuleSerializer(ApiModelSerializer):
    service = service_field(allow_null=True, required=False)
    team = team_slug_field(allow_null=True, required=False)
    severities = serializers.ListField(child=serializers.CharField(max_length=2), max_length=4, required=False,
                                       help_text='Incident severities, e.g. ["P3", "P4"]; empty: any.')
    matchers = matchers_field(required=False)
    business_days = serializers.ListField(child=serializers.IntegerField(), max_length=7, required=False,
                                          help_text="ISO weekdays, 1 = Monday; empty: Monday to Friday.")
    business_start = serializers.TimeField(format="%H:%M", required=False)
    business_end = serializers.TimeField(format="%H:%M", required=False)

    class Meta:
        model = RoutingRule
        fields = ["id", "position", "name", "service", "severities", "matchers", "during", "team",
                  "escalation_policy_slug", "defer_to_business_hours", "business_days", "business_start",
                  "business_end", "time_zone", "active"]


class RuleViewSet(viewsets.ModelViewSet):
    """Shared CRUD for the rule kinds: reads for every member, writes through the actions."""

    model = None
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return queries.visible_rules(self.request.user, self.model)

    def _answer(self, rule, code=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=rule.pk)).data, status=code)

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(actions.create_rule(self.model, **body.validated_data, **_who(request)),
                            status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        rule = self.get_object()
        body = self.get_serializer(rule, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        return self._answer(actions.update_rule(rule, **body.validated_data, **_who(request)))

    def destroy(self, request, *args, **kwargs):
        actions.delete_rule(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def documented(viewset):
    """Give a rule viewset its own create / update / delete methods, so the schema names
    its serializer and the errors each answers."""
    serializer = viewset.serializer_class

    def create(self, request, *args, **kwargs):
        return RuleViewSet.create(self, request, *args, **kwargs)

    def partial_update(self, request, *args, **kwargs):
        return RuleViewSet.partial_update(self, request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        return RuleViewSet.destroy(self, request, *args, **kwargs)

    viewset.create = extend_schema(responses={201: serializer, **WRITE_ERRORS})(create)
    viewset.partial_update = extend_schema(responses={200: serializer, **WRITE_ERRORS})(partial_update)
    viewset.destroy = extend_schema(responses={204: None, **errors(403, 404, 409)})(destroy)
    return viewset


@extend_schema(tags=["rules"])
class GroupingRuleViewSet(RuleViewSet):
    """How a service's alerts become incidents (one rule per service; none: the defaults)."""

    model = GroupingRule
    serializer_class = GroupingRuleSerializer

    @extend_schema(responses={201: GroupingRuleSerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        service = data.pop("service")
        if GroupingRule.objects.filter(service=service).exists():
            raise Conflict(f"{service} has a grouping rule already; change it with PATCH", field="service")
        rule = actions.save_grouping_rule(service, **data, **_who(request))
        return self._answer(rule, status.HTTP_201_CREATED)

    @extend_schema(responses={200: GroupingRuleSerializer, **WRITE_ERRORS})
    def partial_update(self, request, *args, **kwargs):
        rule = self.get_object()
        body = self.get_serializer(rule, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if data.pop("service", rule.service) != rule.service:
            raise exceptions.ValidationError({"service": ["a grouping rule stays with its service; create one for "
                                                          "the other service instead"]})
        return self._answer(actions.save_grouping_rule(rule.service, **data, **_who(request)))

    @extend_schema(responses={204: None, **errors(403, 404)}, summary="Delete (the service is back to the defaults)")
    def destroy(self, request, *args, **kwargs):
        actions.delete_grouping_rule(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@documented
@extend_schema(tags=["rules"])
class InhibitionRuleViewSet(RuleViewSet):
    """While a firing alert matches the source matchers, matching targets (equal labels) are muted."""

    model = InhibitionRule
    serializer_class = InhibitionRuleSerializer


@documented
@extend_schema(tags=["rules"])
class AlertSeverityRuleViewSet(RuleViewSet):
    """Alert severity and labels -> impact; with the service's tier the matrix gives P1–P4."""

    model = AlertSeverityRule
    serializer_class = AlertSeverityRuleSerializer


@documented
@extend_schema(tags=["rules"])
class RoutingRuleViewSet(RuleViewSet):
    """Owning team, escalation policy and business hours for incidents raised from alerts."""

    model = RoutingRule
    serializer_class = RoutingRuleSerializer


# --- integrations and raw events ---------------------------------------------------------------------


class SnippetSerializer(serializers.Serializer):
    title = serializers.CharField()
    language = serializers.CharField(help_text="yaml, python, shell or text")
    text = serializers.CharField()


class SetupSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Where the tool sends (PagerDuty: the base URL its clients take).")
    url_label = serializers.CharField()
    key = serializers.CharField(help_text="The key, or (after creation) its first characters and …")
    complete = serializers.BooleanField(help_text="The key is in full, so the examples work as pasted.")
    notes = serializers.ListField(child=serializers.CharField())
    snippets = SnippetSerializer(many=True)


class IntegrationSerializer(ApiModelSerializer):
    service = ServiceRefSerializer(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    intake_url = serializers.SerializerMethodField(help_text="The URL the tool sends to (key masked).")

    class Meta:
        model = Integration
        fields = ["id", "name", "service", "kind", "key_prefix", "intake_url", "rate_limit_per_minute",
                  "verify_grafana_signature", "active", "created_at", "created_by"]

    def _site(self) -> str:
        return self.context["request"].build_absolute_uri("/")

    def get_intake_url(self, integration) -> str:
        return setup_text.intake_url(integration, self._site())


class IntegrationDetailSerializer(IntegrationSerializer):
    setup = serializers.SerializerMethodField()

    class Meta(IntegrationSerializer.Meta):
        fields = [*IntegrationSerializer.Meta.fields, "setup"]

    @extend_schema_field(SetupSerializer)
    def get_setup(self, integration) -> dict:
        may = actions.may_configure(self.context["request"].user, integration.service)
        return setup_text.as_plain(setup_text.build(integration, self._site(), with_secret=may))


class NewKeySerializer(IntegrationSerializer):
    key = serializers.CharField(help_text="The raw key. Shown this once; only its hash is stored.")
    setup = SetupSerializer()

    class Meta(IntegrationSerializer.Meta):
        fields = [*IntegrationSerializer.Meta.fields, "key", "setup"]


class IntegrationCreateSerializer(serializers.Serializer):
    service = service_field()
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Integration.Kind.choices)
    rate_limit_per_minute = serializers.IntegerField(default=6000)
    verify_grafana_signature = serializers.BooleanField(default=False)


class IntegrationUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    rate_limit_per_minute = serializers.IntegerField(required=False)
    verify_grafana_signature = serializers.BooleanField(required=False)
    active = serializers.BooleanField(required=False)

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["cannot be changed (create a new integration instead)"]
                                               for name in unknown})
        return attrs


class RawEventSerializer(ApiModelSerializer):
    class Meta:
        model = RawEvent
        fields = ["id", "endpoint", "received_at", "state", "attempts", "next_attempt_at", "processed_at", "error",
                  "assigned_dedup_key", "body"]


@extend_schema(tags=["integrations"])
class IntegrationViewSet(viewsets.ModelViewSet):
    """Integrations: one tool's door into one service. Admins of the service's team create,
    change, rotate and delete them; every member reads (never the key: only its prefix)."""

    serializer_class = IntegrationDetailSerializer
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return queries.visible_integrations(self.request.user)

    def get_serializer_class(self):
        return IntegrationSerializer if self.action == "list" else IntegrationDetailSerializer

    def _new_key(self, integration, raw, code) -> Response:
        integration.key = raw
        integration.setup = setup_text.as_plain(setup_text.build(
            integration, self.request.build_absolute_uri("/"), raw, with_secret=True))
        response = Response(NewKeySerializer(integration, context=self.get_serializer_context()).data, status=code)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=IntegrationCreateSerializer, responses={201: NewKeySerializer, **WRITE_ERRORS},
                   summary="Create an integration; the answer holds the raw key, this once")
    def create(self, request, *args, **kwargs):
        body = IntegrationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        integration, raw = actions.create_integration(**body.validated_data, **_who(request))
        return self._new_key(integration, raw, status.HTTP_201_CREATED)

    @extend_schema(request=IntegrationUpdateSerializer, responses={200: IntegrationDetailSerializer, **WRITE_ERRORS})
    def partial_update(self, request, *args, **kwargs):
        integration = self.get_object()
        body = IntegrationUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        integration = actions.update_integration(integration, **body.validated_data, **_who(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=integration.pk)).data)

    @extend_schema(responses={204: None, **errors(403, 404, 409)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_integration(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: NewKeySerializer, **errors(403, 404)},
                   summary="Rotate the key: the old one stops working; the answer holds the new one, this once")
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request, pk=None):
        integration, raw = actions.rotate_integration_key(self.get_object(), **_who(request))
        return self._new_key(integration, raw, status.HTTP_200_OK)

    @extend_schema(parameters=[OpenApiParameter("state", str, description="Comma-separated: "
                                                + ", ".join(RawEvent.State.values))],
                   responses={200: RawEventSerializer(many=True), **errors(400, 404)},
                   summary="The raw events this integration received, newest first")
    @action(detail=True, methods=["get"], url_path="raw-events")
    def raw_events(self, request, pk=None):
        integration = self.get_object()
        qs = queries.raw_events_of(integration, state=_csv(request, "state", RawEvent.State.values) or None)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(RawEventSerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: RawEventSerializer, **errors(403, 404, 409)},
                   parameters=[OpenApiParameter("raw_id", int, OpenApiParameter.PATH)],
                   summary="Queue a failed or dead raw event again (409 if it was processed)")
    @action(detail=True, methods=["post"], url_path=r"raw-events/(?P<raw_id>[0-9]+)/replay")
    def replay(self, request, pk=None, raw_id=None):
        integration = self.get_object()
        raw = queries.get_raw_event_for_user(request.user, integration.pk, int(raw_id))
        raw = actions.replay_raw_event(raw, actor=request.user, source=Door.API)
        return Response(RawEventSerializer(raw).data)
