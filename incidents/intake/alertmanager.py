"""Prometheus Alertmanager webhook (version "4") and Grafana alerting webhook (version "1").

Grafana embeds Alertmanager's payload (receiver, status, alerts[], groupLabels,
commonLabels, commonAnnotations, externalURL, groupKey, truncatedAlerts) and adds orgId,
state, title, message, and per alert silenceURL, dashboardURL, panelURL, values. One
module reads both.

Each notification carries the whole current group (every firing alert plus those resolved
since the last send), not a delta, and senders resend: so each alert becomes one event,
identified by its fingerprint, and the pipeline upserts. A firing alert's endsAt is Go's
zero time "0001-01-01T00:00:00Z": it means "still firing" and is never stored.

Parsing is lenient, as newer senders add fields (notification_reason, routeLabels ...):
unknown keys are ignored, missing optional keys are empty.
"""

from django.utils import timezone

from incidents.intake.events import AlertEvent
from incidents.intake.timestamps import parse_timestamp

ALERTMANAGER = "alertmanager"
GRAFANA = "grafana"
ENDPOINTS = (ALERTMANAGER, GRAFANA)

# Severity label values seen in the wild, mapped onto ours. Unknown values become "error",
# the same default PagerDuty's own Alertmanager integration uses.
SEVERITY_ALIASES = {
    "critical": "critical", "crit": "critical", "fatal": "critical", "emergency": "critical", "emerg": "critical",
    "alert": "critical", "page": "critical", "disaster": "critical", "p1": "critical", "high": "critical",
    "error": "error", "err": "error", "major": "error", "p2": "error",
    "warning": "warning", "warn": "warning", "minor": "warning", "average": "warning", "medium": "warning",
    "p3": "warning",
    "info": "info", "information": "info", "informational": "info", "notice": "info", "none": "info", "low": "info",
    "ok": "info", "debug": "info", "p4": "info", "p5": "info",
}
DEFAULT_SEVERITY = "error"

# Per-alert URLs and how they are shown (Grafana's extras after Alertmanager's own).
LINK_FIELDS = (("generatorURL", "Source"), ("dashboardURL", "Dashboard"), ("panelURL", "Panel"),
               ("silenceURL", "Silence"), ("imageURL", "Image"))
STATUSES = ("firing", "resolved")


def severity_of(labels: dict) -> str:
    value = labels.get("severity", "").strip().lower()
    return SEVERITY_ALIASES.get(value, DEFAULT_SEVERITY) if value else DEFAULT_SEVERITY


def fingerprint(labels: dict) -> str:
    """Alertmanager's own fingerprint of a label set (prometheus/common model.LabelSet:
    FNV-1a 64 over the sorted names and values, each followed by the 0xff separator), so
    an alert that comes without one gets the identity Alertmanager would have given it."""
    value = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


# --- validation ----------------------------------------------------------------------------------

def validate(payload, endpoint: str) -> list[str]:
    if not isinstance(payload, dict):
        return ["the body must be a JSON object (an Alertmanager or Grafana webhook payload)"]
    alerts = payload.get("alerts")
    if alerts is None:
        return ["'alerts' is missing: not an Alertmanager or Grafana webhook payload"]
    if not isinstance(alerts, list):
        return ["'alerts' must be an array"]
    errors = []
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            errors.append(f"alerts[{i}] must be an object")
            continue
        for name in ("labels", "annotations"):
            errors += _map_errors(alert.get(name), f"alerts[{i}].{name}")
        status = alert.get("status")
        if status is not None and status not in STATUSES:
            errors.append(f"alerts[{i}].status must be 'firing' or 'resolved'")
        for name in ("startsAt", "endsAt"):
            try:
                parse_timestamp(alert.get(name))
            except ValueError as exc:
                errors.append(f"alerts[{i}].{name} is invalid: {exc}")
        for name in ("fingerprint", *(field for field, _ in LINK_FIELDS)):
            if alert.get(name) is not None and not isinstance(alert[name], str):
                errors.append(f"alerts[{i}].{name} must be a string")
        if isinstance(alert.get("fingerprint"), str) and len(alert["fingerprint"]) > 255:
            errors.append(f"alerts[{i}].fingerprint is too long (at most 255 characters)")
    return errors


def _map_errors(value, label: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{label} must be an object of strings"]
    bad = [name for name, v in value.items() if isinstance(v, dict | list)]
    return [f"{label}.{name} must be a string" for name in bad]


# --- normalising ---------------------------------------------------------------------------------

def normalise(payload: dict, endpoint: str, raw) -> list[AlertEvent]:
    group = {"receiver": payload.get("receiver"), "groupKey": payload.get("groupKey"),
             "externalURL": payload.get("externalURL")}
    if payload.get("truncatedAlerts"):
        group["truncatedAlerts"] = payload["truncatedAlerts"]
    return [_event(alert, group, endpoint) for alert in payload["alerts"]]


def _event(alert: dict, group: dict, endpoint: str) -> AlertEvent:
    labels = _strings(alert.get("labels"))
    annotations = _strings(alert.get("annotations"))
    key = alert.get("fingerprint") or fingerprint(labels)
    starts_at = parse_timestamp(alert.get("startsAt"))
    ends_at = parse_timestamp(alert.get("endsAt"))  # None for the zero time: still firing
    status = alert.get("status") or ("resolved" if ends_at is not None and ends_at <= timezone.now() else "firing")
    summary = (annotations.get("summary") or annotations.get("description") or labels.get("alertname")
               or f"Alert {key}")
    links = [{"href": alert[field], "text": text} for field, text in LINK_FIELDS if alert.get(field)]
    if annotations.get("runbook_url"):
        links.append({"href": annotations["runbook_url"], "text": "Runbook"})
    details = {**{k: v for k, v in group.items() if v}, "status": status,
               "startsAt": starts_at.isoformat() if starts_at else None,
               "endsAt": ends_at.isoformat() if ends_at else None}
    if endpoint == GRAFANA:
        for name in ("values", "valueString", "ruleUID", "orgId"):
            if alert.get(name) not in (None, "", {}):
                details[name] = alert[name]
    resolved = status == "resolved"
    return AlertEvent(action="resolve" if resolved else "trigger", dedup_key=key, summary=summary[:1024],
                      severity=severity_of(labels), source=labels.get("instance") or labels.get("job") or "",
                      labels=labels, annotations=annotations, links=links,
                      occurred_at=ends_at if resolved else starts_at, details=details)


def _strings(value) -> dict[str, str]:
    if not value:
        return {}
    return {str(k): v if isinstance(v, str) else ("" if v is None else _scalar(v)) for k, v in value.items()}


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
