"""The write path for monitors: configuration (create, update, delete, pause, resume), the
results of checks, state changes, failure rules and anomaly alerts.

Who may: responders of the service's owning team (and global admins) configure, pause
and test that service's monitors; any team member may read them (queries.py).
`actor=None` is the system (engine, heartbeats, seeds).

Alerts: a monitor going down raises the alert `monitor-<id>` through intake
(incidents.intake.internal), and coming back resolves it, so grouping, silences,
maintenance and routing apply. Each threshold rule has its own alert
(`monitor-<id>-rule-<name>`), and so does a latency anomaly (`monitor-<id>-anomaly`) and
a TLS certificate inside its warning window (`monitor-<id>-tls`, severity warning; the
check still passes).

Lock order: the monitor row, then intake's (integration, alert, group, incident), then
the audit head.
"""

import json
import re
from datetime import timedelta
from ipaddress import ip_address as parse_ip

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from alertum.core import audit
from alertum.core.actions import delete_config, save_config
from alertum.core.errors import Forbidden, Invalid
from alertum.core.live import broadcast_on_commit
from alertum.core.models import Role, Service
from alertum.core.permissions import has_team_role
from incidents.intake import internal as intake
from monitoring import anomaly
from monitoring.checks import Outcome
from monitoring.checks import dns as dns_check
from monitoring.checks.http import certificate_expiring, days_left, json_path_valid, parse_statuses
from monitoring.models import CheckResult, Monitor, StatusChange

State = Monitor.State
LIVE_GROUP = "monitors.all"
PRIORITY_TO_ALERT_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}
MAX_JOURNEY_STEPS = 20
CONFIG_FIELDS = ["service", "name", "kind", "config", "interval_seconds", "timeout_seconds", "failure_threshold",
                 "success_threshold", "rules", "anomaly_sensitivity", "is_paused"]


# --- who may -----------------------------------------------------------------------------------

def may_configure(user, service: Service) -> bool:
    return has_team_role(user, service.owner_team_id, Role.RESPONDER)


def _require(actor, service: Service) -> None:
    if actor is not None and not may_configure(actor, service):
        raise Forbidden(f"only responders of {service.owner_team} may change monitors of {service}")


# --- validation --------------------------------------------------------------------------------

def _url(value, field: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value.strip()):
        raise Invalid(f"{field}: an http:// or https:// URL is required", field=field)
    return value.strip()


def _headers(value, field: str) -> dict:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise Invalid(f"{field}: must be an object of header name to text", field=field)
    return value


def _number(value, field: str, low: float, high: float, *, whole: bool = False):
    if value in (None, ""):
        return None
    try:
        number = int(value) if whole else float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{field}: must be a number", field=field) from None
    if isinstance(value, bool) or not (low <= number <= high):
        raise Invalid(f"{field}: must be between {low:g} and {high:g}", field=field)
    return number


def _assertions(raw: dict, prefix: str) -> dict:
    out = {}
    statuses = raw.get("accepted_statuses") or "200-399"
    try:
        parse_statuses(statuses)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"{prefix}accepted_statuses: {exc}", field="config") from None
    out["accepted_statuses"] = statuses if isinstance(statuses, str) else ",".join(str(s) for s in statuses)
    if raw.get("keyword"):
        out["keyword"] = str(raw["keyword"])[:500]
        mode = raw.get("keyword_mode") or "present"
        if mode not in ("present", "absent"):
            raise Invalid(f"{prefix}keyword_mode: must be present or absent", field="config")
        out["keyword_mode"] = mode
    if raw.get("json_path"):
        if not isinstance(raw["json_path"], str) or not json_path_valid(raw["json_path"]):
            raise Invalid(f"{prefix}json_path: use the form $.field.list[0].name", field="config")
        out["json_path"] = raw["json_path"]
        if raw.get("json_expected") not in (None, ""):
            out["json_expected"] = str(raw["json_expected"])
    limit = _number(raw.get("max_response_ms"), f"{prefix}max_response_ms", 1, 600_000)
    if limit:
        out["max_response_ms"] = limit
    return out


def _http_config(raw: dict, prefix: str = "") -> dict:
    method = (raw.get("method") or "GET").upper()
    if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        raise Invalid(f"{prefix}method: {method} is not an HTTP method we send", field="config")
    body = raw.get("body") or ""
    if not isinstance(body, str) or len(body) > 100_000:
        raise Invalid(f"{prefix}body: text of at most 100,000 characters", field="config")
    config = {"url": _url(raw.get("url"), f"{prefix}url"), "method": method,
              "headers": _headers(raw.get("headers"), f"{prefix}headers"), "body": body,
              "follow_redirects": bool(raw.get("follow_redirects", True)),
              "verify_tls": bool(raw.get("verify_tls", True)), **_assertions(raw, prefix)}
    days = _number(raw.get("tls_expiry_days", 14), f"{prefix}tls_expiry_days", 0, 365, whole=True)
    config["tls_expiry_days"] = 14 if days is None else days
    return config


def _host(value, field: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]_]{1,253}", value.strip()):
        raise Invalid(f"{field}: a host name or IP address is required", field=field)
    return value.strip().strip("[]")


def _extract_rules(raw, prefix: str) -> dict:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise Invalid(f"{prefix}extract: an object of variable name to rule", field="config")
    out = {}
    for name, rule in raw.items():
        if not re.fullmatch(r"[A-Za-z_]\w{0,49}", str(name)) or not isinstance(rule, dict):
            raise Invalid(f"{prefix}extract.{name}: a variable name and a rule object", field="config")
        source = rule.get("from")
        needed = {"json": "path", "header": "name", "regex": "pattern"}.get(source)
        if needed is None or not isinstance(rule.get(needed), str) or not rule[needed]:
            raise Invalid(f"{prefix}extract.{name}: from json (path), header (name) or regex (pattern)",
                          field="config")
        if source == "regex":
            try:
                re.compile(rule["pattern"])
            except re.error as exc:
                raise Invalid(f"{prefix}extract.{name}.pattern: {exc}", field="config") from None
        if source == "json" and not json_path_valid(rule["path"]):
            raise Invalid(f"{prefix}extract.{name}.path: use the form $.field.list[0]", field="config")
        out[name] = {"from": source, needed: rule[needed]}
    return out


def clean_config(kind: str, raw) -> dict:
    """The kind's config, validated and normalised; Invalid naming the problem otherwise."""
    if not isinstance(raw, dict):
        raise Invalid("config: must be an object", field="config")
    if kind == Monitor.Kind.HTTP:
        return _http_config(raw)
    if kind == Monitor.Kind.TCP:
        return {"host": _host(raw.get("host"), "host"), "port": _number(raw.get("port"), "port", 1, 65535, whole=True)
                or _missing("port")}
    if kind == Monitor.Kind.DNS:
        name = raw.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,253}", name.strip()):
            raise Invalid("name: a DNS name such as www.example.com is required", field="config")
        rtype = (raw.get("record_type") or "A").upper()
        if rtype not in dns_check.RECORD_TYPES:
            raise Invalid(f"record_type: one of {', '.join(dns_check.RECORD_TYPES)}", field="config")
        config = {"name": name.strip(), "record_type": rtype, "expected": str(raw.get("expected") or "").strip()}
        if raw.get("nameserver"):
            try:
                config["nameserver"] = str(parse_ip(str(raw["nameserver"]).strip()))
            except ValueError:
                raise Invalid("nameserver: an IP address", field="config") from None
            config["port"] = _number(raw.get("port", 53), "port", 1, 65535, whole=True) or 53
        return config
    if kind == Monitor.Kind.JOURNEY:
        steps = raw.get("steps")
        if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_JOURNEY_STEPS:
            raise Invalid(f"steps: a list of 1 to {MAX_JOURNEY_STEPS} HTTP steps", field="config")
        cleaned = []
        for i, step in enumerate(steps, start=1):
            prefix = f"steps[{i}]."
            if not isinstance(step, dict):
                raise Invalid(f"steps[{i}]: must be an object", field="config")
            url = step.get("url")
            # A later step's URL may be built from variables ({{base}}/orders/{{id}}).
            if not isinstance(url, str) or not (url.startswith(("http://", "https://", "{{"))):
                raise Invalid(f"{prefix}url: an http(s) URL (variables as {{{{name}}}} allowed)", field="config")
            http = _http_config({**step, "url": url if not url.startswith("{{") else "http://x"}, prefix)
            http["url"] = url
            cleaned.append({"name": str(step.get("name") or f"Step {i}")[:100], **{
                k: http[k] for k in ("url", "method", "headers", "body", "follow_redirects")},
                "assert": _assertions(step.get("assert") or {}, prefix + "assert."),
                "extract": _extract_rules(step.get("extract"), prefix)})
        variables = raw.get("variables") or {}
        if not isinstance(variables, dict):
            raise Invalid("variables: an object of name to value", field="config")
        budget = _number(raw.get("budget_seconds"), "budget_seconds", 1, 120)
        return {"steps": cleaned, "variables": {str(k): str(v) for k, v in variables.items()},
                "verify_tls": bool(raw.get("verify_tls", True)), **({"budget_seconds": budget} if budget else {})}
    if kind == Monitor.Kind.HEARTBEAT:
        return raw  # the heartbeats app validates its own settings (period, grace, cron)
    raise Invalid(f"kind: one of {', '.join(Monitor.Kind.values)}", field="kind")


def _missing(field: str):
    raise Invalid(f"{field}: required", field=field)


def clean_rules(raw) -> list[dict]:
    """Threshold rules, each with a name and a severity (P1–P4):
    - {"name", "conditions": [{"metric": latency_ms|status_code, "op": gt|gte|lt|lte, "value"}],
       "for_seconds", "severity"}: fires when any condition holds on every check for for_seconds;
    - {"name", "error_rate_percent", "window_seconds", "severity"}: fires when more than that
      share of the checks in the window failed (at least 3 checks)."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or len(raw) > 20:
        raise Invalid("rules: a list of at most 20 rules", field="rules")
    out, names = [], set()
    for i, rule in enumerate(raw, start=1):
        where = f"rules[{i}]"
        if not isinstance(rule, dict):
            raise Invalid(f"{where}: must be an object", field="rules")
        name = str(rule.get("name") or "").strip()[:60]
        if not name or name in names:
            raise Invalid(f"{where}.name: required and unique", field="rules")
        names.add(name)
        severity = rule.get("severity")
        if severity not in PRIORITY_TO_ALERT_SEVERITY:
            raise Invalid(f"{where}.severity: one of P1, P2, P3, P4", field="rules")
        if "error_rate_percent" in rule:
            out.append({"name": name, "severity": severity,
                        "error_rate_percent": _number(rule["error_rate_percent"], f"{where}.error_rate_percent",
                                                      0, 100),
                        "window_seconds": _number(rule.get("window_seconds", 300), f"{where}.window_seconds",
                                                  30, 86_400, whole=True) or 300})
            continue
        conditions = rule.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            raise Invalid(f"{where}.conditions: a list of {{metric, op, value}} (or error_rate_percent)",
                          field="rules")
        clean = []
        for cond in conditions:
            if not isinstance(cond, dict) or cond.get("metric") not in ("latency_ms", "status_code") \
                    or cond.get("op") not in ("gt", "gte", "lt", "lte"):
                raise Invalid(f"{where}.conditions: metric latency_ms|status_code, op gt|gte|lt|lte",
                              field="rules")
            clean.append({"metric": cond["metric"], "op": cond["op"],
                          "value": _number(cond.get("value"), f"{where}.value", 0, 10_000_000)})
        out.append({"name": name, "severity": severity, "conditions": clean,
                    "for_seconds": _number(rule.get("for_seconds", 0), f"{where}.for_seconds", 0, 86_400,
                                           whole=True) or 0})
    return out


# --- configuration -----------------------------------------------------------------------------

def first_due(monitor: Monitor, now=None):
    """Spread monitors over their interval by a hash of the id, so a thousand monitors
    created together do not all fire at the top of the minute."""
    now = now or timezone.now()
    # The golden-ratio sequence: consecutive ids land far apart and fill the interval evenly.
    offset = (monitor.pk * 0.6180339887498949) % 1.0 * monitor.interval_seconds
    return now + timedelta(seconds=offset)


def _full_clean(monitor: Monitor) -> None:
    try:
        monitor.full_clean(exclude=["rule_state"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise Invalid(f"{field}: {' '.join(messages)}", field=field) from None


def _clean(monitor: Monitor) -> None:
    if monitor.kind not in Monitor.Kind.values:
        raise Invalid(f"kind: one of {', '.join(Monitor.Kind.values)}", field="kind")
    monitor.config = clean_config(monitor.kind, monitor.config)
    monitor.rules = clean_rules(monitor.rules)
    if monitor.interval_seconds is None or int(monitor.interval_seconds) < 10:
        raise Invalid("interval_seconds: at least 10 seconds", field="interval_seconds")
    if monitor.timeout_seconds is not None and float(monitor.timeout_seconds) > int(monitor.interval_seconds):
        raise Invalid("timeout_seconds: cannot be longer than the interval", field="timeout_seconds")
    _full_clean(monitor)


def create_monitor(*, service: Service, name: str, kind: str, config: dict, actor, source: str, ip_address=None,
                   **values) -> Monitor:
    _require(actor, service)
    unknown = sorted(set(values) - set(CONFIG_FIELDS))
    if unknown:
        raise Invalid(f"unknown field {', '.join(unknown)}", field=unknown[0])
    monitor = Monitor(service=service, name=(name or "").strip(), kind=kind, config=config, **values)
    if monitor.is_paused:
        monitor.state = State.PAUSED
    _clean(monitor)
    with transaction.atomic():
        save_config(monitor, actor=actor, source=source, ip_address=ip_address, fields=CONFIG_FIELDS)
        if monitor.kind != Monitor.Kind.HEARTBEAT:
            monitor.next_check_at = first_due(monitor)
            monitor.save(update_fields=["next_check_at"])
        _broadcast(monitor)
    return monitor


def update_monitor(monitor: Monitor, *, actor, source: str, ip_address=None, **changes) -> Monitor:
    """Change configuration. A new interval re-spreads the next check; a new kind or config
    resets the run counters (old results say nothing about the new check)."""
    unknown = sorted(set(changes) - set(CONFIG_FIELDS) - {"is_paused"})
    if unknown:
        raise Invalid(f"unknown field {', '.join(unknown)}", field=unknown[0])
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update(of=("self",)).select_related("service").get(pk=monitor.pk)
        _require(actor, monitor.service)
        if "service" in changes:
            _require(actor, changes["service"])
        pause = changes.pop("is_paused", None)
        before = audit.snapshot(monitor, CONFIG_FIELDS)
        for field, value in changes.items():
            setattr(monitor, field, value)
        _clean(monitor)
        if any(before.get(f) != audit.snapshot(monitor, [f]).get(f) for f in ("kind", "config")):
            monitor.consecutive_failures = monitor.consecutive_successes = 0
            # Another URL or warning window: the next check decides the warning afresh.
            _resolve_certificate(monitor)
        if before.get("interval_seconds") != monitor.interval_seconds and not monitor.is_paused:
            monitor.next_check_at = first_due(monitor)
        save_config(monitor, actor=actor, source=source, ip_address=ip_address, before=before, fields=CONFIG_FIELDS)
        _broadcast(monitor)
    if pause is not None and pause != monitor.is_paused:
        (pause_monitor if pause else resume_monitor)(monitor, actor=actor, source=source, ip_address=ip_address)
        monitor.refresh_from_db()
    return monitor


def delete_monitor(monitor: Monitor, *, actor, source: str, ip_address=None) -> None:
    """Delete with its history; an open alert of the monitor is resolved first."""
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update(of=("self",)).select_related("service").get(pk=monitor.pk)
        _require(actor, monitor.service)
        _resolve_all(monitor, reason="the monitor was deleted")
        delete_config(monitor, actor=actor, source=source, ip_address=ip_address)
        _broadcast(monitor)


def pause_monitor(monitor: Monitor, *, actor, source: str, ip_address=None) -> Monitor:
    """Stop checking; open alerts resolve (a paused monitor says nothing about its target)."""
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update(of=("self",)).select_related("service").get(pk=monitor.pk)
        _require(actor, monitor.service)
        if monitor.is_paused:
            return monitor
        monitor.is_paused, monitor.next_check_at = True, None
        monitor.consecutive_failures = monitor.consecutive_successes = 0
        monitor.save(update_fields=["is_paused", "next_check_at", "consecutive_failures", "consecutive_successes",
                                    "updated_at"])
        record_state(monitor, State.PAUSED, at=timezone.now(), reason="paused", source=source)
        _resolve_rules(monitor, reason="paused")
        audit.record("monitor.paused", monitor, actor=actor, source=source, ip_address=ip_address)
    return monitor


def resume_monitor(monitor: Monitor, *, actor, source: str, ip_address=None) -> Monitor:
    """Check again from now; the state is new until the first results decide it."""
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update(of=("self",)).select_related("service").get(pk=monitor.pk)
        _require(actor, monitor.service)
        if not monitor.is_paused:
            return monitor
        monitor.is_paused = False
        monitor.next_check_at = timezone.now() if monitor.kind != Monitor.Kind.HEARTBEAT else None
        monitor.save(update_fields=["is_paused", "next_check_at", "updated_at"])
        record_state(monitor, State.NEW, at=timezone.now(), reason="resumed", source=source)
        audit.record("monitor.resumed", monitor, actor=actor, source=source, ip_address=ip_address)
    return monitor


def test_now(monitor_or_values, *, actor) -> Outcome:
    """Run the check once, now, and return what it saw; changes nothing (the "test now"
    button, on a saved monitor or on the form's unsaved values)."""
    from monitoring import checks

    if isinstance(monitor_or_values, Monitor):
        monitor = monitor_or_values
        if actor is not None and not may_configure(actor, monitor.service):
            raise Forbidden("only responders of the owning team may test this monitor")
        kind, config, timeout = monitor.kind, monitor.config, monitor.timeout_seconds
    else:
        values = monitor_or_values
        kind = values.get("kind")
        config = clean_config(kind, values.get("config") or {})
        timeout = float(values.get("timeout_seconds") or 10)
    if kind == Monitor.Kind.HEARTBEAT:
        raise Invalid("a heartbeat is not checked by us: it pings us", field="kind")
    return checks.run(kind, config, min(timeout, 30))


# --- state and alerts --------------------------------------------------------------------------

def _monitor_links(monitor: Monitor) -> list[dict]:
    base = settings.BASE_URL
    try:
        return [{"href": base + reverse("monitors:detail", args=[monitor.pk]), "text": f"Monitor {monitor.name}"}]
    except Exception:  # pages not mounted (a partial deployment): no link rather than no alert
        return []


def _labels(monitor: Monitor, alertname: str, **extra) -> dict:
    return {"alertname": alertname, "monitor": str(monitor.pk), "monitor_name": monitor.name,
            "monitor_kind": monitor.kind, "service": monitor.service.slug, **extra}


def _target(monitor: Monitor) -> str:
    config = monitor.config or {}
    if monitor.kind == Monitor.Kind.JOURNEY:
        return (config.get("steps") or [{}])[0].get("url", "")
    return config.get("url") or (f"{config.get('host')}:{config.get('port')}" if config.get("host") else
                                 config.get("name", ""))


def record_state(monitor: Monitor, state: str, *, at, reason: str, evidence: dict | None = None,
                 source: str) -> bool:
    """Move the monitor to `state`. Locks the monitor; returns False if it is already
    there. Writes a StatusChange; going down raises the monitor's alert through intake
    with the evidence, leaving down resolves it. Broadcasts to the overview on commit."""
    if state not in State.values:
        raise Invalid(f"state: one of {', '.join(State.values)}", field="state")
    with transaction.atomic():
        locked = Monitor.objects.select_for_update(of=("self",)).select_related("service").get(pk=monitor.pk)
        if locked.state == state:
            return False
        previous = locked.state
        locked.state = state
        locked.save(update_fields=["state", "updated_at"])
        StatusChange.objects.create(monitor=locked, at=at, from_state=previous, to_state=state,
                                    reason=reason[:500], evidence=evidence or {}, source=source)
        if state == State.DOWN:
            intake.send_alert(locked.service, firing=True, dedup_key=locked.dedup_key,
                              summary=f"{locked.name} is down: {reason}"[:1024], severity="critical",
                              source=_target(locked), labels=_labels(locked, "MonitorDown"),
                              details={"reason": reason, "evidence": evidence or {}, "since": at.isoformat()},
                              annotations={"description": reason[:2000],
                                           "evidence": json.dumps(evidence or {}, default=str)[:20_000]},
                              links=_monitor_links(locked))
        elif previous == State.DOWN:
            intake.send_alert(locked.service, firing=False, dedup_key=locked.dedup_key)
        _broadcast(locked)
    monitor.state = state
    return True


def _rule_key(monitor: Monitor, name: str) -> str:
    return f"{monitor.dedup_key}-rule-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"


def _fire_rule(monitor: Monitor, rule: dict, message: str, evidence: dict) -> None:
    intake.send_alert(monitor.service, firing=True, dedup_key=_rule_key(monitor, rule["name"]),
                      summary=f"{monitor.name}: {rule['name']} ({message})"[:1024],
                      severity=PRIORITY_TO_ALERT_SEVERITY[rule["severity"]], source=_target(monitor),
                      labels=_labels(monitor, "MonitorRule", rule=rule["name"], priority=rule["severity"]),
                      details={"rule": rule, "evidence": evidence},
                      annotations={"description": message, "evidence": json.dumps(evidence, default=str)[:20_000]},
                      links=_monitor_links(monitor))


def _certificate_key(monitor: Monitor) -> str:
    return f"{monitor.dedup_key}-tls"


def _resolve_certificate(monitor: Monitor) -> bool:
    """Close the certificate warning's alert, if open; the caller saves the field."""
    if monitor.certificate_expires_at is None:
        return False
    intake.send_alert(monitor.service, firing=False, dedup_key=_certificate_key(monitor))
    monitor.certificate_expires_at = None
    return True


def certificate_changes(monitor: Monitor, expires_at, at) -> bool:
    """Whether a check that saw this certificate moves the warning: a new certificate
    inside the window, or a renewed one while the warning is open. The engine asks this
    to keep the steady state (no warning, or the same one) on its quiet path."""
    if expires_at is None:
        return False
    if certificate_expiring(expires_at, at, (monitor.config or {}).get("tls_expiry_days", 14)):
        return monitor.certificate_expires_at != expires_at
    return monitor.certificate_expires_at is not None


def evaluate_certificate(monitor: Monitor, expires_at, at) -> bool:
    """The TLS certificate warning after a check that saw the certificate (`expires_at`,
    its notAfter; None when the check got no certificate, which says nothing). Inside the
    window (config tls_expiry_days, 0 = off) the alert `monitor-<id>-tls` is raised, with
    severity warning, once per certificate; a certificate outside it (renewed) resolves
    it. An expired certificate keeps the alert open; the failing check is the down alert's
    business. Returns whether `certificate_expires_at` changed (the caller saves it)."""
    if not certificate_changes(monitor, expires_at, at):
        return False
    if not certificate_expiring(expires_at, at, (monitor.config or {}).get("tls_expiry_days", 14)):
        return _resolve_certificate(monitor)
    days = days_left(expires_at, at)
    when = f"expires in {days} day{'s' if days != 1 else ''}" if days > 0 else "has expired"
    intake.send_alert(monitor.service, firing=True, dedup_key=_certificate_key(monitor),
                      summary=f"{monitor.name}: the TLS certificate {when} ({expires_at:%Y-%m-%d %H:%M} UTC)"[:1024],
                      severity="warning", source=_target(monitor),
                      labels=_labels(monitor, "CertificateExpiring"),
                      details={"certificate_expires_at": expires_at.isoformat(), "days_left": days,
                               "tls_expiry_days": (monitor.config or {}).get("tls_expiry_days", 14)},
                      annotations={"description": f"Renew the certificate of {_target(monitor)}: it {when}."},
                      links=_monitor_links(monitor))
    monitor.certificate_expires_at = expires_at
    return True


def _resolve_rules(monitor: Monitor, *, reason: str) -> None:
    state = monitor.rule_state or {}
    for name in list(state.get("firing", [])):
        intake.send_alert(monitor.service, firing=False, dedup_key=_rule_key(monitor, name))
    if state.get("anomaly", {}).get("open"):
        intake.send_alert(monitor.service, firing=False, dedup_key=f"{monitor.dedup_key}-anomaly")
        state["anomaly"]["open"] = False
    state["firing"], state["since"] = [], {}
    monitor.rule_state = state
    _resolve_certificate(monitor)
    Monitor.objects.filter(pk=monitor.pk).update(rule_state=state, certificate_expires_at=None)


def _resolve_all(monitor: Monitor, *, reason: str) -> None:
    if monitor.state == State.DOWN:
        intake.send_alert(monitor.service, firing=False, dedup_key=monitor.dedup_key)
    _resolve_rules(monitor, reason=reason)


def _holds(cond: dict, result: CheckResult, timeout_ms: float) -> bool:
    value = result.latency_ms if cond["metric"] == "latency_ms" else result.status_code
    if value is None:
        # No answer at all: slower than any latency limit; no status to compare.
        if cond["metric"] == "latency_ms" and not result.ok:
            value = timeout_ms
        else:
            return False
    return {"gt": value > cond["value"], "gte": value >= cond["value"], "lt": value < cond["value"],
            "lte": value <= cond["value"]}[cond["op"]]


def evaluate_rules(monitor: Monitor, result: CheckResult) -> None:
    """Threshold rules after one result. state["since"][rule] is when the condition
    started holding without a break; state["firing"] lists the rules whose alert is open."""
    state = monitor.rule_state or {}
    since, firing = state.setdefault("since", {}), state.setdefault("firing", [])
    for rule in monitor.rules or []:
        name = rule["name"]
        if "error_rate_percent" in rule:
            window_start = result.at - timedelta(seconds=rule["window_seconds"])
            counts = CheckResult.objects.filter(monitor=monitor, at__gt=window_start, at__lte=result.at).aggregate(
                total=Count("id"), failed=Count("id", filter=Q(ok=False)))
            rate = 100.0 * counts["failed"] / counts["total"] if counts["total"] else 0.0
            holding = counts["total"] >= 3 and rate > rule["error_rate_percent"]
            message = f"error rate {rate:.0f}% over {rule['window_seconds']}s ({counts['failed']}/{counts['total']})"
            due = holding
        else:
            holding = any(_holds(c, result, monitor.timeout_seconds * 1000) for c in rule["conditions"])
            if holding:
                since.setdefault(name, result.at.isoformat())
            else:
                since.pop(name, None)
            started = since.get(name)
            held_for = (result.at - _parse(started)).total_seconds() if started else 0
            due = holding and held_for >= rule["for_seconds"]
            message = (f"latency {result.latency_ms or 0:.0f} ms, status {result.status_code or '-'} "
                       f"for {held_for:.0f}s")
        if due and name not in firing:
            firing.append(name)
            _fire_rule(monitor, rule, message, {"result": _result_evidence(result)})
        elif not holding and name in firing:
            firing.remove(name)
            intake.send_alert(monitor.service, firing=False, dedup_key=_rule_key(monitor, name))
    # Rules removed from the monitor: resolve what they left open.
    for name in [n for n in firing if n not in {r["name"] for r in monitor.rules or []}]:
        firing.remove(name)
        intake.send_alert(monitor.service, firing=False, dedup_key=_rule_key(monitor, name))
    monitor.rule_state = state


def _parse(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def _result_evidence(result: CheckResult) -> dict:
    return {"at": result.at.isoformat(), "ok": result.ok, "latency_ms": result.latency_ms,
            "status_code": result.status_code, "message": result.message, "evidence": result.evidence}


BASELINE_REFRESH_SECONDS = 3600
BASELINE_WEEKS = 4


def refresh_baseline(monitor: Monitor, now) -> dict:
    """Learn the latency baseline from the monitor's hourly roll-ups of the past weeks."""
    from monitoring.models import Rollup

    points = Rollup.objects.filter(monitor=monitor, granularity=Rollup.Granularity.HOUR,
                                   bucket__gte=now - timedelta(weeks=BASELINE_WEEKS), bucket__lt=now,
                                   latency_p50__isnull=False).values_list("bucket", "latency_p50")
    return anomaly.build_baseline(points)


def evaluate_anomaly(monitor: Monitor, result: CheckResult) -> None:
    if monitor.anomaly_sensitivity == Monitor.Sensitivity.OFF or not result.ok:
        return  # failures are the failure rules' business; a timeout is not a latency sample
    state = monitor.rule_state or {}
    tracker = state.setdefault("anomaly", {})
    learned = tracker.get("learned_at")
    if not learned or (result.at - _parse(learned)).total_seconds() >= BASELINE_REFRESH_SECONDS:
        tracker["baseline"] = refresh_baseline(monitor, result.at)
        tracker["learned_at"] = result.at.isoformat()
    verdict = anomaly.step(tracker, tracker.get("baseline") or {}, result.at, result.latency_ms,
                           monitor.anomaly_sensitivity)
    key = f"{monitor.dedup_key}-anomaly"
    if verdict == "fire":
        mid, _ = anomaly.expected(tracker["baseline"], result.at)
        intake.send_alert(monitor.service, firing=True, dedup_key=key,
                          summary=f"{monitor.name}: latency {result.latency_ms:.0f} ms is unusually high "
                                  f"(usual {mid:.0f} ms, band up to {tracker['bound']:.0f} ms)",
                          severity="warning", source=_target(monitor),
                          labels=_labels(monitor, "LatencyAnomaly", sensitivity=monitor.anomaly_sensitivity),
                          details={"baseline_ms": mid, "upper_bound_ms": tracker["bound"],
                                   "result": _result_evidence(result)}, links=_monitor_links(monitor))
    elif verdict == "resolve":
        intake.send_alert(monitor.service, firing=False, dedup_key=key)
    monitor.rule_state = state


def apply_result(monitor: Monitor, result: CheckResult, *, source: str, certificate_expires_at=None) -> None:
    """Count one result (already saved) against the thresholds, inside the caller's
    transaction with the monitor locked: down after N failures in a row, up after M
    successes (a new monitor is up at its first success), then rules, anomaly and the
    certificate warning (`certificate_expires_at`: what the check saw, if anything)."""
    if result.ok:
        monitor.consecutive_successes += 1
        monitor.consecutive_failures = 0
    else:
        monitor.consecutive_failures += 1
        monitor.consecutive_successes = 0
    monitor.last_checked_at = result.at
    fields = ["consecutive_successes", "consecutive_failures", "last_checked_at"]
    if not result.ok and monitor.consecutive_failures >= monitor.failure_threshold:
        record_state(monitor, State.DOWN, at=result.at, reason=result.message or "check failed",
                     evidence=_result_evidence(result), source=source)
    elif result.ok and (monitor.state == State.NEW or (
            monitor.state in (State.DOWN, State.LATE) and monitor.consecutive_successes >= monitor.success_threshold)):
        record_state(monitor, State.UP, at=result.at, reason=result.message or "check passed",
                     evidence=_result_evidence(result) if monitor.state != State.NEW else None, source=source)
    if monitor.rules or monitor.anomaly_sensitivity != Monitor.Sensitivity.OFF or (monitor.rule_state or {}).get(
            "firing"):
        evaluate_rules(monitor, result)
        evaluate_anomaly(monitor, result)
        fields.append("rule_state")
    values = {f: getattr(monitor, f) for f in fields}
    if evaluate_certificate(monitor, certificate_expires_at, result.at):
        # The overview shows the warning: move its version and tell the live pages.
        values.update(certificate_expires_at=monitor.certificate_expires_at, updated_at=timezone.now())
        _broadcast(monitor)
    Monitor.objects.filter(pk=monitor.pk).update(**values)


def record_result(monitor: Monitor, outcome: Outcome, *, at, due_at=None, source: str = "monitor") -> CheckResult:
    """Store one check's outcome and apply it (the engine's slow path, also used by tests
    and the "test now" of a saved monitor when asked to record)."""
    with transaction.atomic():
        locked = Monitor.objects.select_for_update(of=("self",)).select_related("service").get(pk=monitor.pk)
        if locked.is_paused:
            return None
        result = CheckResult.objects.create(monitor=locked, at=at, due_at=due_at, ok=outcome.ok,
                                            latency_ms=outcome.latency_ms, status_code=outcome.status_code,
                                            message=outcome.message[:500],
                                            evidence=outcome.evidence if not outcome.ok else {})
        apply_result(locked, result, source=source, certificate_expires_at=outcome.certificate_expires_at)
    monitor.state = locked.state
    return result


def _broadcast(monitor: Monitor) -> None:
    broadcast_on_commit(LIVE_GROUP, {"type": "monitor.changed", "id": monitor.pk})
