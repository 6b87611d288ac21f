"""People, teams and roles; the service catalog; maintenance windows; API tokens;
the audit trail. Imports no other Alertum app."""

import hashlib
import secrets
import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from alertum.core.hashchain import AppendOnlyQuerySet, entry_hash

TIME_ZONE_NAMES = sorted(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (use an IANA name such as Europe/Amsterdam)")


class User(AbstractUser):
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone],
                                 help_text="IANA name, e.g. Europe/Amsterdam; times are shown in it.")

    def __str__(self):
        return self.get_full_name() or self.username


class Role(models.TextChoices):
    """Per-team roles, weakest first. Comparisons go through RANK."""

    VIEWER = "viewer", "Viewer"
    RESPONDER = "responder", "Responder"
    COMMANDER = "commander", "Incident commander"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 1, Role.RESPONDER: 2, Role.COMMANDER: 3, Role.ADMIN: 4}


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(User, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RESPONDER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique")]
        ordering = ["team__name", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.get_role_display()})"


class Service(models.Model):
    class Tier(models.IntegerChoices):
        TIER_1 = 1, "Tier 1 (business critical)"
        TIER_2 = 2, "Tier 2"
        TIER_3 = 3, "Tier 3"
        TIER_4 = 4, "Tier 4 (low impact)"

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    owner_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    tier = models.PositiveSmallIntegerField(
        choices=Tier.choices, default=Tier.TIER_3, validators=[MinValueValidator(1), MaxValueValidator(4)]
    )
    runbook_url = models.URLField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="dependents")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class MaintenanceWindow(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        IN_PROGRESS = "in_progress", "In progress"
        VERIFYING = "verifying", "Verifying"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    services = models.ManyToManyField(Service, related_name="maintenance_windows")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.SCHEDULED)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                   name="maintenance_ends_after_start")
        ]
        # The maintenance tick scans by state and time.
        indexes = [models.Index(fields=["state", "starts_at"]), models.Index(fields=["state", "ends_at"])]

    def __str__(self):
        return self.title

    def is_active_at(self, when) -> bool:
        return self.state in (self.State.IN_PROGRESS, self.State.VERIFYING) or (
            self.state == self.State.SCHEDULED and self.starts_at <= when < self.ends_at
        )


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 is stored; the raw value is shown once.

    Tokens look like `alt_<prefix>_<secret>`; the prefix is stored in clear so a user
    can tell tokens apart, and lookups go by the hash (unique index).
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="api_token_unique_name")]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Return (raw token, prefix, hash)."""
        prefix = secrets.token_hex(4)
        raw = f"alt_{prefix}_{secrets.token_urlsafe(32)}"
        return raw, prefix, _hash_token(raw)

    @classmethod
    def lookup(cls, raw: str):
        return cls.objects.select_related("user").filter(token_hash=_hash_token(raw), revoked_at=None).first()


class Door(models.TextChoices):
    """Which door a change came through (the `source` of actions)."""

    WEB = "web", "Web"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    PAGE_LINK = "page-link", "Signed link"
    INTAKE = "intake", "Intake"
    MONITOR = "monitor", "Monitor"
    BEAT = "beat", "Scheduler"
    CLI = "cli", "Command line"
    SYSTEM = "system", "System"


class AuditEntryQuerySet(AppendOnlyQuerySet, models.QuerySet):
    pass


class AuditEntry(models.Model):
    """Append-only, hash-chained record of security-relevant and configuration changes.

    Rows are written only by `alertum.core.audit.record`, which locks the chain head.
    The model refuses save-on-existing and delete; PostgreSQL refuses UPDATE/DELETE
    with a trigger (migration 0002).
    """

    seq = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False,
                              related_name="+")
    actor_repr = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=60)  # e.g. "service.updated", "token.created"
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    source = models.CharField(max_length=20, choices=Door.choices)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        verbose_name_plural = "audit trail"

    def __str__(self):
        return f"#{self.seq} {self.action} {self.object_repr}"

    def hashed_fields(self) -> dict:
        return {
            "seq": self.seq,
            "occurred_at": self.occurred_at,
            "actor": self.actor_id,
            "actor_repr": self.actor_repr,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "changes": self.changes,
            "ip_address": self.ip_address,
            "source": self.source,
        }

    def compute_hash(self) -> str:
        return entry_hash(self.prev_hash, self.hashed_fields())

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit entries are append-only")


class AuditHead(models.Model):
    """One row: the last seq and hash of the audit chain. Locked to append, so
    concurrent writers serialise on it instead of forking the chain."""

    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)


class ContactThrottle(models.Model):
    """Recent sends of one kind (sms, voice, e-mail) to one contact, for the per-contact
    throttles of alertum/core/notify/throttle.py.

    One row per (kind, contact), locked while counting, so every worker process sees the
    same sends; `sent_at` keeps only the unix times still inside the window (at most the
    limit), so a row stays small.
    """

    kind = models.CharField(max_length=20)
    contact_key = models.CharField(max_length=64)  # SHA-256 of the contact: fixed length, no address in clear
    sent_at = models.JSONField(default=list)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "contact_key"], name="contact_throttle_unique")]

    def __str__(self):
        return f"{self.kind} {self.contact_key[:12]}… ({len(self.sent_at)} recent)"
