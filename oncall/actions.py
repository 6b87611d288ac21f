"""The write path for escalation configuration and for the signed-link door.

Who may (global admins may do everything; `actor=None` is the system: seeds, commands):
- escalation policies, their levels, targets and severity variants, and team channels:
  admins of the owning team;
- a service's default policy: admins of the service's owning team;
- contact methods and notification rules: the person themselves.

Every change goes through `alertum.core.actions.save_config` / `delete_config`, so it is
audited with its door. Escalations already running are not touched by any of this: they
run from the snapshot taken when they started.

Locks: a policy edit locks the policy row (select_for_update) before its levels, so two
editors renumbering levels queue; the audit head is locked last, by save_config.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Max

from alertum.core import audit
from alertum.core.actions import delete_config, save_config
from alertum.core.errors import Conflict, Forbidden, Invalid, NotFound
from alertum.core.models import Door, Role, Service, User
from alertum.core.notify.webhook import generate_secret
from alertum.core.permissions import has_team_role, is_admin, is_member_anywhere
from incidents import actions as incident_actions
from incidents.models import Incident, Severity, Status
from oncall.links import LinkClaim
from oncall.models import (
    ContactMethod,
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    NotificationRule,
    Page,
    ServicePolicy,
    SeverityVariant,
    TeamChannel,
    Urgency,
)
from oncall.schedules.models import Schedule

MAX_LEVELS = 20
MAX_TARGETS = 20


# --- who may ------------------------------------------------------------------------------------

def may_configure_team(user, team_id: int) -> bool:
    return has_team_role(user, team_id, Role.ADMIN)


def _require_team_admin(actor, team_id: int, what: str) -> None:
    if actor is not None and not may_configure_team(actor, team_id):
        raise Forbidden(f"you need the admin role in the team to change {what}")


def _require_self(actor, user: User) -> None:
    if actor is not None and actor.pk != user.pk and not is_admin(actor):
        raise Forbidden("you may change only your own contact methods and notification rules")


def _save(obj, *, actor, source, ip_address, fields, before=None, m2m=None):
    try:
        with transaction.atomic():
            return save_config(obj, actor=actor, source=source, ip_address=ip_address, before=before, fields=fields,
                               m2m=m2m)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items())) if hasattr(exc, "error_dict") else (None, exc.messages)
        text = " ".join(messages)
        if field in (None, "__all__"):
            raise Invalid(text) from None
        raise Invalid(f"{field}: {text}", field=field) from None
    except IntegrityError as exc:
        raise Conflict(f"that would duplicate an existing entry ({exc})") from None


def _delete(obj, *, actor, source, ip_address, in_use: str):
    try:
        delete_config(obj, actor=actor, source=source, ip_address=ip_address)
    except (models.ProtectedError, models.RestrictedError):
        raise Conflict(in_use) from None


def _apply(obj, values: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise Invalid(f"cannot set {', '.join(unknown)}", field=unknown[0])
    for name, value in values.items():
        if isinstance(value, str):
            value = value.strip()
        setattr(obj, name, value)


# --- policies ------------------------------------------------------------------------------------

POLICY_FIELDS = ("team", "name", "slug", "description", "repeat_count", "repeat_after_minutes", "notify_on_resolve",
                 "digest_interval_minutes")


def create_policy(*, actor, source: str, ip_address=None, **values) -> EscalationPolicy:
    policy = EscalationPolicy()
    _apply(policy, values, POLICY_FIELDS)
    if policy.team_id is None:
        raise Invalid("team is required", field="team")
    _require_team_admin(actor, policy.team_id, "its escalation policies")
    if EscalationPolicy.objects.filter(slug=policy.slug).exists():
        raise Conflict(f"a policy with slug {policy.slug!r} exists already", field="slug")
    return _save(policy, actor=actor, source=source, ip_address=ip_address, fields=list(POLICY_FIELDS))


def update_policy(policy: EscalationPolicy, *, actor, source: str, ip_address=None, **changes) -> EscalationPolicy:
    with transaction.atomic():
        policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
        _require_team_admin(actor, policy.team_id, "its escalation policies")
        before = audit.snapshot(policy, list(POLICY_FIELDS))
        _apply(policy, changes, POLICY_FIELDS)
        _require_team_admin(actor, policy.team_id, "its escalation policies")
        if "slug" in changes and EscalationPolicy.objects.filter(slug=policy.slug).exclude(pk=policy.pk).exists():
            raise Conflict(f"a policy with slug {policy.slug!r} exists already", field="slug")
        return _save(policy, actor=actor, source=source, ip_address=ip_address, fields=list(POLICY_FIELDS),
                     before=before)


def delete_policy(policy: EscalationPolicy, *, actor, source: str, ip_address=None) -> None:
    _require_team_admin(actor, policy.team_id, "its escalation policies")
    _delete(policy, actor=actor, source=source, ip_address=ip_address,
            in_use=f"“{policy}” is the default policy of {policy.services.count()} service(s); assign them "
                   "another policy first")


# --- levels and targets ---------------------------------------------------------------------------

def add_level(policy: EscalationPolicy, *, delay_minutes: int = 0, actor, source: str,
              ip_address=None) -> EscalationLevel:
    """Append a level to the end of the policy."""
    with transaction.atomic():
        policy = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
        _require_team_admin(actor, policy.team_id, "its escalation policies")
        if policy.levels.count() >= MAX_LEVELS:
            raise Invalid(f"a policy has at most {MAX_LEVELS} levels", field="position")
        position = (policy.levels.aggregate(m=Max("position"))["m"] or 0) + 1
        level = EscalationLevel(policy=policy, position=position, delay_minutes=delay_minutes)
        return _save(level, actor=actor, source=source, ip_address=ip_address,
                     fields=["policy", "position", "delay_minutes"])


def update_level(level: EscalationLevel, *, delay_minutes: int, actor, source: str, ip_address=None):
    with transaction.atomic():
        EscalationPolicy.objects.select_for_update().get(pk=level.policy_id)
        level = EscalationLevel.objects.select_related("policy").get(pk=level.pk)
        _require_team_admin(actor, level.policy.team_id, "its escalation policies")
        before = audit.snapshot(level, ["delay_minutes"])
        level.delay_minutes = delay_minutes
        return _save(level, actor=actor, source=source, ip_address=ip_address, fields=["delay_minutes"],
                     before=before)


def delete_level(level: EscalationLevel, *, actor, source: str, ip_address=None) -> None:
    """Remove a level; the ones after it move up."""
    with transaction.atomic():
        policy = EscalationPolicy.objects.select_for_update().get(pk=level.policy_id)
        _require_team_admin(actor, policy.team_id, "its escalation policies")
        position = level.position
        _delete(level, actor=actor, source=source, ip_address=ip_address, in_use="the level is still in use")
        for later in policy.levels.filter(position__gt=position).order_by("position"):
            later.position -= 1
            later.save(update_fields=["position"])


def add_target(level: EscalationLevel, *, kind: str, user: User | None = None, schedule: Schedule | None = None,
               channel: TeamChannel | None = None, actor, source: str, ip_address=None) -> EscalationTarget:
    level = EscalationLevel.objects.select_related("policy").get(pk=level.pk)
    policy = level.policy
    _require_team_admin(actor, policy.team_id, "its escalation policies")
    if kind not in EscalationTarget.Kind.values:
        raise Invalid(f"kind must be one of {', '.join(EscalationTarget.Kind.values)}; got {kind!r}", field="kind")
    subject = {"user": user, "schedule": schedule, "channel": channel}[kind]
    if subject is None:
        raise Invalid(f"name the {kind} to page", field=kind)
    if kind == "user" and not (subject.is_active and is_member_anywhere(subject)):
        raise Invalid(f"{subject} is not an active member of any team", field="user")
    if kind == "channel" and subject.team_id != policy.team_id:
        raise Invalid(f"channel {subject.name} belongs to another team", field="channel")
    if level.targets.count() >= MAX_TARGETS:
        raise Invalid(f"a level has at most {MAX_TARGETS} targets", field=kind)
    if level.targets.filter(**{"kind": kind, kind: subject}).exists():
        raise Conflict(f"{subject} is already a target of level {level.position}", field=kind)
    target = EscalationTarget(level=level, kind=kind, **{kind: subject})
    return _save(target, actor=actor, source=source, ip_address=ip_address,
                 fields=["level", "kind", "user", "schedule", "channel"])


def remove_target(target: EscalationTarget, *, actor, source: str, ip_address=None) -> None:
    _require_team_admin(actor, target.level.policy.team_id, "its escalation policies")
    _delete(target, actor=actor, source=source, ip_address=ip_address, in_use="the target is still in use")


# --- severity variants ----------------------------------------------------------------------------

VARIANT_FIELDS = ("mode", "escalate_after_minutes", "repeat_count", "urgency")


def set_variant(policy: EscalationPolicy, severity: str, *, actor, source: str, ip_address=None,
                **values) -> SeverityVariant:
    """Create or change how the policy treats one severity."""
    if severity not in Severity.values:
        raise Invalid(f"severity must be one of {', '.join(Severity.values)}; got {severity!r}", field="severity")
    _require_team_admin(actor, policy.team_id, "its escalation policies")
    with transaction.atomic():
        variant = SeverityVariant.objects.select_for_update().filter(policy=policy, severity=severity).first()
        before = audit.snapshot(variant, list(VARIANT_FIELDS)) if variant else None
        variant = variant or SeverityVariant(policy=policy, severity=severity)
        _apply(variant, values, VARIANT_FIELDS)
        return _save(variant, actor=actor, source=source, ip_address=ip_address,
                     fields=["policy", "severity", *VARIANT_FIELDS], before=before)


def delete_variant(variant: SeverityVariant, *, actor, source: str, ip_address=None) -> None:
    _require_team_admin(actor, variant.policy.team_id, "its escalation policies")
    _delete(variant, actor=actor, source=source, ip_address=ip_address, in_use="the variant is still in use")


# --- service defaults -----------------------------------------------------------------------------

def assign_policy(service: Service, policy: EscalationPolicy | None, *, actor, source: str,
                  ip_address=None) -> ServicePolicy | None:
    """Make `policy` the service's default (None: the service has no default)."""
    if actor is not None and not has_team_role(actor, service.owner_team_id, Role.ADMIN):
        raise Forbidden(f"you need the admin role in {service.owner_team} to set {service}'s escalation policy")
    with transaction.atomic():
        current = ServicePolicy.objects.select_for_update().filter(service=service).first()
        if policy is None:
            if current is not None:
                _delete(current, actor=actor, source=source, ip_address=ip_address, in_use="in use")
            return None
        before = audit.snapshot(current, ["policy"]) if current else None
        current = current or ServicePolicy(service=service)
        current.policy = policy
        return _save(current, actor=actor, source=source, ip_address=ip_address, fields=["service", "policy"],
                     before=before)


# --- team channels --------------------------------------------------------------------------------

CHANNEL_FIELDS = ("team", "name", "kind", "address", "active")


def create_channel(*, actor, source: str, ip_address=None, **values) -> TeamChannel:
    channel = TeamChannel()
    _apply(channel, values, CHANNEL_FIELDS)
    if channel.team_id is None:
        raise Invalid("team is required", field="team")
    _require_team_admin(actor, channel.team_id, "its channels")
    _check_address(channel.kind, channel.address)
    if channel.kind == TeamChannel.Kind.WEBHOOK:
        channel.secret = generate_secret()
    if TeamChannel.objects.filter(team_id=channel.team_id, name=channel.name).exists():
        raise Conflict(f"the team has a channel named {channel.name!r} already", field="name")
    return _save(channel, actor=actor, source=source, ip_address=ip_address, fields=["team", "name", "kind", "active"])


def update_channel(channel: TeamChannel, *, actor, source: str, ip_address=None, **changes) -> TeamChannel:
    with transaction.atomic():
        channel = TeamChannel.objects.select_for_update().get(pk=channel.pk)
        _require_team_admin(actor, channel.team_id, "its channels")
        before = audit.snapshot(channel, ["name", "kind", "active"])
        _apply(channel, changes, ("name", "address", "active"))
        _check_address(channel.kind, channel.address)
        return _save(channel, actor=actor, source=source, ip_address=ip_address, fields=["name", "kind", "active"],
                     before=before)


def delete_channel(channel: TeamChannel, *, actor, source: str, ip_address=None) -> None:
    _require_team_admin(actor, channel.team_id, "its channels")
    _delete(channel, actor=actor, source=source, ip_address=ip_address,
            in_use=f"channel {channel.name} is a target of an escalation policy; remove it there first")


def _check_address(kind: str, address: str) -> None:
    from django.core.validators import EmailValidator, URLValidator

    address = (address or "").strip()
    if not address:
        raise Invalid("address is required", field="address")
    try:
        if kind == "email":
            EmailValidator()(address)
        elif kind in ("sms", "voice"):
            digits = address.replace(" ", "")
            if not (digits.startswith("+") and digits[1:].isdigit() and 8 <= len(digits) <= 16):
                raise ValidationError("a phone number in E.164 form, e.g. +31612345678")
        elif kind in ("slack", "teams", "webhook"):
            URLValidator(schemes=["http", "https"])(address)
        else:
            raise ValidationError(f"unknown kind {kind!r}")
    except ValidationError as exc:
        raise Invalid(f"address: {' '.join(exc.messages)}", field="address") from None


# --- contact methods and notification rules -------------------------------------------------------

def add_contact_method(user: User, *, kind: str, address: str, label: str = "", actor, source: str,
                       ip_address=None) -> ContactMethod:
    _require_self(actor, user)
    if kind not in ContactMethod.Kind.values:
        raise Invalid(f"kind must be one of {', '.join(ContactMethod.Kind.values)}; got {kind!r}", field="kind")
    _check_address(kind, address)
    address = address.strip().replace(" ", "") if kind in ("sms", "voice") else address.strip()
    if ContactMethod.objects.filter(user=user, kind=kind, address=address).exists():
        raise Conflict(f"you have this {kind} address already", field="address")
    method = ContactMethod(user=user, kind=kind, address=address, label=(label or "").strip(),
                           secret=generate_secret() if kind == ContactMethod.Kind.WEBHOOK else "")
    return _save(method, actor=actor, source=source, ip_address=ip_address, fields=["user", "kind", "label"])


def delete_contact_method(method: ContactMethod, *, actor, source: str, ip_address=None) -> None:
    """Removes its notification rules with it."""
    _require_self(actor, method.user)
    with transaction.atomic():
        for rule in method.rules.all():
            delete_config(rule, actor=actor, source=source, ip_address=ip_address)
        delete_config(method, actor=actor, source=source, ip_address=ip_address)


def add_notification_rule(user: User, *, contact_method: ContactMethod, delay_minutes: int, urgency: str = Urgency.HIGH,
                          actor, source: str, ip_address=None) -> NotificationRule:
    _require_self(actor, user)
    if contact_method.user_id != user.pk:
        raise Invalid("that contact method belongs to someone else", field="contact_method")
    if urgency not in Urgency.values:
        raise Invalid(f"urgency must be one of {', '.join(Urgency.values)}; got {urgency!r}", field="urgency")
    if isinstance(delay_minutes, bool) or not isinstance(delay_minutes, int) or not 0 <= delay_minutes <= 1440:
        raise Invalid("delay_minutes must be a whole number from 0 to 1440", field="delay_minutes")
    if NotificationRule.objects.filter(contact_method=contact_method, urgency=urgency,
                                       delay_minutes=delay_minutes).exists():
        raise Conflict("you have this rule already", field="delay_minutes")
    rule = NotificationRule(user=user, contact_method=contact_method, urgency=urgency, delay_minutes=delay_minutes)
    return _save(rule, actor=actor, source=source, ip_address=ip_address,
                 fields=["user", "contact_method", "urgency", "delay_minutes"])


def delete_notification_rule(rule: NotificationRule, *, actor, source: str, ip_address=None) -> None:
    _require_self(actor, rule.user)
    delete_config(rule, actor=actor, source=source, ip_address=ip_address)


# --- the signed-link door ------------------------------------------------------------------------

def incident_for_link(claim: LinkClaim) -> Incident:
    incident = Incident.objects.select_related("team").filter(pk=claim.incident_id).first()
    if incident is None:
        raise NotFound("this incident no longer exists")
    return incident


def act_on_link(claim: LinkClaim, *, ip_address=None) -> str:
    """Acknowledge or resolve the link's incident. The link is the authority (it was sent
    to the person paged); it acts as that person when they may respond to the incident,
    otherwise as the system with their name in the note. Returns what happened."""
    incident = incident_for_link(claim)
    page = (Page.objects.select_related("recipient", "channel").filter(pk=claim.page_id, incident=incident).first()
            if claim.page_id else None)
    recipient = page.recipient if page is not None else None
    actor = recipient if recipient is not None and incident_actions.can_respond(recipient, incident) else None
    who = str(recipient) if recipient else (page.channel.name if page is not None and page.channel else "a channel")
    note = f"from the link sent to {who}"
    if claim.action == "acknowledge":
        if incident.status == Status.RESOLVED:
            raise Conflict(f"{incident.reference} is resolved already")
        if incident.status != Status.TRIGGERED:
            return f"{incident.reference} was already {incident.get_status_display().lower()}; nothing changed."
        incident_actions.change_status(incident, Status.ACKNOWLEDGED, actor=actor, source=Door.PAGE_LINK, note=note)
        return f"{incident.reference} acknowledged. Escalation stopped."
    if incident.status == Status.RESOLVED:
        return f"{incident.reference} was already resolved; nothing changed."
    incident_actions.change_status(incident, Status.RESOLVED, actor=actor, source=Door.PAGE_LINK, note=note)
    return f"{incident.reference} resolved."
