"""The generic JSON webhook: Alertum's own small format for tools with no standard one.

    {"title": "Disk full on web-1",          required, at most 1024 characters
     "severity": "critical",                 critical | error | warning | info (default error)
     "dedup_key": "disk-web-1",              optional, at most 255; absent: a new alert each time
     "status": "firing",                     firing | resolved (default firing; resolved needs dedup_key)
     "source": "web-1",                      optional, where it happened
     "labels": {"team": "db"},               optional, strings; used by grouping, silences and rules
     "details": {"free_bytes": 1024},        optional object, shown with the alert
     "links": [{"href": "https://...", "text": "Runbook"}]}   optional

Documented in docs/intake.md. Unknown keys are ignored.
"""

from incidents.intake.events import SEVERITIES, AlertEvent

ENDPOINTS = ("generic",)
STATUSES = ("firing", "resolved")
MAX_TITLE = 1024
MAX_DEDUP_KEY = 255


def validate(payload, endpoint: str = "generic") -> list[str]:
    if not isinstance(payload, dict):
        return ["body: must be a JSON object"]
    errors = []
    title = payload.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.append("title: required, a non-empty string" if title is None or isinstance(title, str)
                      else "title: must be a string")
    elif len(title) > MAX_TITLE:
        errors.append(f"title: at most {MAX_TITLE} characters")
    severity = payload.get("severity")
    if severity is not None and severity not in SEVERITIES:
        errors.append(f"severity: must be one of {', '.join(SEVERITIES)}")
    status = payload.get("status")
    if status is not None and status not in STATUSES:
        errors.append("status: must be firing or resolved")
    dedup_key = payload.get("dedup_key")
    if dedup_key is not None and not isinstance(dedup_key, str):
        errors.append("dedup_key: must be a string")
    elif dedup_key and len(dedup_key) > MAX_DEDUP_KEY:
        errors.append(f"dedup_key: at most {MAX_DEDUP_KEY} characters")
    elif status == "resolved" and not dedup_key:
        errors.append("dedup_key: required when status is resolved (the key of the alert to resolve)")
    source = payload.get("source")
    if source is not None and not isinstance(source, str):
        errors.append("source: must be a string")
    labels = payload.get("labels")
    if labels is not None and (not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values())):
        errors.append("labels: must be an object of strings")
    details = payload.get("details")
    if details is not None and not isinstance(details, dict):
        errors.append("details: must be an object")
    links = payload.get("links")
    if links is not None:
        if not isinstance(links, list):
            errors.append("links: must be an array of {href, text}")
        else:
            for i, link in enumerate(links):
                if not isinstance(link, dict) or not isinstance(link.get("href"), str) or not link["href"].strip():
                    errors.append(f"links[{i}].href: required, a non-empty string")
                elif link.get("text") is not None and not isinstance(link["text"], str):
                    errors.append(f"links[{i}].text: must be a string")
    return errors


def event_key(payload: dict) -> str:
    value = payload.get("dedup_key")
    return value if isinstance(value, str) else ""


def normalise(payload: dict, endpoint: str, raw) -> list[AlertEvent]:
    dedup_key = event_key(payload) or raw.assigned_dedup_key
    if payload.get("status") == "resolved":
        return [AlertEvent(action="resolve", dedup_key=dedup_key)]
    return [AlertEvent(action="trigger", dedup_key=dedup_key, summary=payload["title"],
                       severity=payload.get("severity") or "error", source=payload.get("source") or "",
                       labels=dict(payload.get("labels") or {}), details=payload.get("details") or {},
                       links=[{"href": link["href"], "text": link.get("text") or link["href"]}
                              for link in payload.get("links") or []])]
