"""Incidents, their append-only timeline, checklists, evidence and severity rules."""

from django.conf import settings
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
        NOTIFICATION = "notification", "Notification"
        NOTE = "note", "System note"

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
