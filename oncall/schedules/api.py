"""REST API for schedules: schedules, layers, overrides (CRUD), who is on call now / at
an instant, the final shifts and gaps of a range, coverage and fatigue, my shifts,
handoff notes, fatigue limits and calendar links.

Team viewers read; commanders and admins of the team write (the actions check). A
schedule of a team the caller is not in answers 404. Times are UTC.
"""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alertum.core.api import (
    ApiModelSerializer,
    ApiPagination,
    UserField,
    UserRefSerializer,
    UTCDateTimeField,
    client_ip,
    errors,
    team_slug_field,
)
from alertum.core.errors import NotFound
from alertum.core.models import Door, Role, Team
from alertum.core.permissions import has_team_role
from oncall.schedules import actions, queries, reports
from oncall.schedules.models import CalendarFeed, FatigueLimits, Layer, Override, Restriction, Schedule

MAX_RANGE = dt.timedelta(days=400)


def _range(request, default_days: int = 14) -> tuple[dt.datetime, dt.datetime]:
    """?start=&end= (ISO 8601, UTC if naive); defaults to now and `default_days` later."""
    field = UTCDateTimeField()
    out = {}
    for name in ("start", "end"):
        raw = request.query_params.get(name)
        if raw:
            try:
                out[name] = field.to_internal_value(raw)
            except exceptions.ValidationError:
                raise exceptions.ValidationError({name: [f"not an ISO 8601 date and time: {raw!r}"]}) from None
    start = out.get("start") or timezone.now()
    end = out.get("end") or start + dt.timedelta(days=default_days)
    if end <= start:
        raise exceptions.ValidationError({"end": ["must be after start"]})
    if end - start > MAX_RANGE:
        raise exceptions.ValidationError({"end": ["ask for at most 400 days at a time"]})
    return start, end


def _instant(request, name: str = "at") -> dt.datetime:
    raw = request.query_params.get(name)
    if not raw:
        return timezone.now()
    try:
        return UTCDateTimeField().to_internal_value(raw)
    except exceptions.ValidationError:
        raise exceptions.ValidationError({name: [f"not an ISO 8601 date and time: {raw!r}"]}) from None


RANGE_PARAMS = [OpenApiParameter("start", str, description="ISO 8601; default now"),
                OpenApiParameter("end", str, description="ISO 8601; default start + 14 days; at most 400 days")]
AT_PARAM = [OpenApiParameter("at", str, description="ISO 8601 instant; default now")]


# --- serializers -------------------------------------------------------------------------

class RestrictionSerializer(serializers.ModelSerializer):
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), min_length=1,
                                     max_length=7, help_text="0 = Monday … 6 = Sunday")

    class Meta:
        model = Restriction
        fields = ["weekdays", "start_time", "end_time"]


class ScheduleRef(serializers.SlugRelatedField):
    """A schedule by slug, among those the caller can see."""

    def get_queryset(self):
        request = self.context.get("request")
        return queries.schedules_visible_to(request.user) if request else Schedule.objects.none()


class LayerSerializer(ApiModelSerializer):
    schedule = ScheduleRef(slug_field="slug", help_text="Schedule slug.",
                           error_messages={"does_not_exist": "no schedule with slug {value!r}"})
    participants = serializers.ListField(child=UserField(), min_length=1, max_length=actions.MAX_PARTICIPANTS,
                                         source="participant_users",
                                         help_text="Users (username or id) in rotation order.")
    restrictions = RestrictionSerializer(many=True, required=False, source="restriction_list",
                                         help_text="Windows in which this layer is on call; none = always.")
    level = serializers.IntegerField(min_value=1, max_value=1000, required=False,
                                     help_text="Higher levels override lower; default: above the others.")

    class Meta:
        model = Layer
        fields = ["id", "schedule", "name", "level", "rotation_unit", "rotation_length", "starts_at", "ends_at",
                  "participants", "restrictions"]
        validators = []  # a taken level is the action's 409


class ScheduleSerializer(ApiModelSerializer):
    team = team_slug_field()
    slug = serializers.SlugField(required=False, max_length=100, help_text="Default: team slug + name.")
    layers = LayerSerializer(many=True, read_only=True)

    class Meta:
        model = Schedule
        fields = ["id", "name", "slug", "team", "time_zone", "description", "next_handoff_at", "layers",
                  "created_at", "updated_at"]
        read_only_fields = ["next_handoff_at", "created_at", "updated_at"]
        # Uniqueness is the action's to check (409), not the serializer's (400).
        validators = []
        extra_kwargs = {"slug": {"validators": []}}


class OverrideSerializer(ApiModelSerializer):
    schedule = ScheduleRef(slug_field="slug", help_text="Schedule slug.",
                           error_messages={"does_not_exist": "no schedule with slug {value!r}"})
    user = UserField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Override
        fields = ["id", "schedule", "user", "starts_at", "ends_at", "reason", "created_by", "created_at"]
        read_only_fields = ["created_by", "created_at"]


class ShiftSerializer(serializers.Serializer):
    user = UserRefSerializer()
    start = UTCDateTimeField()
    end = UTCDateTimeField()
    source = serializers.CharField(help_text='"layer:<id>" or "override:<id>"')


class OnCallSerializer(serializers.Serializer):
    schedule = serializers.CharField(source="schedule.slug")
    at = UTCDateTimeField()
    on_call = UserRefSerializer(source="now", many=True)
    until = UTCDateTimeField(allow_null=True, help_text="When the current person's stretch ends.")
    next = UserRefSerializer(many=True, help_text="Who takes over at the next handoff.")
    next_at = UTCDateTimeField(allow_null=True)


class GapSerializer(serializers.Serializer):
    start = UTCDateTimeField()
    end = UTCDateTimeField()


class BreachSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="consecutive_shifts, pages_per_shift or pages_per_night")
    user = UserRefSerializer()
    start = UTCDateTimeField()
    end = UTCDateTimeField()
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    text = serializers.CharField()


class CoverageSerializer(serializers.Serializer):
    schedule = serializers.CharField()
    start = UTCDateTimeField()
    end = UTCDateTimeField()
    covered_percent = serializers.FloatField()
    gaps = GapSerializer(many=True)
    fatigue = BreachSerializer(many=True)


def _coverage_out(report) -> dict:
    return CoverageSerializer({
        "schedule": report.schedule.slug, "start": report.start, "end": report.end,
        "covered_percent": report.covered_percent,
        "gaps": [{"start": a, "end": b} for a, b in report.gaps],
        "fatigue": [{"kind": b.kind, "user": report.users[b.user_id], "start": b.start, "end": b.end,
                     "count": b.count, "limit": b.limit, "text": b.text}
                    for b in report.breaches if b.user_id in report.users],
    }).data


# --- schedules ---------------------------------------------------------------------------

@extend_schema(tags=["schedules"])
class ScheduleViewSet(viewsets.ModelViewSet):
    """On-call schedules. Team viewers read; team commanders and admins write."""

    serializer_class = ScheduleSerializer
    pagination_class = ApiPagination
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Schedule.objects.none()
        qs = queries.schedules_visible_to(self.request.user).prefetch_related(
            "layers__participants__user", "layers__restrictions")
        team = self.request.query_params.get("team")
        if team:
            qs = qs.filter(team__slug=team)
        return qs.order_by("team__name", "name")

    @extend_schema(parameters=[OpenApiParameter("team", str, description="Team slug")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={201: ScheduleSerializer, **errors(400, 403, 409, 422)})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        schedule = actions.create_schedule(**body.validated_data, actor=request.user, source=Door.API,
                                           ip_address=client_ip(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=schedule.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ScheduleSerializer, **errors(400, 403, 404, 409, 422)})
    def update(self, request, *args, **kwargs):
        schedule = self.get_object()
        body = self.get_serializer(schedule, data=request.data, partial=kwargs.get("partial", False))
        body.is_valid(raise_exception=True)
        actions.update_schedule(schedule, actor=request.user, source=Door.API, ip_address=client_ip(request),
                                **body.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=schedule.pk)).data)

    @extend_schema(responses={204: None, **errors(403, 404, 409)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_schedule(self.get_object(), actor=request.user, source=Door.API,
                                ip_address=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=AT_PARAM, responses={200: OnCallSerializer, **errors(400, 404)},
                   summary="Who is on call at an instant (default now), and who takes over next")
    @action(detail=True, methods=["get"], url_path="on-call")
    def on_call(self, request, slug=None):
        schedule = self.get_object()
        at = _instant(request)
        state = queries.on_call_now(schedule, at)
        return Response(OnCallSerializer({"schedule": schedule, "at": at, "now": state.now, "until": state.until,
                                          "next": state.next, "next_at": state.next_at}).data)

    @extend_schema(parameters=AT_PARAM, responses={200: OnCallSerializer(many=True), **errors(400)},
                   summary="Who is on call now (or at ?at=) on every schedule you can see")
    @action(detail=False, methods=["get"], url_path="on-call")
    def on_call_all(self, request):
        at = _instant(request)
        rows = []
        for schedule in self.get_queryset():
            state = queries.on_call_now(schedule, at)
            rows.append({"schedule": schedule, "at": at, "now": state.now, "until": state.until,
                         "next": state.next, "next_at": state.next_at})
        return Response(OnCallSerializer(rows, many=True).data)

    @extend_schema(parameters=RANGE_PARAMS, responses={200: ShiftSerializer(many=True), **errors(400, 404)},
                   summary="The final (computed) schedule over a range")
    @action(detail=True, methods=["get"])
    def shifts(self, request, slug=None):
        schedule = self.get_object()
        start, end = _range(request)
        return Response(ShiftSerializer(queries.final_shifts(schedule, start, end), many=True).data)

    @extend_schema(parameters=RANGE_PARAMS, responses={200: CoverageSerializer, **errors(400, 404)},
                   summary="Coverage over a range: gaps nobody covers and fatigue-limit breaches")
    @action(detail=True, methods=["get"])
    def coverage(self, request, slug=None):
        schedule = self.get_object()
        start, end = _range(request)
        return Response(_coverage_out(reports.coverage(schedule, start, end)))

    @extend_schema(parameters=RANGE_PARAMS, responses={200: inline_serializer("MyShift", fields={
        "schedule": serializers.CharField(), "start": UTCDateTimeField(), "end": UTCDateTimeField(),
        "source": serializers.CharField()}, many=True)}, summary="The caller's own shifts across schedules")
    @action(detail=False, methods=["get"], url_path="my-shifts")
    def my_shifts(self, request):
        start, end = _range(request, default_days=28)
        field = UTCDateTimeField()
        return Response([{"schedule": schedule.slug, "start": field.to_representation(shift.start),
                          "end": field.to_representation(shift.end), "source": shift.source}
                         for schedule, shift in queries.shifts_of_user(request.user, start, end)])

    @extend_schema(request=inline_serializer("HandoffNoteIn", fields={"text": serializers.CharField(max_length=4000)}),
                   responses={201: inline_serializer("HandoffNote", fields={
                       "id": serializers.IntegerField(), "text": serializers.CharField()}), **errors(400, 403, 404)},
                   summary="Leave a note for whoever takes over at the next handoff")
    @action(detail=True, methods=["post"], url_path="handoff-notes")
    def handoff_notes(self, request, slug=None):
        schedule = self.get_object()
        text = request.data.get("text") if hasattr(request.data, "get") else None
        if not isinstance(text, str):
            raise exceptions.ValidationError({"text": ["a text is required"]})
        note = actions.leave_handoff_note(schedule, actor=request.user, text=text, source=Door.API)
        return Response({"id": note.pk, "text": note.text}, status=status.HTTP_201_CREATED)


# --- layers and overrides ----------------------------------------------------------------

def _layer_kwargs(data: dict) -> dict:
    kwargs = {k: data[k] for k in ("name", "level", "rotation_unit", "rotation_length", "starts_at", "ends_at")
              if k in data}
    kwargs["participants"] = data.get("participant_users", [])
    kwargs["restrictions"] = [dict(r) for r in data.get("restriction_list", [])]
    return kwargs


@extend_schema(tags=["schedules"])
class LayerViewSet(viewsets.ModelViewSet):
    """Rotation layers. A write replaces the layer's participants and restrictions."""

    serializer_class = LayerSerializer
    pagination_class = ApiPagination
    http_method_names = ["get", "post", "put", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Layer.objects.none()
        qs = Layer.objects.filter(schedule__in=queries.schedules_visible_to(self.request.user)).select_related(
            "schedule").prefetch_related("participants__user", "restrictions")
        schedule = self.request.query_params.get("schedule")
        if schedule:
            qs = qs.filter(schedule__slug=schedule)
        return qs.order_by("schedule_id", "-level")

    @extend_schema(parameters=[OpenApiParameter("schedule", str, description="Schedule slug")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={201: LayerSerializer, **errors(400, 403, 409, 422)})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        layer = actions.save_layer(body.validated_data["schedule"], actor=request.user, source=Door.API,
                                   ip_address=client_ip(request), **_layer_kwargs(body.validated_data))
        return Response(self.get_serializer(self.get_queryset().get(pk=layer.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: LayerSerializer, **errors(400, 403, 404, 409, 422)})
    def update(self, request, *args, **kwargs):
        layer = self.get_object()
        body = self.get_serializer(layer, data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data["schedule"].pk != layer.schedule_id:
            raise exceptions.ValidationError({"schedule": ["a layer cannot move to another schedule"]})
        actions.save_layer(layer.schedule, layer=layer, actor=request.user, source=Door.API,
                           ip_address=client_ip(request), **_layer_kwargs(body.validated_data))
        return Response(self.get_serializer(self.get_queryset().get(pk=layer.pk)).data)

    @extend_schema(responses={204: None, **errors(403, 404)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_layer(self.get_object(), actor=request.user, source=Door.API, ip_address=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["schedules"])
class OverrideViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                      mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """One-off overrides: someone covers a schedule for a period. Responders may take a
    shift themselves; commanders and admins cover for anyone."""

    serializer_class = OverrideSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Override.objects.none()
        qs = Override.objects.filter(schedule__in=queries.schedules_visible_to(self.request.user)).select_related(
            "schedule", "user", "created_by")
        schedule = self.request.query_params.get("schedule")
        if schedule:
            qs = qs.filter(schedule__slug=schedule)
        if self.action == "list" and self.request.query_params.get("upcoming", "1") != "0":
            qs = qs.filter(ends_at__gt=timezone.now())
        return qs.order_by("starts_at", "id")

    @extend_schema(parameters=[OpenApiParameter("schedule", str, description="Schedule slug"),
                               OpenApiParameter("upcoming", str, description="0 to include past overrides")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={201: OverrideSerializer, **errors(400, 403, 422)})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        override = actions.create_override(data["schedule"], user=data["user"], starts_at=data["starts_at"],
                                           ends_at=data["ends_at"], reason=data.get("reason", ""),
                                           actor=request.user, source=Door.API, ip_address=client_ip(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=override.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **errors(403, 404)})
    def destroy(self, request, *args, **kwargs):
        actions.delete_override(self.get_object(), actor=request.user, source=Door.API,
                                ip_address=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- fatigue limits, calendar links ------------------------------------------------------

class FatigueLimitsSerializer(ApiModelSerializer):
    team = serializers.CharField(source="team.slug", read_only=True)

    class Meta:
        model = FatigueLimits
        fields = ["team", "max_consecutive_shifts", "min_rest_hours", "max_pages_per_shift", "max_pages_per_night",
                  "night_starts", "night_ends"]


@extend_schema(tags=["schedules"])
class FatigueLimitsViewSet(viewsets.GenericViewSet):
    """A team's fatigue limits (by team slug). Team members read; team admins write."""

    serializer_class = FatigueLimitsSerializer
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def _team(self, slug) -> Team:
        team = Team.objects.filter(slug=slug).first()
        if team is None or not has_team_role(self.request.user, team.pk, Role.VIEWER):
            raise NotFound(f"no team with slug {slug!r}")
        return team

    @extend_schema(responses={200: FatigueLimitsSerializer, **errors(404)})
    def retrieve(self, request, slug=None):
        team = self._team(slug)
        limits = FatigueLimits.objects.filter(team=team).first() or FatigueLimits(team=team)
        return Response(FatigueLimitsSerializer(limits).data)

    @extend_schema(responses={200: FatigueLimitsSerializer, **errors(400, 403, 404, 422)})
    def update(self, request, slug=None):
        team = self._team(slug)
        body = FatigueLimitsSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        limits = actions.set_fatigue_limits(team, actor=request.user, source=Door.API, ip_address=client_ip(request),
                                            **body.validated_data)
        return Response(FatigueLimitsSerializer(limits).data)


class CalendarFeedSerializer(ApiModelSerializer):
    schedule = ScheduleRef(slug_field="slug", required=False, allow_null=True,
                           help_text="Schedule slug; leave out for a calendar of your own shifts.",
                           error_messages={"does_not_exist": "no schedule with slug {value!r}"})
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = CalendarFeed
        fields = ["id", "schedule", "created_at", "last_used_at", "revoked_at", "active"]
        read_only_fields = ["created_at", "last_used_at", "revoked_at"]


class NewCalendarFeedSerializer(CalendarFeedSerializer):
    url = serializers.CharField(read_only=True, help_text="The secret calendar URL. Shown this once.")

    class Meta(CalendarFeedSerializer.Meta):
        fields = [*CalendarFeedSerializer.Meta.fields, "url"]


@extend_schema(tags=["schedules"])
class CalendarFeedViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin,
                          viewsets.GenericViewSet):
    """The caller's secret iCalendar links. The URL is in the create response only."""

    serializer_class = CalendarFeedSerializer
    pagination_class = ApiPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CalendarFeed.objects.none()
        return CalendarFeed.objects.filter(owner=self.request.user).select_related("schedule").order_by("-id")

    @extend_schema(request=CalendarFeedSerializer, responses={201: NewCalendarFeedSerializer, **errors(400, 403)})
    def create(self, request, *args, **kwargs):
        body = CalendarFeedSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        feed, token = actions.create_calendar_feed(owner=request.user, schedule=body.validated_data.get("schedule"),
                                                   actor=request.user, source=Door.API, ip_address=client_ip(request))
        feed.url = request.build_absolute_uri(reverse("schedules:calendar", args=[token]))
        return Response(NewCalendarFeedSerializer(feed, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **errors(403, 404)}, summary="Revoke a calendar link")
    def destroy(self, request, *args, **kwargs):
        actions.revoke_calendar_feed(self.get_object(), actor=request.user, source=Door.API,
                                     ip_address=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
