"""Monitors, their status changes (the source of uptime), raw check results and their
roll-ups. Writes go through `monitoring.actions`; reads through `monitoring.queries`."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from alertum.core.models import Service


class Monitor(models.Model):
    """One thing we check on a schedule (or, for heartbeats, that checks in with us).

    The engine tick claims rows whose `next_check_at` is due; `state` changes only through
    `monitoring.actions.record_state`, which also writes a `StatusChange` and raises or
    resolves the monitor's alert through intake.
    """

    class Kind(models.TextChoices):
        HTTP = "http", "HTTP(S)"
        TCP = "tcp", "TCP port"
        DNS = "dns", "DNS record"
        HEARTBEAT = "heartbeat", "Heartbeat"
        JOURNEY = "journey", "Journey (multi-step HTTP)"

    class State(models.TextChoices):
        NEW = "new", "New"
        UP = "up", "Up"
        LATE = "late", "Late"
        DOWN = "down", "Down"
        PAUSED = "paused", "Paused"

    class Sensitivity(models.TextChoices):
        OFF = "off", "Off"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="monitors")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Kind-specific settings (url, method, host, port, record type, steps ...), validated per
    # kind in monitoring.actions.clean_config.
    config = models.JSONField(default=dict, blank=True)
    interval_seconds = models.PositiveIntegerField(default=60, validators=[MinValueValidator(10)])
    timeout_seconds = models.FloatField(default=10.0, validators=[MinValueValidator(0.1), MaxValueValidator(120)])
    state = models.CharField(max_length=10, choices=State.choices, default=State.NEW)
    is_paused = models.BooleanField(default=False)
    # Indexed: the engine tick claims due monitors by this column with SKIP LOCKED.
    next_check_at = models.DateTimeField(null=True, blank=True, db_index=True)
    failure_threshold = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Down after this many consecutive failed checks.")
    success_threshold = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Up again after this many consecutive successful checks.")
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_successes = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # Threshold conditions that must hold for a duration, each with its severity:
    # [{"name", "metric": latency_ms|status_code|error_rate, "op": gt|gte, "value",
    #   "for_seconds", "severity": P1..P4}]
    rules = models.JSONField(default=list, blank=True)
    anomaly_sensitivity = models.CharField(max_length=10, choices=Sensitivity.choices, default=Sensitivity.OFF)
    # Engine bookkeeping for rules and anomaly detection (since when a condition holds,
    # which rule alerts are open); written only by the engine.
    rule_state = models.JSONField(default=dict, blank=True, editable=False)
    # Set while the server's TLS certificate is inside the warning window (config
    # tls_expiry_days) and its alert `monitor-<id>-tls` is open; empty otherwise. Written
    # only by the engine (actions.evaluate_certificate); the pages show it as a badge.
    certificate_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["service__name", "name"]
        indexes = [models.Index(fields=["service", "state"])]

    def __str__(self):
        return f"{self.service} · {self.name}"

    @property
    def dedup_key(self) -> str:
        return f"monitor-{self.pk}"


class StatusChange(models.Model):
    """A monitor moved from one state to another. Uptime is computed from these rows."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="status_changes")
    at = models.DateTimeField(default=timezone.now)
    from_state = models.CharField(max_length=10, choices=Monitor.State.choices)
    to_state = models.CharField(max_length=10, choices=Monitor.State.choices)
    reason = models.CharField(max_length=500, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["monitor", "at"])]

    def __str__(self):
        return f"{self.monitor_id}: {self.from_state} → {self.to_state} at {self.at:%Y-%m-%d %H:%M:%S}"


class CheckResult(models.Model):
    """One run of a check, kept for MONITORING_RAW_RETENTION_DAYS (default 7) and rolled up."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="results")
    at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(null=True, blank=True)  # when it was scheduled; start lag = at - due_at
    ok = models.BooleanField()
    latency_ms = models.FloatField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["monitor", "at"]), models.Index(fields=["at"])]

    def __str__(self):
        return f"{self.monitor_id} {'ok' if self.ok else 'FAIL'} at {self.at:%H:%M:%S}"


class Rollup(models.Model):
    """Check results summarised per minute, hour or day; kept at least 400 days."""

    class Granularity(models.TextChoices):
        MINUTE = "minute", "Minute"
        HOUR = "hour", "Hour"
        DAY = "day", "Day"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="rollups")
    granularity = models.CharField(max_length=6, choices=Granularity.choices)
    bucket = models.DateTimeField()  # UTC start of the minute / hour / day
    count = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    latency_p50 = models.FloatField(null=True, blank=True)
    latency_p95 = models.FloatField(null=True, blank=True)
    latency_max = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["monitor", "granularity", "bucket"]
        constraints = [models.UniqueConstraint(fields=["monitor", "granularity", "bucket"], name="rollup_unique")]
        indexes = [models.Index(fields=["granularity", "bucket"])]

    def __str__(self):
        return f"{self.monitor_id} {self.granularity} {self.bucket:%Y-%m-%d %H:%M}"
