"""REST API for monitors: CRUD, results, uptime and latency series, pause / resume, and a
one-off test. Serializers shape input and output; `monitoring.queries` decides what the
caller sees, `monitoring.actions` writes and checks who may (DomainError -> 403/404/409/
422 through the shared exception handler)."""

from datetime import date, timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alertum.core.api import ApiModelSerializer, ApiPagination, client_ip, errors
from alertum.core.models import Door, Service
from monitoring import actions, badge, queries
from monitoring.models import CheckResult, Monitor

WRITE_ERRORS = errors(400, 403, 404, 409, 422)


def _who(request) -> dict:
    return {"actor": request.user, "source": Door.API, "ip_address": client_ip(request)}


class MonitorSerializer(ApiModelSerializer):
    service = serializers.SlugRelatedField(slug_field="slug", queryset=Service.objects.all(),
                                           help_text="Service slug.",
                                           error_messages={"does_not_exist": "no service with slug {value!r}"})
    config = serializers.JSONField(help_text="Kind-specific settings; see docs/monitoring.md.")
    rules = serializers.JSONField(required=False, help_text="Threshold rules, each with a severity P1–P4.")
    badge_url = serializers.SerializerMethodField()

    class Meta:
        model = Monitor
        fields = ["id", "service", "name", "kind", "config", "interval_seconds", "timeout_seconds", "state",
                  "is_paused", "failure_threshold", "success_threshold", "rules", "anomaly_sensitivity",
                  "consecutive_failures", "consecutive_successes", "last_checked_at", "next_check_at", "created_at",
                  "updated_at", "certificate_expires_at", "badge_url"]
        read_only_fields = ["state", "consecutive_failures", "consecutive_successes", "last_checked_at",
                            "next_check_at", "created_at", "updated_at", "certificate_expires_at"]

    def get_badge_url(self, obj) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(badge.url(obj)) if request else badge.url(obj)


class ResultSerializer(ApiModelSerializer):
    class Meta:
        model = CheckResult
        fields = ["id", "at", "due_at", "ok", "latency_ms", "status_code", "message", "evidence"]


class OutcomeSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.FloatField(allow_null=True)
    status_code = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    evidence = serializers.JSONField()
    warning = serializers.CharField(help_text="Passed, but needs attention (e.g. the TLS certificate expires soon).")
    certificate_expires_at = serializers.DateTimeField(allow_null=True)


class UptimeDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    uptime = serializers.FloatField(allow_null=True, help_text="Fraction of the day up; null = no data.")


class LatencyPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    count = serializers.IntegerField()
    failures = serializers.IntegerField()


def _date(request, name: str, default: date) -> date:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise exceptions.ValidationError({name: ["use YYYY-MM-DD"]}) from None


class MonitorViewSet(viewsets.ModelViewSet):
    """Monitors. Any team member reads; responders of the service's team change them."""

    serializer_class = MonitorSerializer
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        params = self.request.query_params
        state = params.get("state")
        if state and not set(state.split(",")) <= set(Monitor.State.values):
            raise exceptions.ValidationError({"state": [f"use {', '.join(Monitor.State.values)}"]})
        return queries.list_monitors(self.request.user, service=params.get("service"), state=state,
                                     kind=params.get("kind"), q=params.get("q"))

    @extend_schema(parameters=[OpenApiParameter("service", str), OpenApiParameter("state", str),
                               OpenApiParameter("kind", str), OpenApiParameter("q", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={201: MonitorSerializer, **WRITE_ERRORS})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        monitor = actions.create_monitor(**body.validated_data, **_who(request))
        return Response(self.get_serializer(monitor).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: MonitorSerializer, **WRITE_ERRORS})
    def partial_update(self, request, *args, **kwargs):
        monitor = self.get_object()
        body = self.get_serializer(monitor, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        monitor = actions.update_monitor(monitor, **body.validated_data, **_who(request))
        return Response(self.get_serializer(monitor).data)

    @extend_schema(responses={204: None, **errors(403, 404, 409)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_monitor(self.get_object(), **_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: MonitorSerializer, **errors(403, 404)})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return Response(self.get_serializer(actions.pause_monitor(self.get_object(), **_who(request))).data)

    @extend_schema(request=None, responses={200: MonitorSerializer, **errors(403, 404)})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return Response(self.get_serializer(actions.resume_monitor(self.get_object(), **_who(request))).data)

    @extend_schema(request=None, responses={200: OutcomeSerializer, **errors(403, 404, 422)},
                   summary="Run the check once now and show what it saw (records nothing)")
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        return Response(OutcomeSerializer(actions.test_now(self.get_object(), actor=request.user).as_dict()).data)

    @extend_schema(parameters=[OpenApiParameter("failed", bool)], responses={200: ResultSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        qs = self.get_object().results.order_by("-at")
        if request.query_params.get("failed") in ("1", "true"):
            qs = qs.filter(ok=False)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ResultSerializer(page, many=True).data)

    @extend_schema(parameters=[OpenApiParameter("start", date), OpenApiParameter("end", date),
                               OpenApiParameter("tz", str)],
                   responses={200: UptimeDaySerializer(many=True), **errors(400, 404)},
                   summary="Uptime per day (null = no data), from status changes")
    @action(detail=True, methods=["get"])
    def uptime(self, request, pk=None):
        monitor = self.get_object()
        today = timezone.localdate()
        end = _date(request, "end", today)
        start = _date(request, "start", end - timedelta(days=89))
        if start > end or (end - start).days > 400:
            raise exceptions.ValidationError({"start": ["start must be before end, at most 400 days apart"]})
        tz = request.query_params.get("tz") or "UTC"
        from zoneinfo import available_timezones

        if tz not in available_timezones():
            raise exceptions.ValidationError({"tz": [f"{tz!r} is not a known time zone"]})
        days = queries.uptime_by_day([monitor.pk], start, end, tz)[monitor.pk]
        return Response(UptimeDaySerializer([{"day": d, "uptime": v} for d, v in days.items()], many=True).data)

    @extend_schema(parameters=[OpenApiParameter("hours", int),
                               OpenApiParameter("granularity", str, enum=["raw", "minute", "hour", "day"])],
                   responses={200: LatencyPointSerializer(many=True), **errors(400, 404)},
                   summary="Latency series (p50/p95/max) from raw results or roll-ups")
    @action(detail=True, methods=["get"])
    def latency(self, request, pk=None):
        monitor = self.get_object()
        try:
            hours = int(request.query_params.get("hours") or 24)
        except ValueError:
            raise exceptions.ValidationError({"hours": ["a whole number"]}) from None
        if not 1 <= hours <= 24 * 400:
            raise exceptions.ValidationError({"hours": ["between 1 and 9600"]})
        granularity = request.query_params.get("granularity") or None
        if granularity not in (None, "raw", "minute", "hour", "day"):
            raise exceptions.ValidationError({"granularity": ["raw, minute, hour or day"]})
        end = timezone.now()
        points = queries.latency_series(monitor, end - timedelta(hours=hours), end, granularity)
        return Response(LatencyPointSerializer(points, many=True).data)
