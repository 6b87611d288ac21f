"""The write path for intake configuration: integrations and their keys, silences, and the
grouping, inhibition, alert-severity and routing rules; plus the replay of a raw event.

Every function checks who may (Forbidden), validates its input (Invalid, naming the
field), then saves through `alertum.core.actions.save_config` / `delete_config`, so each
change is audited with its door (`source`). Pages, the API and the admin call these and
never write the rows themselves.

Who may (global admins may do everything; `actor=None` is the system: commands, seeds):
- silences: responders of the service's owning team; a silence over every service
  (no service) needs a global admin;
- integrations, rules, replay: admins of the service's owning team; a rule for every
  service (no service) needs a global admin.

Locks: an update locks its row (select_for_update) before reading the "before" snapshot;
the audit head is locked last, by save_config / audit.record.
"""

import re
import secrets
import string
import zoneinfo
from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from alertum.core import audit
from alertum.core.actions import delete_config, save_config
from alertum.core.errors import Conflict, Forbidden, Invalid
from alertum.core.models import Role, Service, Team
from alertum.core.permissions import has_team_role, is_admin, teams_with_role
from incidents.intake.accept import forget_integrations
from incidents.intake.matching import matcher_matches, validate_matchers
from incidents.models import (
    Alert,
    AlertSeverityRule,
    GroupingRule,
    Impact,
    InhibitionRule,
    Integration,
    RawEvent,
    RoutingRule,
    Severity,
    Silence,
)

LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,99}")
DAY = 86_400
MAX_SILENCE_SECONDS = 366 * DAY


# --- who may -----------------------------------------------------------------------------------

def may_silence(user, service: Service | None) -> bool:
    if service is None:
        return is_admin(user)
    return has_team_role(user, service.owner_team_id, Role.RESPONDER)


def may_configure(user, service: Service | None) -> bool:
    """Integrations and rules: admins of the owning team; rules for every service: global admins."""
    if service is None:
        return is_admin(user)
    return has_team_role(user, service.owner_team_id, Role.ADMIN)


def services_where(user, role: str):
    """The services whose owning team gives the user at least `role` (all for global admins)."""
    qs = Service.objects.select_related("owner_team").order_by("name")
    return qs if is_admin(user) else qs.filter(owner_team_id__in=teams_with_role(user, role))


def services_to_silence(user):
    return services_where(user, Role.RESPONDER)


def services_to_configure(user):
    return services_where(user, Role.ADMIN)


def _require_configure(actor, *services: Service | None) -> None:
    for service in services:
        if actor is not None and not may_configure(actor, service):
            raise Forbidden("only a global admin may change rules for every service" if service is None else
                            f"you need the admin role in {service.owner_team} to change {service}'s intake set-up",
                            field="service")


def _require_silence(actor, *services: Service | None) -> None:
    for service in services:
        if actor is not None and not may_silence(actor, service):
            raise Forbidden("only a global admin may silence alerts of every service" if service is None else
                            f"you need the responder role in {service.owner_team} to silence {service}'s alerts",
                            field="service")


# --- input cleaners: (value, field) -> clean value, or Invalid naming the field -------------------

def _text(max_length: int, *, required: bool = False):
    def clean(value, field):
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise Invalid(f"{field} must be text", field=field)
        value = value.strip()
        if required and not value:
            raise Invalid(f"{field} is required", field=field)
        if len(value) > max_length:
            raise Invalid(f"{field} is at most {max_length} characters (got {len(value)})", field=field)
        return value
    return clean


def _whole(minimum: int, maximum: int, *, allow_none: bool = False):
    def clean(value, field):
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise Invalid(f"{field} must be a whole number from {minimum} to {maximum}"
                          + (" (or empty)" if allow_none else "") + f"; got {value!r}", field=field)
        return value
    return clean


def _flag(value, field):
    if not isinstance(value, bool):
        raise Invalid(f"{field} must be true or false", field=field)
    return value


def _choice(choices, *, allow_blank: bool = False):
    values = [str(v) for v, _label in choices]

    def clean(value, field):
        if allow_blank and value in ("", None):
            return ""
        if value not in values:
            raise Invalid(f"{field} must be one of {', '.join(values)}" + (" (or empty)" if allow_blank else "")
                          + f"; got {value!r}", field=field)
        return value
    return clean


def _matchers(*, allow_empty: bool):
    def clean(value, field):
        return validate_matchers(value, field=field, allow_empty=allow_empty)
    return clean


def _label_names(value, field):
    if not isinstance(value, list | tuple):
        raise Invalid(f"{field} must be a list of label names", field=field)
    names = []
    for name in value:
        if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
            raise Invalid(f"{field}: {name!r} is not a label name (letters, digits, _ . : / -; "
                          "not starting with a digit)", field=field)
        if name in names:
            raise Invalid(f"{field}: {name!r} is listed twice", field=field)
        names.append(name)
    return names


def _severities(value, field):
    if not isinstance(value, list | tuple):
        raise Invalid(f"{field} must be a list of severities ({', '.join(Severity.values)})", field=field)
    unknown = [s for s in value if s not in Severity.values]
    if unknown:
        raise Invalid(f"{field}: unknown severity {', '.join(map(repr, unknown))}; use "
                      f"{', '.join(Severity.values)}", field=field)
    return [s for s in Severity.values if s in value]  # in order, once each


def _weekdays(value, field):
    if not isinstance(value, list | tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in value):
        raise Invalid(f"{field} must be a list of ISO weekdays, 1 (Monday) to 7 (Sunday)", field=field)
    return sorted(set(value))


def _clock(value, field):
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, str):
        try:
            return datetime.strptime(value.strip(), "%H:%M").time()
        except ValueError:
            pass
    raise Invalid(f"{field} must be a time of day as HH:MM; got {value!r}", field=field)


def _time_zone(value, field):
    if not isinstance(value, str) or value not in zoneinfo.available_timezones():
        raise Invalid(f"{field}: {value!r} is not a known time zone (use an IANA name such as Europe/Amsterdam)",
                      field=field)
    return value


def _slug(value, field):
    value = (value or "").strip() if isinstance(value, str) or value is None else value
    if not isinstance(value, str) or (value and not re.fullmatch(r"[-a-zA-Z0-9_]{1,100}", value)):
        raise Invalid(f"{field} must be a slug (letters, digits, - and _); got {value!r}", field=field)
    return value


def _instance(model, *, allow_none: bool):
    def clean(value, field):
        if value is None and allow_none:
            return None
        if not isinstance(value, model):
            raise Invalid(f"{field} must name an existing {model._meta.verbose_name}", field=field)
        return value
    return clean


def _moment(value, field):
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise Invalid(f"{field} must be a date and time with a time zone", field=field)
    return value


def _template(value, field):
    """A grouping template over {dedup_key}, {source} and label names: plain names only,
    never attribute or index access (format_map would follow them)."""
    value = _text(200)(value, field)
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise Invalid(f"{field}: {exc} (write literal braces as {{{{ and }}}})", field=field) from None
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if not LABEL_NAME.fullmatch(name) or "." in name or spec or conversion:
            raise Invalid(f"{field}: {{{name}}} is not allowed; use plain names such as {{alertname}}, "
                          "{dedup_key} or {source}", field=field)
    return value


def _apply(obj, cleaners: dict, values: dict) -> list[str]:
    """Set the given fields on obj after cleaning each; returns the names set."""
    unknown = sorted(set(values) - set(cleaners))
    if unknown:
        raise Invalid(f"unknown field {', '.join(unknown)}", field=unknown[0])
    for name, value in values.items():
        setattr(obj, name, cleaners[name](value, name))
    return list(values)


def _save(obj, *, fields, before, actor, source, ip_address):
    """save_config, with a model-level refusal turned into a domain error."""
    try:
        with transaction.atomic():
            return save_config(obj, actor=actor, source=source, ip_address=ip_address, before=before, fields=fields)
    except ValidationError as exc:
        field, messages = _first_error(exc)
        raise Invalid(f"{field}: {messages}" if field else messages, field=field) from None
    except IntegrityError:
        raise Conflict(f"{obj._meta.verbose_name} could not be saved: it conflicts with an existing one") from None


def _first_error(exc: ValidationError) -> tuple[str | None, str]:
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.message_dict.items()))
        return (None if field == "__all__" else field), " ".join(errors)
    return None, " ".join(exc.messages)


def _delete(obj, *, actor, source, ip_address, in_use: str):
    try:
        with transaction.atomic():
            delete_config(obj, actor=actor, source=source, ip_address=ip_address)
    except (models.ProtectedError, models.RestrictedError):
        raise Conflict(in_use) from None


# --- integrations ------------------------------------------------------------------------------

INTEGRATION_FIELDS = ["name", "service", "kind", "key_prefix", "rate_limit_per_minute", "verify_grafana_signature",
                      "active"]  # never key_hash: it is a credential's digest
INTEGRATION_CLEANERS = {
    "name": _text(100, required=True),
    "rate_limit_per_minute": _whole(1, 1_000_000),
    "verify_grafana_signature": _flag,
    "active": _flag,
}


def _lock_integration(integration: Integration) -> Integration:
    # Lock the integration row only, not the joined service.
    return Integration.objects.select_for_update(of=("self",)).select_related("service").get(pk=integration.pk)


def new_key() -> str:
    """32 characters, the length PagerDuty's clients check a routing_key for."""
    return secrets.token_hex(16)


def create_integration(*, service: Service, name: str, kind: str, actor, source: str, ip_address=None,
                       rate_limit_per_minute: int = 6000, verify_grafana_signature: bool = False
                       ) -> tuple[Integration, str]:
    """Create an integration; returns (integration, raw key). Only the key's SHA-256 and
    its first 8 characters are stored: the raw key is shown to the caller this once."""
    service = _instance(Service, allow_none=False)(service, "service")
    _require_configure(actor, service)
    kind = _choice(Integration.Kind.choices)(kind, "kind")
    integration = Integration(service=service, kind=kind, created_by=actor if actor and actor.pk else None)
    _apply(integration, INTEGRATION_CLEANERS, {"name": name, "rate_limit_per_minute": rate_limit_per_minute,
                                               "verify_grafana_signature": verify_grafana_signature})
    if verify_grafana_signature and kind != Integration.Kind.GRAFANA:
        raise Invalid("verify_grafana_signature applies to Grafana integrations only",
                      field="verify_grafana_signature")
    with transaction.atomic():
        if Integration.objects.filter(service=service, name=integration.name).exists():
            raise Conflict(f"{service} already has an integration named {integration.name!r}", field="name")
        raw = new_key()
        integration.key_prefix, integration.key_hash = raw[:8], Integration.hash_key(raw)
        integration = _save(integration, fields=INTEGRATION_FIELDS, before=None, actor=actor, source=source,
                            ip_address=ip_address)
    return integration, raw


def rotate_integration_key(integration: Integration, *, actor, source: str, ip_address=None
                           ) -> tuple[Integration, str]:
    """Give the integration a new key (the old one stops working at once in this process
    and within accept.INTEGRATION_CACHE_SECONDS in the others; Grafana's HMAC secret,
    derived from the key, changes with it). Returns (integration, raw key)."""
    with transaction.atomic():
        integration = _lock_integration(integration)
        _require_configure(actor, integration.service)
        raw = new_key()
        old_prefix = integration.key_prefix
        integration.key_prefix, integration.key_hash = raw[:8], Integration.hash_key(raw)
        integration.save(update_fields=["key_prefix", "key_hash"])
        audit.record("integration.key_rotated", integration, actor=actor, source=source, ip_address=ip_address,
                     changes={"key_prefix": [old_prefix, integration.key_prefix]})
        transaction.on_commit(forget_integrations)
    return integration, raw


def update_integration(integration: Integration, *, actor, source: str, ip_address=None, **changes) -> Integration:
    """Change name, rate_limit_per_minute, verify_grafana_signature or active. The kind and
    the service stay: they are in the URL and the set-up the sender already has."""
    with transaction.atomic():
        integration = _lock_integration(integration)
        _require_configure(actor, integration.service)
        before = audit.snapshot(integration, INTEGRATION_FIELDS)
        _apply(integration, INTEGRATION_CLEANERS, changes)
        if integration.verify_grafana_signature and integration.kind != Integration.Kind.GRAFANA:
            raise Invalid("verify_grafana_signature applies to Grafana integrations only",
                          field="verify_grafana_signature")
        if "name" in changes and Integration.objects.filter(service=integration.service, name=integration.name) \
                .exclude(pk=integration.pk).exists():
            raise Conflict(f"{integration.service} already has an integration named {integration.name!r}",
                           field="name")
        transaction.on_commit(forget_integrations)  # deactivation takes effect here at once
        return _save(integration, fields=INTEGRATION_FIELDS, before=before, actor=actor, source=source,
                     ip_address=ip_address)


def delete_integration(integration: Integration, *, actor, source: str, ip_address=None) -> None:
    """Delete an integration that never received anything; one with events keeps them
    (the alerts and raw events point at it): deactivate it instead."""
    _require_configure(actor, integration.service)
    _delete(integration, actor=actor, source=source, ip_address=ip_address,
            in_use=f"{integration} has received events, which keep pointing at it; deactivate it instead")


def replay_raw_event(raw: RawEvent, *, actor, source: str) -> RawEvent:
    """Put a failed or dead raw event back in the queue (Conflict if it was processed)."""
    from incidents.intake import pipeline

    _require_configure(actor, raw.integration.service)
    return pipeline.replay(raw, actor=actor, source=source)


# --- silences ----------------------------------------------------------------------------------

SILENCE_FIELDS = ["matchers", "service", "starts_at", "ends_at", "comment", "created_by"]
SILENCE_CLEANERS = {
    "matchers": _matchers(allow_empty=False),
    "service": _instance(Service, allow_none=True),
    "starts_at": _moment,
    "ends_at": _moment,
    "comment": _text(500, required=True),
}


def _check_silence(silence: Silence, now) -> None:
    if all(matcher_matches(m, {}) for m in silence.matchers):
        # As Alertmanager insists: otherwise the silence would match every alert.
        raise Invalid("at least one matcher must not match an empty label value, or the silence would mute "
                      "every alert", field="matchers")
    if silence.ends_at <= silence.starts_at:
        raise Invalid("ends_at must be after starts_at", field="ends_at")
    if silence.ends_at <= now:
        raise Invalid("ends_at is in the past: the silence would never be active", field="ends_at")
    if (silence.ends_at - silence.starts_at).total_seconds() > MAX_SILENCE_SECONDS:
        raise Invalid("a silence lasts at most 366 days", field="ends_at")


def create_silence(*, matchers, ends_at, comment: str, actor, source: str, starts_at=None,
                   service: Service | None = None, ip_address=None) -> Silence:
    """Mute alerts whose labels match every matcher, from starts_at (default now) until ends_at."""
    now = timezone.now()
    silence = Silence(created_by=actor if actor and actor.pk else None, created_at=now)
    _apply(silence, SILENCE_CLEANERS, {"matchers": matchers, "service": service, "starts_at": starts_at or now,
                                       "ends_at": ends_at, "comment": comment})
    _require_silence(actor, silence.service)
    _check_silence(silence, now)
    return _save(silence, fields=SILENCE_FIELDS, before=None, actor=actor, source=source, ip_address=ip_address)


def update_silence(silence: Silence, *, actor, source: str, ip_address=None, **changes) -> Silence:
    """Edit a pending or active silence (matchers, comment, times, service)."""
    now = timezone.now()
    with transaction.atomic():
        silence = Silence.objects.select_for_update().get(pk=silence.pk)  # no join: service is nullable
        old_service = silence.service
        _require_silence(actor, old_service)
        if silence.state(now) == "expired":
            raise Conflict(f"silence #{silence.pk} has expired; create a new one instead")
        before = audit.snapshot(silence, SILENCE_FIELDS)
        _apply(silence, SILENCE_CLEANERS, changes)
        _require_silence(actor, silence.service)
        _check_silence(silence, now)
        return _save(silence, fields=SILENCE_FIELDS, before=before, actor=actor, source=source,
                     ip_address=ip_address)


def expire_silence(silence: Silence, *, actor, source: str, ip_address=None) -> Silence:
    """End the silence now (a pending one never starts). Already expired: changes nothing.
    Alerts it muted are released by the intake housekeeping tick."""
    now = timezone.now()
    with transaction.atomic():
        silence = Silence.objects.select_for_update().get(pk=silence.pk)  # no join: service is nullable
        _require_silence(actor, silence.service)
        if silence.state(now) == "expired":
            return silence
        before = audit.snapshot(silence, ["starts_at", "ends_at"])
        silence.starts_at, silence.ends_at = min(silence.starts_at, now), now
        silence.save(update_fields=["starts_at", "ends_at"])
        audit.record("silence.expired", silence, actor=actor, source=source, ip_address=ip_address,
                     changes=audit.model_changes(silence, ["starts_at", "ends_at"], before))
    return silence


# --- grouping rules (one per service) ------------------------------------------------------------

GROUPING_FIELDS = ["service", "group_by", "dedup_key_template", "window_seconds", "max_alerts", "cooldown_seconds",
                   "auto_resolve", "auto_resolve_after_seconds"]
GROUPING_CLEANERS = {
    "group_by": _label_names,
    "dedup_key_template": _template,
    "window_seconds": _whole(60, 30 * DAY),
    "max_alerts": _whole(0, 1_000_000),
    "cooldown_seconds": _whole(0, 7 * DAY),
    "auto_resolve": _flag,
    "auto_resolve_after_seconds": _whole(60, 30 * DAY, allow_none=True),
}


def save_grouping_rule(service: Service, *, actor, source: str, ip_address=None, **values) -> GroupingRule:
    """Create the service's grouping rule or change it (fields not given keep their value)."""
    service = _instance(Service, allow_none=False)(service, "service")
    _require_configure(actor, service)
    with transaction.atomic():
        rule = GroupingRule.objects.select_for_update().filter(service=service).first()
        before = audit.snapshot(rule, GROUPING_FIELDS) if rule else None
        rule = rule or GroupingRule(service=service)
        _apply(rule, GROUPING_CLEANERS, values)
        if rule.group_by and rule.dedup_key_template:
            raise Invalid("group by labels or by a template, not both: clear group_by or dedup_key_template",
                          field="dedup_key_template")
        return _save(rule, fields=GROUPING_FIELDS, before=before, actor=actor, source=source, ip_address=ip_address)


def delete_grouping_rule(rule: GroupingRule, *, actor, source: str, ip_address=None) -> None:
    """Back to the defaults (group by alertname, 1 h window, 10 min cooldown, auto-resolve)."""
    _require_configure(actor, rule.service)
    _delete(rule, actor=actor, source=source, ip_address=ip_address, in_use=f"{rule} is still in use")


# --- inhibition, alert-severity and routing rules ------------------------------------------------

INHIBITION_FIELDS = ["name", "service", "source_matchers", "target_matchers", "equal", "active"]
INHIBITION_CLEANERS = {
    "name": _text(100, required=True),
    "service": _instance(Service, allow_none=True),
    "source_matchers": _matchers(allow_empty=False),
    "target_matchers": _matchers(allow_empty=False),
    "equal": _label_names,
    "active": _flag,
}

SEVERITY_RULE_FIELDS = ["position", "service", "alert_severity", "matchers", "impact"]
SEVERITY_RULE_CLEANERS = {
    "position": _whole(0, 1_000_000),
    "service": _instance(Service, allow_none=True),
    "alert_severity": _choice(Alert.Severity.choices, allow_blank=True),
    "matchers": _matchers(allow_empty=True),
    "impact": _choice(Impact.choices),
}

ROUTING_FIELDS = ["position", "name", "service", "severities", "matchers", "during", "team", "escalation_policy_slug",
                  "defer_to_business_hours", "business_days", "business_start", "business_end", "time_zone", "active"]
ROUTING_CLEANERS = {
    "position": _whole(0, 1_000_000),
    "name": _text(100, required=True),
    "service": _instance(Service, allow_none=True),
    "severities": _severities,
    "matchers": _matchers(allow_empty=True),
    "during": _choice(RoutingRule._meta.get_field("during").choices),
    "team": _instance(Team, allow_none=True),
    "escalation_policy_slug": _slug,
    "defer_to_business_hours": _flag,
    "business_days": _weekdays,
    "business_start": _clock,
    "business_end": _clock,
    "time_zone": _time_zone,
    "active": _flag,
}


def _check_inhibition(rule: InhibitionRule) -> None:
    if not rule.name:
        raise Invalid("name is required", field="name")
    if not rule.source_matchers or not rule.target_matchers:
        raise Invalid("source_matchers and target_matchers are required", field="source_matchers")


def _check_severity_rule(rule: AlertSeverityRule) -> None:
    if not rule.impact:
        raise Invalid(f"impact is required: one of {', '.join(Impact.values)}", field="impact")


def _check_routing(rule: RoutingRule) -> None:
    if not rule.name:
        raise Invalid("name is required", field="name")
    start, end = _clock(rule.business_start, "business_start"), _clock(rule.business_end, "business_end")
    rule.business_start, rule.business_end = start, end
    if end <= start:
        raise Invalid("business_end must be after business_start (business hours within one day)",
                      field="business_end")
    _time_zone(rule.time_zone, "time_zone")


RULES = {
    # model: (audited fields, cleaners, cross-field check)
    InhibitionRule: (INHIBITION_FIELDS, INHIBITION_CLEANERS, _check_inhibition),
    AlertSeverityRule: (SEVERITY_RULE_FIELDS, SEVERITY_RULE_CLEANERS, _check_severity_rule),
    RoutingRule: (ROUTING_FIELDS, ROUTING_CLEANERS, _check_routing),
}


def create_rule(model, *, actor, source: str, ip_address=None, **values):
    """Create an InhibitionRule, AlertSeverityRule or RoutingRule from its field values."""
    fields, cleaners, check = RULES[model]
    rule = model()
    _apply(rule, cleaners, values)
    _require_configure(actor, rule.service)
    check(rule)
    return _save(rule, fields=fields, before=None, actor=actor, source=source, ip_address=ip_address)


def update_rule(rule, *, actor, source: str, ip_address=None, **changes):
    """Change some fields of a rule; moving it to another service needs the right on both."""
    fields, cleaners, check = RULES[type(rule)]
    with transaction.atomic():
        rule = type(rule).objects.select_for_update().get(pk=rule.pk)  # no join: service is nullable
        _require_configure(actor, rule.service)
        before = audit.snapshot(rule, fields)
        _apply(rule, cleaners, changes)
        if "service" in changes:
            _require_configure(actor, rule.service)
        check(rule)
        return _save(rule, fields=fields, before=before, actor=actor, source=source, ip_address=ip_address)


def delete_rule(rule, *, actor, source: str, ip_address=None) -> None:
    _require_configure(actor, rule.service)
    _delete(rule, actor=actor, source=source, ip_address=ip_address, in_use=f"{rule} is still in use")

