"""Status pages: what customers see (pages, components, public incidents and maintenance,
their updates) and who is told (subscribers, stakeholder audiences, notices).

Public ids (`code`) are 12-character lowercase base-36 strings, as Statuspage's are, so
existing aggregators read our JSON unchanged; database ids never leave the building.
Writes go through `statuspages.actions`; public reads through `statuspages.public`.
"""

import secrets
import string

from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.db.models import Q
from django.utils import timezone

from alertum.core.models import MaintenanceWindow, Service, Team, validate_time_zone

_ALPHABET = string.ascii_lowercase + string.digits


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED = "degraded_performance", "Degraded performance"
    PARTIAL = "partial_outage", "Partial outage"
    MAJOR = "major_outage", "Major outage"
    MAINTENANCE = "under_maintenance", "Under maintenance"


# How bad a status is, for "the worst of": an outage shows through maintenance.
STATUS_RANK = {"operational": 0, "under_maintenance": 1, "degraded_performance": 2, "partial_outage": 3,
               "major_outage": 4}


def worst(statuses) -> str:
    return max(statuses, key=STATUS_RANK.__getitem__, default=ComponentStatus.OPERATIONAL)


class IncidentStatus(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"
    POSTMORTEM = "postmortem", "Postmortem"


UNRESOLVED = [IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING]


class MaintenanceStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    VERIFYING = "verifying", "Verifying"
    COMPLETED = "completed", "Completed"


class Impact(models.TextChoices):
    NONE = "none", "None"
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"
    MAINTENANCE = "maintenance", "Maintenance"


class StatusPage(models.Model):
    class Access(models.TextChoices):
        PUBLIC = "public", "Public"
        LOGIN = "login", "Signed-in staff only"
        PASSWORD = "password", "Shared password"
        IP = "ip", "IP allow-list"

    code = models.CharField(max_length=12, unique=True, default=new_code, editable=False)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="status_pages",
                             help_text="Its admins edit the page; its responders post incidents.")
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    custom_domain = models.CharField(max_length=253, unique=True, null=True, blank=True,
                                     help_text="e.g. status.example.com, served by its Host header")
    description = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    access = models.CharField(max_length=10, choices=Access.choices, default=Access.PUBLIC)
    password_hash = models.CharField(max_length=200, blank=True, editable=False)
    allowed_ips = models.TextField(blank=True, help_text="One address or CIDR network per line.")
    # The logo is stored here and served by us: a page must make no third-party request.
    logo = models.BinaryField(null=True, blank=True, editable=False)
    logo_type = models.CharField(max_length=40, blank=True, editable=False)
    support_url = models.URLField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def set_password(self, raw: str) -> None:
        self.password_hash = make_password(raw)

    def check_password(self, raw: str) -> bool:
        return bool(self.password_hash) and check_password(raw, self.password_hash)

    @property
    def ip_networks(self) -> list[str]:
        return [line.strip() for line in self.allowed_ips.splitlines() if line.strip()]


class Component(models.Model):
    """A component or a component group (`is_group`); two levels: a leaf may sit in a
    group, a group sits at the top. `status` is what customers see; `reported_status`
    is what a person or a public incident update last said; for `automatic`
    components the shown status is the worse of that and what linked monitors,
    internal incidents and running maintenance say (statuspages.actions.recompute)."""

    code = models.CharField(max_length=12, unique=True, default=new_code, editable=False)
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="components")
    group = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children",
                              limit_choices_to={"is_group": True})
    is_group = models.BooleanField(default=False)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=24, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL)
    reported_status = models.CharField(max_length=24, choices=ComponentStatus.choices,
                                       default=ComponentStatus.OPERATIONAL)
    automatic = models.BooleanField(default=True, help_text="Also derive the status from linked monitors, "
                                    "open internal incidents on linked services and running maintenance.")
    showcase = models.BooleanField(default=True, help_text="Show the 90-day uptime bar.")
    only_show_if_degraded = models.BooleanField(default=False)
    start_date = models.DateField(null=True, blank=True, help_text="Uptime is counted from this day.")
    services = models.ManyToManyField(Service, blank=True, related_name="status_components")
    monitors = models.ManyToManyField("monitoring.Monitor", blank=True, related_name="status_components")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["page", "name"], name="component_unique_name")]

    def __str__(self):
        return f"{self.name} ({self.page})"


class ComponentStatusChange(models.Model):
    """Every change of a component's shown status: the source of its uptime bars."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="status_changes")
    at = models.DateTimeField(default=timezone.now)
    old_status = models.CharField(max_length=24, choices=ComponentStatus.choices, blank=True)
    status = models.CharField(max_length=24, choices=ComponentStatus.choices)

    class Meta:
        ordering = ["component_id", "at", "id"]
        indexes = [models.Index(fields=["component", "at"])]


class PublicIncident(models.Model):
    """What customers are told about an incident, linked to the internal one. Only the
    fields here and the public updates' text ever reach a public page."""

    code = models.CharField(max_length=12, unique=True, default=new_code, editable=False)
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="incidents")
    incident = models.ForeignKey("incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="public_incidents")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=IncidentStatus.choices, default=IncidentStatus.INVESTIGATING)
    impact_override = models.CharField(max_length=12, choices=Impact.choices[:4], blank=True)
    impact = models.CharField(max_length=12, choices=Impact.choices, default=Impact.NONE)
    components = models.ManyToManyField(Component, blank=True, related_name="incidents")
    postmortem_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(default=timezone.now)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["page", "status"]), models.Index(fields=["page", "-created_at"])]

    def __str__(self):
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status in UNRESOLVED


class PublicMaintenance(models.Model):
    """Scheduled maintenance told to customers, on top of a core maintenance window: the
    window's state (moved by hand or by the core tick) is the truth; `status` mirrors it
    and `seen_state` lets the status-page tick notice a move and tell subscribers."""

    code = models.CharField(max_length=12, unique=True, default=new_code, editable=False)
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="maintenances")
    window = models.ForeignKey(MaintenanceWindow, on_delete=models.PROTECT, related_name="public_maintenances")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=MaintenanceStatus.choices, default=MaintenanceStatus.SCHEDULED)
    impact = models.CharField(max_length=12, choices=Impact.choices, default=Impact.MAINTENANCE)
    components = models.ManyToManyField(Component, blank=True, related_name="maintenances")
    remind_prior = models.BooleanField(default=True, help_text="E-mail subscribers an hour before it starts.")
    reminded_at = models.DateTimeField(null=True, blank=True)
    cancelled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The tick looks only at maintenance that is not finished.
    done = models.BooleanField(default=False, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name


class PublicUpdate(models.Model):
    """One public update of an incident or a maintenance (exactly one of the two)."""

    code = models.CharField(max_length=12, unique=True, default=new_code, editable=False)
    incident = models.ForeignKey(PublicIncident, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="updates")
    maintenance = models.ForeignKey(PublicMaintenance, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="updates")
    status = models.CharField(max_length=20)  # an IncidentStatus or a MaintenanceStatus value
    body = models.TextField()
    affected_components = models.JSONField(null=True, blank=True)  # [{code, name, old_status, new_status}]
    deliver_notifications = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    display_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-display_at", "-id"]
        constraints = [models.CheckConstraint(
            condition=Q(incident__isnull=False, maintenance__isnull=True) | Q(incident__isnull=True,
                                                                               maintenance__isnull=False),
            name="public_update_one_subject")]

    def __str__(self):
        return f"{self.status}: {self.body[:60]}"


class MessageTemplate(models.Model):
    """A ready-made update text per state, offered when posting (page-specific)."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="templates")
    status = models.CharField(max_length=20, choices=IncidentStatus.choices + MaintenanceStatus.choices)
    name = models.CharField(max_length=100)
    body = models.TextField()

    class Meta:
        ordering = ["status", "name"]
        constraints = [models.UniqueConstraint(fields=["page", "status", "name"], name="template_unique")]

    def __str__(self):
        return f"{self.name} ({self.status})"


class Subscriber(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    code = models.CharField(max_length=12, unique=True, default=new_code, editable=False)
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="subscribers")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    email = models.EmailField(blank=True)
    url = models.URLField(blank=True, max_length=500)
    # The Standard Webhooks secret we sign with; it must be usable, so it is not hashed
    # (it is ours, given to the subscriber once, and never shown again).
    secret = models.CharField(max_length=100, blank=True, editable=False)
    components = models.ManyToManyField(Component, blank=True, related_name="subscribers",
                                        help_text="None chosen: told about everything on the page.")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["page", "email"], condition=Q(kind="email"),
                                    name="subscriber_unique_email"),
            models.UniqueConstraint(fields=["page", "url"], condition=Q(kind="webhook"),
                                    name="subscriber_unique_url"),
        ]

    def __str__(self):
        return self.email or self.url

    @property
    def is_active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


class StakeholderAudience(models.Model):
    """An internal audience told about serious incidents: an e-mail group or a chat channel."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail group"
        SLACK = "slack", "Slack channel"
        TEAMS = "teams", "Microsoft Teams channel"
        WEBHOOK = "webhook", "Signed webhook"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.TextField(help_text="E-mail addresses (one per line) or the channel's webhook URL.")
    secret = models.CharField(max_length=100, blank=True, editable=False)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                             help_text="Only incidents of this team; empty: every team.")
    severities = models.JSONField(default=list, blank=True, help_text='e.g. ["P1", "P2"]')
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def targets(self) -> list[str]:
        if self.kind == self.Kind.EMAIL:
            return [line.strip() for line in self.target.replace(",", "\n").splitlines() if line.strip()]
        return [self.target.strip()]


class Notice(models.Model):
    """One message to one subscriber or audience target. Written with a unique key inside
    the action's transaction, sent after commit by a task that claims it, retried by the
    delivery tick; a repeat of the same event finds the key and sends nothing."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    key = models.CharField(max_length=200, unique=True)
    page = models.ForeignKey(StatusPage, null=True, blank=True, on_delete=models.CASCADE, related_name="notices")
    subscriber = models.ForeignKey(Subscriber, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="notices")
    audience = models.ForeignKey(StakeholderAudience, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="notices")
    kind = models.CharField(max_length=10)  # a transport kind: email, webhook, slack, teams
    target = models.JSONField()  # an address, a URL, or {"url", "secret"}
    event = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    text = models.TextField(blank=True)
    urls = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The delivery tick claims due rows by state and time.
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self):
        return f"{self.event} → {self.target if isinstance(self.target, str) else self.target.get('url')}"
