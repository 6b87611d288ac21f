"""Escalation and paging: who gets paged for an incident, how and when.

Configuration: each person's contact methods and notification rules; each team's
channels (a Slack webhook, an e-mail group …); escalation policies with ordered levels of
targets, per-severity variants, and the service each policy is the default for.

State: one `Escalation` per incident (and per reopen) holding a snapshot of its policy
and the indexed `next_escalation_at` the engine tick claims; one `Page` row per
notification, with a unique key, written before it is sent (DESIGN.md, "Pages are
durable"). The engine is `oncall/engine.py`; the only write path is `oncall/actions.py`.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from alertum.core.models import Service, Team
from incidents.models import Incident, Severity
from oncall.schedules.models import Schedule


class Urgency(models.TextChoices):
    HIGH = "high", "High urgency"
    LOW = "low", "Low urgency"


class ContactMethod(models.Model):
    """One way to reach one person: an address of a transport kind."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        SMS = "sms", "SMS"
        VOICE = "voice", "Voice call"
        SLACK = "slack", "Slack (incoming webhook)"
        TEAMS = "teams", "Microsoft Teams (webhook)"
        WEBHOOK = "webhook", "Webhook"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField(max_length=500, help_text="E-mail address, E.164 phone number or webhook URL.")
    label = models.CharField(max_length=100, blank=True, help_text="e.g. Work phone")
    secret = models.CharField(max_length=100, blank=True, editable=False,
                              help_text="whsec_… signing secret for webhooks (generated).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["user_id", "kind", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "kind", "address"], name="contact_method_unique")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.label or self.address}"


class NotificationRule(models.Model):
    """'Notify me by this method N minutes after I am paged'. Each urgency has its own
    ordered list; a page at high urgency follows the high list, a low one the low list."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_rules")
    contact_method = models.ForeignKey(ContactMethod, on_delete=models.CASCADE, related_name="rules")
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.HIGH)
    delay_minutes = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(1440)])

    class Meta:
        ordering = ["user_id", "urgency", "delay_minutes", "id"]
        constraints = [models.UniqueConstraint(fields=["contact_method", "urgency", "delay_minutes"],
                                               name="notification_rule_unique")]

    def __str__(self):
        return f"{self.contact_method} after {self.delay_minutes} min ({self.urgency})"


class TeamChannel(models.Model):
    """A team's shared destination: a Slack or Teams channel webhook, an e-mail group, or
    a signed webhook (the secret signs it, per Standard Webhooks)."""

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack (incoming webhook)"
        TEAMS = "teams", "Microsoft Teams (webhook)"
        EMAIL = "email", "E-mail group"
        WEBHOOK = "webhook", "Webhook (Standard Webhooks, signed)"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    address = models.CharField(max_length=500, help_text="Webhook URL or e-mail address.")
    secret = models.CharField(max_length=100, blank=True, editable=False,
                              help_text="whsec_… signing secret for webhooks (generated).")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="team_channel_unique_name")]

    def __str__(self):
        return f"{self.team} · {self.name}"


class EscalationPolicy(models.Model):
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalation_policies")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True,
                            help_text="Routing rules pick the policy by this slug.")
    description = models.TextField(blank=True)
    repeat_count = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(9)], help_text="Run the whole policy again this many times.")
    repeat_after_minutes = models.PositiveIntegerField(
        default=15, validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text="After the last level, wait this long before starting again from level 1.")
    notify_on_resolve = models.BooleanField(default=True, help_text="Tell everyone who was paged when it resolves.")
    digest_interval_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5), MaxValueValidator(1440)],
        help_text="Severities set to 'digest' are collected and sent this often.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team__name", "name"]
        verbose_name_plural = "escalation policies"
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="policy_unique_name_per_team")]

    def __str__(self):
        return self.name


class EscalationLevel(models.Model):
    """Level n fires `delay_minutes` after level n-1 fired (level 1: after the incident
    triggered, or after its paging was released)."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="levels")
    position = models.PositiveSmallIntegerField()
    delay_minutes = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(1440)])

    class Meta:
        ordering = ["policy_id", "position"]
        constraints = [models.UniqueConstraint(fields=["policy", "position"], name="level_unique_position")]

    def __str__(self):
        return f"{self.policy} · level {self.position}"


class EscalationTarget(models.Model):
    class Kind(models.TextChoices):
        USER = "user", "Person"
        SCHEDULE = "schedule", "Schedule (whoever is on call)"
        CHANNEL = "channel", "Team channel"

    level = models.ForeignKey(EscalationLevel, on_delete=models.CASCADE, related_name="targets")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    schedule = models.ForeignKey(Schedule, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(TeamChannel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["level_id", "id"]
        constraints = [
            models.CheckConstraint(name="target_matches_kind", condition=(
                models.Q(kind="user", user__isnull=False, schedule__isnull=True, channel__isnull=True)
                | models.Q(kind="schedule", user__isnull=True, schedule__isnull=False, channel__isnull=True)
                | models.Q(kind="channel", user__isnull=True, schedule__isnull=True, channel__isnull=False))),
        ]

    def __str__(self):
        return str(self.subject)

    @property
    def subject(self):
        return {"user": self.user, "schedule": self.schedule, "channel": self.channel}[self.kind]


class SeverityVariant(models.Model):
    """How the policy treats one severity: page (optionally escalating faster, at a given
    urgency) or collect into a digest instead of paging."""

    class Mode(models.TextChoices):
        PAGE = "page", "Page"
        DIGEST = "digest", "Digest instead of paging"

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="variants")
    severity = models.CharField(max_length=2, choices=Severity.choices)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.PAGE)
    escalate_after_minutes = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(1440)],
        help_text="Replaces the delay of every level after the first; blank keeps the levels' own delays.")
    repeat_count = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(9)],
                                                    help_text="Blank keeps the policy's.")
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.HIGH)

    class Meta:
        ordering = ["policy_id", "severity"]
        constraints = [models.UniqueConstraint(fields=["policy", "severity"], name="variant_unique_severity")]

    def __str__(self):
        return f"{self.policy} · {self.severity}: {self.get_mode_display()}"


class ServicePolicy(models.Model):
    """A service's default escalation policy (a routing rule's policy wins over it)."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="escalation")
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.PROTECT, related_name="services")

    class Meta:
        verbose_name = "service escalation policy"
        verbose_name_plural = "service escalation policies"

    def __str__(self):
        return f"{self.service} → {self.policy}"


class Escalation(models.Model):
    """One run of a policy over one incident (a reopen starts another). `snapshot` is the
    policy as it was when the run started; `next_escalation_at` is what the tick claims."""

    class State(models.TextChoices):
        ACTIVE = "active", "Escalating"
        EXHAUSTED = "exhausted", "All levels paged; waiting for acknowledgement"
        DIGEST = "digest", "Put into the digest"
        ACKNOWLEDGED = "acknowledged", "Stopped: acknowledged"
        RESOLVED = "resolved", "Stopped: resolved"
        NO_POLICY = "no_policy", "No escalation policy"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="escalations")
    policy = models.ForeignKey(EscalationPolicy, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="escalations")
    chosen_by = models.CharField(max_length=200, blank=True)  # "routing rule “x”" / "service Checkout"
    snapshot = models.JSONField(default=dict, blank=True)
    severity = models.CharField(max_length=2, choices=Severity.choices)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.HIGH)
    mode = models.CharField(max_length=10, choices=SeverityVariant.Mode.choices, default=SeverityVariant.Mode.PAGE)
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE)
    next_level = models.PositiveSmallIntegerField(default=0)  # index into snapshot["levels"]
    repeat = models.PositiveSmallIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # At most one running escalation per incident: a duplicate trigger signal is a no-op.
            models.UniqueConstraint(fields=["incident"], condition=models.Q(state="active"),
                                    name="escalation_one_running_per_incident"),
        ]
        indexes = [
            # The tick: WHERE next_escalation_at <= now (only running rows have one).
            models.Index(fields=["next_escalation_at"], name="escalation_due",
                         condition=models.Q(next_escalation_at__isnull=False)),
        ]

    def __str__(self):
        return f"Escalation of incident {self.incident_id} ({self.state})"

    @property
    def is_running(self) -> bool:
        return self.state == self.State.ACTIVE

    @property
    def levels(self) -> list[dict]:
        return self.snapshot.get("levels", [])


class Page(models.Model):
    """One notification to one person (one rule step) or one channel. The unique key is
    written inside the transaction that decides to page; a worker claims the row (pending
    → sending) before it calls the transport, so a retry or a second worker never pages
    twice, and a sweeper re-sends rows a dead worker left behind."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Purpose(models.TextChoices):
        PAGE = "page", "Page"
        DIGEST = "digest", "Digest"
        RESOLVED = "resolved", "Resolved notice"

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="pages")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="pages")
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.PAGE)
    level = models.PositiveSmallIntegerField(default=0)  # 1-based; 0 for resolved notices
    repeat = models.PositiveSmallIntegerField(default=0)
    target_key = models.CharField(max_length=40)  # "user:7", "channel:3"
    step = models.PositiveSmallIntegerField(default=0)  # the notification rule's place in the person's list
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="pages")
    channel = models.ForeignKey(TeamChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=10)  # the transport
    address = models.CharField(max_length=500)
    via = models.CharField(max_length=200, blank=True)  # "level 2 · schedule Primary"
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.HIGH)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    due_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    provider_id = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["escalation", "purpose", "level", "repeat", "target_key", "step"],
                                    name="page_unique_key"),
        ]
        indexes = [
            # The sweeper: pending rows past due, sending rows past their lease.
            models.Index(fields=["next_attempt_at"], name="page_pending_due", condition=models.Q(state="pending")),
            models.Index(fields=["lease_until"], name="page_sending_lease", condition=models.Q(state="sending")),
            models.Index(fields=["incident", "recipient"]),
            models.Index(fields=["recipient", "created_at"]),
        ]

    def __str__(self):
        return self.key

    @property
    def key(self) -> str:
        """Stable across retries: the webhook-id receivers deduplicate by."""
        return (f"page-{self.incident_id}-{self.escalation_id}-{self.purpose}-{self.level}-{self.repeat}-"
                f"{self.target_key.replace(':', '')}-{self.step}")
