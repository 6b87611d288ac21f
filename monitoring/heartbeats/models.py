"""Heartbeats: monitors that our users' jobs check in with (healthchecks.io ping URLs),
their ping log, and the per-team ping keys of the slug URLs.

Writes go through `monitoring.heartbeats.actions` (configuration, pause/resume, state
changes, the sweeper) and `monitoring.heartbeats.pings` (the hot ping path).
"""

import datetime as dt
import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from alertum.core.models import Team
from monitoring.heartbeats import schedule as sched
from monitoring.models import Monitor

SLUG_PATTERN = r"^[a-z0-9_-]+$"
ONE_YEAR = 365 * 24 * 3600
BODY_LIMIT_MAX = 100_000


def validate_cron(value: str) -> None:
    if value:
        try:
            sched.validate_cron(value)
        except sched.ScheduleError as exc:
            raise ValidationError(str(exc)) from None


def validate_zone(value: str) -> None:
    try:
        sched.validate_time_zone(value)
    except sched.ScheduleError as exc:
        raise ValidationError(str(exc)) from None


class Heartbeat(models.Model):
    """The heartbeat side of a `Monitor` of kind heartbeat.

    `status` is the heartbeat's own view (new/up/late/down/paused) and moves together with
    the monitor's state through `actions`; the ping path reads it without a join to decide
    whether a ping changes anything. `next_sweep_at` is when the state can next change
    without a ping (late, then down); the sweeper claims rows by it with SKIP LOCKED.
    """

    class Schedule(models.TextChoices):
        SIMPLE = sched.SIMPLE, "Every period"
        CRON = sched.CRON, "Cron expression"

    Status = Monitor.State

    monitor = models.OneToOneField(Monitor, on_delete=models.CASCADE, related_name="heartbeat")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.CharField(
        max_length=100, blank=True, db_index=True,
        validators=[RegexValidator(SLUG_PATTERN, "use only lowercase letters, digits, '-' and '_'")],
        help_text="For the slug URL /ping/<ping-key>/<slug>: lowercase letters, digits, '-' and '_'.")
    schedule = models.CharField(max_length=10, choices=Schedule.choices, default=Schedule.SIMPLE)
    period_seconds = models.PositiveIntegerField(
        default=86400, validators=[MinValueValidator(60), MaxValueValidator(ONE_YEAR)],
        help_text="Expected time between pings (simple schedule).")
    grace_seconds = models.PositiveIntegerField(
        default=3600, validators=[MinValueValidator(60), MaxValueValidator(ONE_YEAR)],
        help_text="How long a ping may be late before the heartbeat is down.")
    cron = models.CharField(max_length=100, blank=True, validators=[validate_cron],
                            help_text="Cron expression (cron schedule), e.g. '0 2 * * *'.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_zone],
                                 help_text="Time zone the cron expression is read in (IANA name).")
    manual_resume = models.BooleanField(
        default=False, help_text="When paused, ignore pings until someone resumes it by hand.")
    body_limit = models.PositiveIntegerField(
        default=10_000, validators=[MaxValueValidator(BODY_LIMIT_MAX)],
        help_text="Bytes of each ping's body kept in the ping log (0 keeps none).")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    last_start_at = models.DateTimeField(null=True, blank=True)
    last_start_rid = models.UUIDField(null=True, blank=True)
    last_duration = models.FloatField(null=True, blank=True, help_text="Seconds of the last start → finish run.")
    n_pings = models.PositiveBigIntegerField(default=0)
    next_sweep_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["monitor__service__name", "monitor__name"]

    def __str__(self):
        return str(self.monitor)

    def clean(self):
        if self.schedule == self.Schedule.CRON and not self.cron:
            raise ValidationError({"cron": "a cron schedule needs a cron expression, e.g. '0 2 * * *'"})

    @property
    def timing(self) -> sched.Timing:
        return sched.Timing(kind=self.schedule, period=dt.timedelta(seconds=self.period_seconds),
                               grace=dt.timedelta(seconds=self.grace_seconds), cron=self.cron,
                               time_zone=self.time_zone)

    @property
    def is_started(self) -> bool:
        return self.last_start_at is not None

    def shown_state(self, now=None) -> str:
        """What a person should see: "started" while a run is going, "late" within grace,
        "down" once grace has passed even if the sweeper has not been round yet."""
        now = now or timezone.now()
        if self.monitor.is_paused:
            return "paused"
        if self.status == self.Status.PAUSED:  # resumed through the monitor's own door
            return "new"
        if self.status in (self.Status.UP, self.Status.LATE):
            state = self.timing.state_at(now, self.last_ping_at, self.last_start_at)
            if state != "down" and self.last_start_at is not None:
                return "started"
            return state
        if self.last_start_at is not None and self.status == self.Status.NEW:
            return "started"
        return self.status

    def late_at(self):
        return self.timing.late_at(self.last_ping_at) if self.status in ("up", "late") else None

    def down_at(self):
        return self.timing.down_at(self.last_ping_at, self.last_start_at) if self.status in ("up", "late") else None

    def ping_path(self) -> str:
        return f"/ping/{self.uuid}"

    def slug_path(self, key: str = "<ping-key>") -> str:
        return f"/ping/{key}/{self.slug}" if self.slug else ""


class Ping(models.Model):
    """One signal received from a job. Exit-status pings are `success` (0) or `fail`
    (1–255) with `exit_status` set, as healthchecks.io stores them."""

    class Kind(models.TextChoices):
        SUCCESS = "success", "Success"
        START = "start", "Start"
        FAIL = "fail", "Failure"
        LOG = "log", "Log"
        IGNORED = "ignored", "Ignored (paused)"

    heartbeat = models.ForeignKey(Heartbeat, on_delete=models.CASCADE, related_name="pings", db_index=False)
    n = models.PositiveBigIntegerField(help_text="This heartbeat's ping number, from 1.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    exit_status = models.PositiveSmallIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    rid = models.UUIDField(null=True, blank=True, help_text="The run id (?rid=) a client chose.")
    method = models.CharField(max_length=10)
    scheme = models.CharField(max_length=10, default="http")
    remote_addr = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True, help_text="The request body, cut at the heartbeat's body limit.")
    body_size = models.PositiveIntegerField(default=0, help_text="The body's full size in bytes.")
    duration = models.FloatField(null=True, blank=True, help_text="Seconds since the matching start.")

    class Meta:
        ordering = ["-received_at", "-n"]
        # The one index: a heartbeat's log newest first, and pruning by number.
        indexes = [models.Index(fields=["heartbeat", "n"], name="hb_ping_heartbeat_n")]

    def __str__(self):
        return f"#{self.n} {self.label}"

    @property
    def label(self) -> str:
        if self.exit_status is not None:
            return f"Exit status {self.exit_status}"
        return self.get_kind_display()

    @property
    def body_truncated(self) -> bool:
        return self.body_size > len(self.body.encode())


class PingKey(models.Model):
    """A team's key for the slug URLs `/ping/<ping-key>/<slug>`. Stored as its SHA-256
    only; the key itself is shown once when made. A team may hold several (rotation)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="ping_keys")
    name = models.CharField(max_length=100, default="Ping key")
    key_prefix = models.CharField(max_length=8, editable=False, help_text="The first characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    default_service = models.ForeignKey(
        "core.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Where slug pings with ?create=1 make new heartbeats (none: ?create=1 is refused).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team__name", "created_at"]

    def __str__(self):
        return f"{self.team} · {self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @staticmethod
    def new_key() -> str:
        # 22 URL-safe characters, the shape of healthchecks.io's ping keys.
        return secrets.token_urlsafe(16)
