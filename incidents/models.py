"""Incidents, their append-only timeline, checklists, evidence and severity rules."""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from alertum.core.hashchain import AppendOnlyQuerySet, entry_hash
from alertum.core.models import Door, Service, Team


class Status(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


OPEN_STATUSES = [s for s in Status if s != Status.RESOLVED]

# The allowed status transitions, in one table. Reopen (resolved -> triggered) is its own
# action so that it is always deliberate and recorded as such.
TRANSITIONS: dict[str, set[str]] = {
    Status.TRIGGERED: {Status.ACKNOWLEDGED, Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING,
                       Status.RESOLVED},
    Status.ACKNOWLEDGED: {Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED},
    Status.INVESTIGATING: {Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED},
    Status.IDENTIFIED: {Status.INVESTIGATING, Status.MONITORING, Status.RESOLVED},
    Status.MONITORING: {Status.INVESTIGATING, Status.IDENTIFIED, Status.RESOLVED},
    Status.RESOLVED: {Status.TRIGGERED},
}

# Which timestamp a status stamps the first time it is reached.
STATUS_TIMESTAMP = {
    Status.ACKNOWLEDGED: "acknowledged_at",
    Status.INVESTIGATING: "acknowledged_at",  # working on it implies someone has it
    Status.IDENTIFIED: "identified_at",
    Status.MONITORING: "monitoring_at",
    Status.RESOLVED: "resolved_at",
}


class Severity(models.TextChoices):
    P1 = "P1", "P1 — critical"
    P2 = "P2", "P2 — high"
    P3 = "P3", "P3 — moderate"
    P4 = "P4", "P4 — low"


class Impact(models.TextChoices):
    """How badly the affected services are hurt: the rows of the severity matrix."""

    OUTAGE = "outage", "Complete outage"
    PARTIAL = "partial", "Partial outage"
    DEGRADED = "degraded", "Degraded performance"
    COSMETIC = "cosmetic", "Cosmetic / no user impact"


class UsersAffected(models.TextChoices):
    ALL = "all", "All users"
    MANY = "many", "Many users"
    SOME = "some", "Some users"
    FEW = "few", "Few or none"


class Urgency(models.TextChoices):
    HIGH = "high", "High"
    LOW = "low", "Low"


class Sensitivity(models.TextChoices):
    NORMAL = "normal", "Normal"
    RESTRICTED = "restricted", "Restricted (team and admins only)"


class IncidentRole(models.TextChoices):
    COMMANDER = "commander", "Incident commander"
    COMMS_LEAD = "comms_lead", "Communications lead"
    RESPONDER = "responder", "Engineering responder"
    LIAISON = "liaison", "Stakeholder liaison"


SINGLE_HOLDER_ROLES = {IncidentRole.COMMANDER: "commander", IncidentRole.COMMS_LEAD: "comms_lead",
                       IncidentRole.LIAISON: "liaison"}


class IncidentCounter(models.Model):
    """One row holding the last human number handed out (INC-n); locked to allocate."""

    last_number = models.PositiveIntegerField(default=0)


class Incident(models.Model):
    number = models.PositiveIntegerField(unique=True, editable=False)
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    slug = models.SlugField(max_length=80, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.TRIGGERED)
    severity = models.CharField(max_length=2, choices=Severity.choices, default=Severity.P3)
    severity_reason = models.CharField(max_length=500, blank=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="incidents")
    services = models.ManyToManyField(Service, blank=True, related_name="incidents")
    tags = models.JSONField(default=list, blank=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_incidents")
    commander = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="commanded_incidents")
    comms_lead = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    liaison = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    responders = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="responding_incidents")
    impact = models.CharField(max_length=20, choices=Impact.choices, default=Impact.DEGRADED)
    users_affected = models.CharField(max_length=10, choices=UsersAffected.choices, default=UsersAffected.SOME)
    business_functions = models.CharField(max_length=500, blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.HIGH)
    sensitivity = models.CharField(max_length=20, choices=Sensitivity.choices, default=Sensitivity.NORMAL)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged")
    related = models.ManyToManyField("self", blank=True, symmetrical=True)

    # The timestamps every metric needs (MTTD = detected - started, MTTA, MTTR ...).
    started_at = models.DateTimeField(default=timezone.now)
    detected_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    identified_at = models.DateTimeField(null=True, blank=True)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    source = models.CharField(max_length=20, choices=Door.choices, default=Door.WEB)
    last_seq = models.PositiveIntegerField(default=0, editable=False)  # the timeline's head
    # Set when intake routing picked the team/policy; paging waits for notify_after
    # (low-severity incidents held until business hours).
    routing_rule = models.ForeignKey("RoutingRule", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    notify_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        indexes = [
            # the list's default view and its filters
            models.Index(fields=["status", "-number"], name="incident_status_number"),
            models.Index(fields=["severity", "-number"], name="incident_severity_number"),
            models.Index(fields=["team", "-number"], name="incident_team_number"),
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"

    @property
    def channel_slug(self) -> str:
        return f"inc-{self.created_at:%Y%m%d}-{self.slug}"

    @property
    def is_open(self) -> bool:
        return self.status != Status.RESOLVED

    @property
    def is_restricted(self) -> bool:
        return self.sensitivity == Sensitivity.RESTRICTED

    def can_transition_to(self, status: str) -> bool:
        return status in TRANSITIONS[self.status]

    def allowed_next_statuses(self) -> list[str]:
        return [s for s in Status if s in TRANSITIONS[self.status] and s != Status.TRIGGERED]


class TimelineEntryQuerySet(AppendOnlyQuerySet, models.QuerySet):
    pass


class TimelineEntry(models.Model):
    """One append-only entry on an incident's timeline.

    `seq` counts from 1 per incident; `prev_hash`/`hash` chain the entries so that a
    change shows. Corrections are new entries. PostgreSQL refuses UPDATE and DELETE
    (trigger in migration 0002) and so does this model.
    """

    class Kind(models.TextChoices):
        DECLARED = "incident.declared", "Declared"
        STATUS = "status.changed", "Status changed"
        REOPENED = "incident.reopened", "Reopened"
        SEVERITY = "severity.changed", "Severity changed"
        ASSIGNED = "assignee.changed", "Assignee changed"
        ROLE = "role.changed", "Role changed"
        TEAM = "team.changed", "Owning team changed"
        FIELDS = "incident.edited", "Details edited"
        COMMENT = "comment", "Comment"
        PINNED = "comment.pinned", "Pinned as milestone"
        UNPINNED = "comment.unpinned", "Unpinned"
        UPDATE = "update", "Status update"
        CHECKLIST = "checklist.ticked", "Checklist"
        EVIDENCE = "evidence.added", "Evidence"
        MERGED = "incident.merged", "Merged"
        MERGED_INTO = "incident.merged_into", "Merged into another incident"
        RELATED = "incident.related", "Related incident linked"
        ALERT = "alert.attached", "Alert attached"
        ALERT_RESOLVED = "alert.resolved", "Alert resolved"
        CHANGE = "change.event", "Change event"
        NOTIFICATION = "notification", "Notification"
        NOTE = "note", "System note"
        REMINDER_DUE = "reminder.due", "Playbook reminder"
        REMINDER_DONE = "reminder.done", "Playbook step done"

    class Visibility(models.TextChoices):
        INTERNAL = "internal", "Internal"
        PUBLIC = "public", "Public"

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="timeline")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=40, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
                              db_constraint=False, related_name="+")
    source = models.CharField(max_length=20, choices=Door.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.INTERNAL)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = TimelineEntryQuerySet.as_manager()

    class Meta:
        ordering = ["incident_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["incident", "seq"], name="timeline_unique_seq")]
        verbose_name_plural = "timeline entries"

    def __str__(self):
        return f"{self.incident_id}#{self.seq} {self.kind}"

    def hashed_fields(self) -> dict:
        return {"incident": self.incident_id, "seq": self.seq, "kind": self.kind, "actor": self.actor_id,
                "source": self.source, "occurred_at": self.occurred_at, "visibility": self.visibility,
                "data": self.data}

    def compute_hash(self) -> str:
        return entry_hash(self.prev_hash, self.hashed_fields())

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("timeline entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("timeline entries are append-only")


class SeverityRule(models.Model):
    """One cell of the P1–P4 matrix: impact x service tier (x users affected) -> severity.

    The most specific matching rule wins (users_affected set beats blank); across several
    affected services the highest severity wins. Editable in the admin.
    """

    impact = models.CharField(max_length=20, choices=Impact.choices)
    tier = models.PositiveSmallIntegerField(choices=Service.Tier.choices)
    users_affected = models.CharField(max_length=10, choices=UsersAffected.choices, blank=True,
                                      help_text="Blank matches any.")
    severity = models.CharField(max_length=2, choices=Severity.choices)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["impact", "tier", "users_affected"]
        constraints = [
            models.UniqueConstraint(fields=["impact", "tier", "users_affected"], name="severity_rule_unique")
        ]

    def __str__(self):
        who = f", {self.get_users_affected_display()}" if self.users_affected else ""
        return f"{self.get_impact_display()} of a tier-{self.tier} service{who} → {self.severity}"


class ChecklistTemplate(models.Model):
    """Items copied onto each new incident of the given severity."""

    name = models.CharField(max_length=100)
    severity = models.CharField(max_length=2, choices=Severity.choices)
    items = models.JSONField(default=list, help_text="A list of item texts, in order.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["severity", "name"]

    def __str__(self):
        return f"{self.name} ({self.severity})"


class ChecklistItem(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="checklist")
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=300)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")

    class Meta:
        ordering = ["incident_id", "position"]

    def __str__(self):
        return self.text


def evidence_path(instance, filename):
    return f"evidence/{instance.incident_id}/{timezone.now():%Y%m%d%H%M%S}-{filename}"


class Evidence(models.Model):
    ALLOWED_TYPES = {
        "text/plain": "log", "application/json": "log", "text/csv": "log",
        "image/png": "image", "image/jpeg": "image", "image/gif": "image", "image/webp": "image",
        "application/pdf": "document",
    }

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="evidence")
    file = models.FileField(upload_to=evidence_path)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    description = models.CharField(max_length=300, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.filename

    @property
    def kind(self) -> str:
        return self.ALLOWED_TYPES.get(self.content_type, "document")


# --- intake: integrations, raw events, alerts, grouping, silences, rules --------------------

class Integration(models.Model):
    """A door for one tool's alerts into one service. The key is a 32-character secret
    (PagerDuty's routing_key length, which its clients check); only its SHA-256 is kept."""

    class Kind(models.TextChoices):
        PAGERDUTY = "pagerduty", "PagerDuty Events API (v2, change events, v1)"
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager webhook"
        GRAFANA = "grafana", "Grafana alerting webhook"
        GENERIC = "generic", "Generic JSON webhook"

    name = models.CharField(max_length=100)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="integrations")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key_prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(default=6000,
                                                        help_text="Events accepted per minute; 429 above.")
    verify_grafana_signature = models.BooleanField(
        default=False, help_text="Require Grafana's X-Grafana-Alerting-Signature (HMAC-SHA256 of the body).")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["service__name", "name"]
        constraints = [models.UniqueConstraint(fields=["service", "name"], name="integration_unique_name")]

    def __str__(self):
        return f"{self.service} · {self.name}"

    @staticmethod
    def hash_key(raw: str) -> str:
        import hashlib

        return hashlib.sha256(raw.encode()).hexdigest()

    def hmac_secret(self) -> str:
        """Grafana's signing secret, derived (never stored): HMAC of SECRET_KEY over the
        key hash. Shown in the integration's set-up text; rotating the key changes it."""
        import hashlib
        import hmac

        return hmac.new(settings.SECRET_KEY.encode(), f"grafana:{self.key_hash}".encode(), hashlib.sha256).hexdigest()


class RawEvent(models.Model):
    """A request body exactly as received, stored before any processing (nothing sent is
    lost). Processed by `incidents.intake.pipeline` in id order; failures stay with their
    error and are retried with backoff."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Failed (gave up)"

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="raw_events")
    endpoint = models.CharField(max_length=30)  # pagerduty.v2, pagerduty.change, pagerduty.v1, alertmanager, ...
    received_at = models.DateTimeField(default=timezone.now)
    body = models.TextField()
    headers = models.JSONField(default=dict, blank=True)
    assigned_dedup_key = models.CharField(max_length=255, blank=True)  # PagerDuty trigger without dedup_key
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The drain claims pending/failed rows that are due, oldest first.
            models.Index(fields=["state", "next_attempt_at", "id"], name="rawevent_due"),
        ]

    def __str__(self):
        return f"{self.endpoint} #{self.pk} ({self.state})"


class Alert(models.Model):
    """One alert: the identity is (integration, dedup_key) while it fires; a repeat bumps
    `count` and `last_seen_at`; after resolve the same key opens a new Alert."""

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    class Severity(models.TextChoices):
        CRITICAL = "critical", "Critical"
        ERROR = "error", "Error"
        WARNING = "warning", "Warning"
        INFO = "info", "Info"

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="alerts")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="alerts")
    source = models.CharField(max_length=20)  # the integration kind, or "monitor"
    dedup_key = models.CharField(max_length=255)
    summary = models.CharField(max_length=1024)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ERROR)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    links = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.FIRING)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1)
    group_key = models.CharField(max_length=255, blank=True)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    suppressed = models.CharField(max_length=20, blank=True)  # "", silenced, inhibited, maintenance
    decisions = models.JSONField(default=list, blank=True)  # [{at, what, detail}], newest last
    last_raw_event_id = models.BigIntegerField(default=0)  # ignore events older than the last applied
    # The sender's own time of the last event applied: the same trigger delivered twice
    # (Alertmanager resends its whole group; HA pairs both send) changes nothing.
    last_sender_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            # At most one open alert per key and integration: the dedup identity.
            models.UniqueConstraint(fields=["integration", "dedup_key"], condition=~models.Q(status="resolved"),
                                    name="alert_one_open_per_key"),
        ]
        indexes = [models.Index(fields=["service", "status"]), models.Index(fields=["incident", "status"])]

    def __str__(self):
        return f"{self.summary} ({self.status})"

    def decide(self, what: str, detail: str = "", when=None) -> None:
        self.decisions = [*self.decisions, {"at": (when or timezone.now()).isoformat(), "what": what,
                                            "detail": detail}][-50:]


class AlertGroup(models.Model):
    """The group an alert falls into on its service (per the grouping rule). Locked while an
    alert joins, so concurrent workers never open two incidents for one group."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="alert_groups")
    group_key = models.CharField(max_length=255)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    window_started_at = models.DateTimeField(default=timezone.now)
    alerts_in_window = models.PositiveIntegerField(default=0)
    last_alert_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["service", "group_key"], name="alert_group_unique")]
        indexes = [models.Index(fields=["last_alert_at"])]

    def __str__(self):
        return f"{self.service}: {self.group_key}"


class GroupingRule(models.Model):
    """How a service's alerts become incidents. Without one, the defaults apply:
    group by alertname, 1 h window, no cap, 10 min cooldown, auto-resolve on."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="grouping_rule")
    group_by = models.JSONField(default=list, blank=True,
                                help_text='Label names, e.g. ["alertname", "cluster"]. Empty: one group per service.')
    dedup_key_template = models.CharField(
        max_length=200, blank=True,
        help_text="Instead of labels: a template over {dedup_key}, {source} and labels, e.g. '{alertname}:{job}'.")
    window_seconds = models.PositiveIntegerField(default=3600,
                                                 help_text="Alerts join the group's incident for this long.")
    max_alerts = models.PositiveIntegerField(default=0, help_text="Cap per incident within a window; 0 = no cap.")
    cooldown_seconds = models.PositiveIntegerField(
        default=600, help_text="An alert firing again this soon after its incident resolved reopens it.")
    auto_resolve = models.BooleanField(default=True, help_text="Resolve the incident when all its alerts resolved.")
    auto_resolve_after_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Resolve the incident after this long without alert activity.")

    def __str__(self):
        return f"Grouping for {self.service}"


class Silence(models.Model):
    """Alertmanager-style silence: all matchers must match an alert's labels while active."""

    matchers = models.JSONField(help_text='[{"name": "alertname", "value": "DiskFull", "isRegex": false, '
                                          '"isEqual": true}]')
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE, related_name="silences",
                                help_text="Blank: every service.")
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    comment = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["ends_at"])]

    def __str__(self):
        return ", ".join(f"{m.get('name')}{'=~' if m.get('isRegex') else '='}{m.get('value')}" for m in self.matchers)

    def state(self, now=None) -> str:
        now = now or timezone.now()
        return "pending" if now < self.starts_at else "expired" if now >= self.ends_at else "active"


class InhibitionRule(models.Model):
    """While a firing alert matches the source matchers, alerts matching the target
    matchers with equal values of the `equal` labels are muted (as Alertmanager does)."""

    name = models.CharField(max_length=100)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="inhibition_rules", help_text="Blank: every service.")
    source_matchers = models.JSONField()
    target_matchers = models.JSONField()
    equal = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)

    def __str__(self):
        return self.name


class AlertSeverityRule(models.Model):
    """Maps an alert's severity and labels to an impact, which the P1–P4 matrix turns into
    a severity with the service's tier. First matching rule by position wins; without a
    match: critical → outage, error → partial, warning → degraded, info → cosmetic."""

    position = models.PositiveIntegerField(default=0)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="alert_severity_rules", help_text="Blank: every service.")
    alert_severity = models.CharField(max_length=10, choices=Alert.Severity.choices, blank=True,
                                      help_text="Blank: any.")
    matchers = models.JSONField(default=list, blank=True)
    impact = models.CharField(max_length=20, choices=Impact.choices)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return f"{self.alert_severity or 'any'} {self.matchers or ''} → {self.get_impact_display()}"


class RoutingRule(models.Model):
    """Picks the owning team and escalation policy for an incident raised from alerts; can
    hold low-severity incidents until business hours instead of paging now."""

    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="routing_rules", help_text="Blank: every service.")
    severities = models.JSONField(default=list, blank=True, help_text='e.g. ["P3", "P4"]; empty: any.')
    matchers = models.JSONField(default=list, blank=True)
    during = models.CharField(max_length=30, default="always",
                              choices=[("always", "Always"), ("business_hours", "In business hours"),
                                       ("outside_business_hours", "Outside business hours")])
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                             help_text="Owning team; blank keeps the service's team.")
    escalation_policy_slug = models.SlugField(max_length=100, blank=True)
    defer_to_business_hours = models.BooleanField(default=False,
                                                  help_text="Queue paging until the next business-hours start.")
    business_days = models.JSONField(default=list, blank=True, help_text="ISO weekdays, 1 = Monday; default Mon–Fri.")
    business_start = models.TimeField(default="09:00")
    business_end = models.TimeField(default="17:00")
    time_zone = models.CharField(max_length=64, default="UTC")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.name


class ChangeEvent(models.Model):
    """A PagerDuty-style change event (a deploy, a config change): shown on the service's
    timeline and on the incidents open when it happened. Never pages anyone."""

    integration = models.ForeignKey(Integration, on_delete=models.PROTECT, related_name="change_events")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="change_events")
    summary = models.CharField(max_length=1024)
    source = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField()
    custom_details = models.JSONField(default=dict, blank=True)
    links = models.JSONField(default=list, blank=True)
    raw_event = models.OneToOneField(RawEvent, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["service", "-occurred_at"])]

    def __str__(self):
        return self.summary


# --- playbooks: response reminders per severity (incidents/playbook/) -------------------------

class PlaybookTemplate(models.Model):
    """The response playbook of one severity: ordered steps, each a reminder to a role
    holder at an offset from the moment the incident got this severity. One active
    template per severity; reminders copy their step, so editing a template changes only
    incidents armed afterwards."""

    name = models.CharField(max_length=100)
    severity = models.CharField(max_length=2, choices=Severity.choices)
    grace_minutes = models.PositiveSmallIntegerField(
        default=10, validators=[MaxValueValidator(24 * 60)],
        help_text="A due step not done after this many minutes shows as overdue.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["severity", "name"]
        constraints = [
            models.UniqueConstraint(fields=["severity"], condition=models.Q(active=True),
                                    name="playbook_one_active_per_severity",
                                    violation_error_message="another active playbook has this severity"),
        ]

    def __str__(self):
        return f"{self.name} ({self.severity})"


class PlaybookStep(models.Model):
    template = models.ForeignKey(PlaybookTemplate, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    offset_minutes = models.PositiveIntegerField(
        validators=[MaxValueValidator(7 * 24 * 60)], help_text="Minutes after the incident got this severity.")
    role = models.CharField(max_length=20, choices=IncidentRole.choices,
                            help_text="Whose step it is; 'Engineering responder' means any responder.")
    text = models.CharField(max_length=300)
    repeat_every_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(5), MaxValueValidator(7 * 24 * 60)],
        help_text="Blank: once. Otherwise the step comes back this often until the incident is resolved.")

    class Meta:
        ordering = ["template_id", "position", "offset_minutes", "id"]

    def __str__(self):
        return f"+{self.offset_minutes} min {self.get_role_display()}: {self.text}"


class Reminder(models.Model):
    """One occurrence of a playbook step on one incident, and the durable row of its
    e-mail: (incident, step, occurrence) is unique, so neither a second worker nor a
    retried tick creates or sends it twice.

    state: upcoming (not yet due) -> due (the tick put it on the timeline) -> done, or
    skipped (the incident was resolved, or its severity changed before the step came up).
    notify_state: "" (nobody to e-mail) / pending -> sending -> sent | failed | cancelled.
    """

    class State(models.TextChoices):
        UPCOMING = "upcoming", "Upcoming"
        DUE = "due", "Due"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    class NotifyState(models.TextChoices):
        NONE = "", "Not e-mailed"
        PENDING = "pending", "Waiting to be e-mailed"
        SENDING = "sending", "Being e-mailed"
        SENT = "sent", "E-mailed"
        FAILED = "failed", "E-mail failed"
        CANCELLED = "cancelled", "E-mail not needed any more"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="reminders")
    step = models.ForeignKey(PlaybookStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="reminders")
    occurrence = models.PositiveIntegerField(default=1)
    # A copy of the step as it was when the incident was armed.
    severity = models.CharField(max_length=2, choices=Severity.choices)
    role = models.CharField(max_length=20, choices=IncidentRole.choices)
    text = models.CharField(max_length=300)
    repeat_every_minutes = models.PositiveIntegerField(null=True, blank=True)
    grace_minutes = models.PositiveSmallIntegerField(default=10)

    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.UPCOMING)
    fired_at = models.DateTimeField(null=True, blank=True)
    addressed_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    skipped_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=200, blank=True)

    notify_state = models.CharField(max_length=10, choices=NotifyState.choices, default=NotifyState.NONE,
                                    blank=True)
    notify_attempts = models.PositiveSmallIntegerField(default=0)
    notify_next_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    notify_error = models.CharField(max_length=500, blank=True)
    notify_message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["incident_id", "due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "step", "occurrence"], name="reminder_unique_occurrence"),
        ]
        indexes = [
            # The tick: upcoming reminders whose due_at has passed, oldest first.
            models.Index(fields=["state", "due_at"], name="reminder_due"),
            # The e-mail sweep: pending or stuck-sending rows whose next attempt is due.
            models.Index(fields=["notify_state", "notify_next_at"], name="reminder_notify_due"),
        ]

    def __str__(self):
        return f"{self.text} #{self.occurrence} ({self.state})"

    @property
    def overdue_at(self):
        return self.due_at + timedelta(minutes=self.grace_minutes)

    def shown_state(self, now=None) -> str:
        """What the workspace shows: upcoming, due, overdue (due and not done after the
        grace), done or skipped. Computed from the clock, so a step counts as due the
        moment due_at passes even if the tick has not run yet."""
        if self.state in (self.State.DONE, self.State.SKIPPED):
            return self.state
        now = now or timezone.now()
        if now < self.due_at:
            return "upcoming"
        return "due" if now < self.overdue_at else "overdue"
