"""On-call schedules: rotation layers with ordered participants and restrictions, one-off
overrides, per-team fatigue limits, handoff notes and the durable handoff messages, and
calendar feeds. The final schedule is computed from these rows (see `rotation.py`), never
stored."""

import datetime as dt
import hashlib
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from alertum.core.models import Team, validate_time_zone


class Schedule(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="schedules")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone],
                                 help_text="IANA name; handoff times and restrictions are wall-clock times here.")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    # The next instant the person on call changes; the handoff tick claims rows by it.
    next_handoff_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    # A new random value at every change of layers or overrides: readers cache the
    # computed layers per (schedule, etag), so a change is never served stale.
    etag = models.CharField(max_length=16, blank=True, default="", editable=False)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="schedule_unique_name_per_team")]

    def __str__(self):
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Layer(models.Model):
    """One rotation. Layers with a higher `level` override lower ones where they have
    someone on call; outside its restrictions a layer has nobody and lower ones show."""

    class Unit(models.TextChoices):
        HOURS = "hours", "Hours"
        DAYS = "days", "Days"
        WEEKS = "weeks", "Weeks"

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=100)
    level = models.PositiveSmallIntegerField(default=1, help_text="Higher levels override lower ones.")
    rotation_length = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1),
                                                                         MaxValueValidator(10_000)])
    rotation_unit = models.CharField(max_length=10, choices=Unit.choices, default=Unit.WEEKS)
    # The first handoff: the wall-clock time in the schedule's zone repeats for day and
    # week rotations (09:00 stays 09:00 across DST); hour rotations count real hours.
    starts_at = models.DateTimeField(help_text="First handoff; the rotation repeats from here.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Optional end of this layer.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["schedule_id", "-level", "id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "level"], name="layer_unique_level"),
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True) | models.Q(ends_at__gt=models.F("starts_at")),
                name="layer_ends_after_start"),
        ]

    def __str__(self):
        return f"{self.schedule}: {self.name}"

    @property
    def participant_users(self) -> list:
        return [p.user for p in self.participants.all()]

    @property
    def restriction_list(self) -> list:
        return list(self.restrictions.all())


class Participant(models.Model):
    """A person's turn in a layer; the same person may take several turns."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rotation_turns")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["layer_id", "position"]
        constraints = [models.UniqueConstraint(fields=["layer", "position"], name="participant_unique_position")]

    def __str__(self):
        return f"{self.user} (#{self.position})"


WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def validate_weekdays(value) -> None:
    if not isinstance(value, list) or not value or any(
            not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in value):
        raise ValidationError("weekdays must be a non-empty list of numbers 0 (Monday) to 6 (Sunday)")
    if len(set(value)) != len(value):
        raise ValidationError("weekdays must not repeat")


class Restriction(models.Model):
    """A window in which the layer is on call: on each listed weekday from `start_time`
    to `end_time` (wall clock, schedule's zone); an end at or before the start runs into
    the next day (17:00–09:00). A layer without restrictions is on call all the time."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="restrictions")
    weekdays = models.JSONField(default=list, validators=[validate_weekdays],
                                help_text="0 = Monday … 6 = Sunday, e.g. [0, 1, 2, 3, 4].")
    start_time = models.TimeField()
    end_time = models.TimeField()

    class Meta:
        ordering = ["layer_id", "id"]

    def __str__(self):
        days = ",".join(WEEKDAY_NAMES[d] for d in sorted(self.weekdays or []) if 0 <= d <= 6)
        return f"{days} {self.start_time:%H:%M}–{self.end_time:%H:%M}"


class Override(models.Model):
    """Someone covers the schedule for a period, above every layer. Where overrides
    overlap, the newer one wins."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedule_overrides")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["schedule_id", "starts_at"]
        constraints = [models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                              name="override_ends_after_start")]
        # Reads take the overrides of one schedule that overlap a window.
        indexes = [models.Index(fields=["schedule", "ends_at"])]

    def __str__(self):
        return f"{self.user} covers {self.schedule}"


class FatigueLimits(models.Model):
    """A team's limits on how hard its people are worked; breaches are warnings."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="fatigue_limits")
    max_consecutive_shifts = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Most shifts in a row without a proper rest; empty = no limit.")
    min_rest_hours = models.PositiveSmallIntegerField(
        default=8, validators=[MaxValueValidator(168)],
        help_text="A break shorter than this does not end a run of consecutive shifts.")
    max_pages_per_shift = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    max_pages_per_night = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    night_starts = models.TimeField(default=dt.time(22, 0), help_text="In each person's own time zone.")
    night_ends = models.TimeField(default=dt.time(7, 0))

    class Meta:
        verbose_name_plural = "fatigue limits"

    def __str__(self):
        return f"Fatigue limits of {self.team}"


class HandoffNote(models.Model):
    """A note the person on call leaves for whoever takes over next; delivered with the
    next handoff summary of the schedule."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="handoff_notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(max_length=4000)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    handoff = models.ForeignKey("Handoff", null=True, blank=True, on_delete=models.SET_NULL, related_name="notes")

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Note by {self.author} on {self.schedule}"


class Handoff(models.Model):
    """One handoff summary to the incoming person: a durable row written (with its unique
    key) before it is sent, claimed pending → sending by the sender."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    key = models.CharField(max_length=120, unique=True, editable=False)
    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="handoffs")
    handoff_at = models.DateTimeField()
    incoming = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    outgoing = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    shift_ends_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-handoff_at"]
        # The sweeper finds rows a lost task or a dead worker left behind.
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"Handoff of {self.schedule} to {self.incoming} at {self.handoff_at:%Y-%m-%d %H:%M}"


class CalendarFeed(models.Model):
    """A secret iCalendar URL: one schedule's final shifts, or (schedule empty) all of
    the owner's shifts. The URL carries a signed random secret; only its SHA-256 is
    stored, so the URL is shown once and revoking the row kills it."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds")
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.CASCADE, related_name="feeds")
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Calendar of {self.schedule or 'my shifts'} for {self.owner}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()
