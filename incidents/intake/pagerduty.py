"""The PagerDuty Events API formats: v2 alert events, v2 change events, legacy v1.

Knows the wire format and nothing else: which fields are required, their types and
limits (as PagerDuty documents them, with its error wording where known), and how an
event maps to AlertEvent / ChangeEventData. The HTTP side (status codes, bodies) is in
views.py.

Quirks of real senders honoured here: optional fields sent as JSON null (pygerduty sends
"client": null, "contexts": null), timestamps with "+0000" offsets or nanoseconds, and
custom_details of any JSON type (PagerDuty documents an object, but accepts anything).
"""

from incidents.intake.events import SEVERITIES, AlertEvent, ChangeEventData
from incidents.intake.timestamps import parse_timestamp

V2 = "pagerduty.v2"
CHANGE = "pagerduty.change"
V1 = "pagerduty.v1"
ENDPOINTS = (V2, CHANGE, V1)

ACTIONS = ("trigger", "acknowledge", "resolve")
KEY_LENGTH = 32  # PagerDuty integration keys; its clients and Alertmanager's tests rely on it
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


def key_field(endpoint: str) -> str:
    """The body field that carries the integration key."""
    return "service_key" if endpoint == V1 else "routing_key"


def key_errors(payload: dict, endpoint: str) -> list[str]:
    """Problems with the integration key itself (checked before the key is looked up)."""
    name = key_field(endpoint)
    value = payload.get(name)
    if _blank(value):
        return [f"'{name}' is missing or blank"]
    if not isinstance(value, str) or len(value) != KEY_LENGTH:
        return [f"Length of '{name}' is incorrect (should be {KEY_LENGTH} characters)"]
    return []


def event_key(payload: dict, endpoint: str) -> str:
    """The dedup key the sender gave (v2 dedup_key, v1 incident_key), or ""."""
    value = payload.get("incident_key" if endpoint == V1 else "dedup_key")
    return value if isinstance(value, str) else ""


def needs_generated_key(payload: dict, endpoint: str) -> bool:
    """A trigger without a dedup key gets one from us (and always makes a new alert)."""
    action = payload.get("event_type" if endpoint == V1 else "event_action")
    return endpoint != CHANGE and action == "trigger" and not event_key(payload, endpoint)


# --- validation (at accept time: the sender gets its error at once) ----------------------------

def validate(payload, endpoint: str) -> list[str]:
    if not isinstance(payload, dict):
        return ["Event object must be a JSON object"]
    errors = key_errors(payload, endpoint)
    if endpoint == V2:
        errors += _validate_v2(payload)
    elif endpoint == CHANGE:
        errors += _validate_change(payload)
    elif endpoint == V1:
        errors += _validate_v1(payload)
    else:
        errors.append(f"unknown PagerDuty endpoint {endpoint!r}")
    return errors


def _validate_v2(event: dict) -> list[str]:
    errors = []
    action = event.get("event_action")
    if _blank(action):
        errors.append("'event_action' is missing or blank")
    elif action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    errors += _dedup_key_errors(event, "dedup_key", action)
    if action == "trigger":
        payload = event.get("payload")
        if payload is None:
            errors.append("'payload' is missing or blank")
        elif not isinstance(payload, dict):
            errors.append("'payload' must be an object")
        else:
            errors += _text(payload, "summary", "payload.summary", required=True, limit=MAX_SUMMARY)
            errors += _text(payload, "source", "payload.source", required=True, limit=MAX_SUMMARY)
            severity = payload.get("severity")
            if _blank(severity):
                errors.append("'payload.severity' is missing or blank")
            elif severity not in SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of the following: "
                              "'critical', 'error', 'warning' or 'info')")
            errors += _timestamp(payload, "timestamp", "payload.timestamp")
            for name in ("component", "group", "class"):
                errors += _text(payload, name, f"payload.{name}", limit=MAX_SUMMARY)
        errors += _text(event, "client", "client", limit=MAX_SUMMARY)
        errors += _text(event, "client_url", "client_url", limit=2048)
        errors += _links(event.get("links"), "links")
        errors += _images(event.get("images"), "images")
    return errors


def _validate_change(event: dict) -> list[str]:
    payload = event.get("payload")
    if payload is None:
        return ["'payload' is missing or blank"]
    if not isinstance(payload, dict):
        return ["'payload' must be an object"]
    errors = _text(payload, "summary", "payload.summary", required=True, limit=MAX_SUMMARY)
    errors += _text(payload, "source", "payload.source", limit=MAX_SUMMARY)
    errors += _timestamp(payload, "timestamp", "payload.timestamp")
    errors += _links(event.get("links"), "links")
    # PagerDuty ignores images on change events; the `pagerduty` client may send them anyway.
    errors += _images(event.get("images"), "images")
    return errors


def _validate_v1(event: dict) -> list[str]:
    errors = []
    action = event.get("event_type")
    if _blank(action):
        errors.append("'event_type' is missing or blank")
    elif action not in ACTIONS:
        errors.append("'event_type' is invalid (must be one of: trigger, acknowledge, resolve)")
    errors += _dedup_key_errors(event, "incident_key", action)
    errors += _text(event, "description", "description", required=action == "trigger", limit=MAX_SUMMARY)
    errors += _text(event, "client", "client", limit=MAX_SUMMARY)
    errors += _text(event, "client_url", "client_url", limit=2048)
    contexts = event.get("contexts")
    if contexts is not None:
        if not isinstance(contexts, list):
            errors.append("'contexts' must be an array")
        else:
            for i, context in enumerate(contexts):
                if not isinstance(context, dict) or context.get("type") not in ("link", "image"):
                    errors.append(f"'contexts[{i}]' must be an object with 'type' link or image")
                    continue
                needed = "href" if context["type"] == "link" else "src"
                if _blank(context.get(needed)) or not isinstance(context[needed], str):
                    errors.append(f"'contexts[{i}].{needed}' is missing or blank")
    return errors


def _dedup_key_errors(event: dict, name: str, action) -> list[str]:
    value = event.get(name)
    if value is not None and not isinstance(value, str):
        return [f"'{name}' must be a string"]
    if value and len(value) > MAX_DEDUP_KEY:
        return [f"'{name}' is too long (at most {MAX_DEDUP_KEY} characters)"]
    if action in ("acknowledge", "resolve") and _blank(value):
        return [f"'{name}' is missing or blank (required to {action})"]
    return []


def _text(obj: dict, name: str, label: str, *, required: bool = False, limit: int) -> list[str]:
    value = obj.get(name)
    if value is None or (required and _blank(value)):
        return [f"'{label}' is missing or blank"] if required else []
    if not isinstance(value, str):
        return [f"'{label}' must be a string"]
    if len(value) > limit:
        return [f"'{label}' is too long (at most {limit} characters)"]
    return []


def _timestamp(obj: dict, name: str, label: str) -> list[str]:
    try:
        parse_timestamp(obj.get(name))
    except ValueError as exc:
        return [f"'{label}' is invalid: {exc}"]
    return []


def _links(links, label: str) -> list[str]:
    if links is None:
        return []
    if not isinstance(links, list):
        return [f"'{label}' must be an array"]
    errors = []
    for i, link in enumerate(links):
        if not isinstance(link, dict) or _blank(link.get("href")) or not isinstance(link["href"], str):
            errors.append(f"'{label}[{i}].href' is missing or blank")
        elif link.get("text") is not None and not isinstance(link["text"], str):
            errors.append(f"'{label}[{i}].text' must be a string")
    return errors


def _images(images, label: str) -> list[str]:
    if images is None:
        return []
    if not isinstance(images, list):
        return [f"'{label}' must be an array"]
    errors = []
    for i, image in enumerate(images):
        if not isinstance(image, dict) or _blank(image.get("src")) or not isinstance(image["src"], str):
            errors.append(f"'{label}[{i}].src' is missing or blank")
        elif any(image.get(k) is not None and not isinstance(image[k], str) for k in ("href", "alt")):
            errors.append(f"'{label}[{i}].href' and '.alt' must be strings")
    return errors


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- normalising (in the worker) ---------------------------------------------------------------

def normalise(payload: dict, endpoint: str, raw) -> list[AlertEvent | ChangeEventData]:
    if endpoint == CHANGE:
        body = payload["payload"]
        return [ChangeEventData(summary=body["summary"], source=body.get("source") or "",
                                occurred_at=parse_timestamp(body.get("timestamp")),
                                custom_details=_details(body.get("custom_details")),
                                links=_link_list(payload.get("links")))]
    v1 = endpoint == V1
    action = payload["event_type" if v1 else "event_action"]
    dedup_key = event_key(payload, endpoint) or raw.assigned_dedup_key
    if action != "trigger":
        return [AlertEvent(action=action, dedup_key=dedup_key)]
    links = []
    if payload.get("client_url"):
        links.append({"href": payload["client_url"], "text": payload.get("client") or "Client"})
    if v1:
        contexts = payload.get("contexts") or []
        links += [{"href": c["href"], "text": c.get("text") or c["href"]} for c in contexts if c["type"] == "link"]
        links += [{"href": c.get("href") or c["src"], "text": c.get("alt") or "Image"}
                  for c in contexts if c["type"] == "image"]
        return [AlertEvent(action="trigger", dedup_key=dedup_key, summary=payload["description"],
                           source=payload.get("client") or "", links=links,
                           details=_details(payload.get("details")))]
    body = payload["payload"]
    labels = {name: body[name] for name in ("component", "group", "class") if body.get(name)}
    links = _link_list(payload.get("links")) + links
    links += [{"href": image.get("href") or image["src"], "text": image.get("alt") or "Image"}
              for image in payload.get("images") or []]
    return [AlertEvent(action="trigger", dedup_key=dedup_key, summary=body["summary"], severity=body["severity"],
                       source=body["source"], labels=labels, links=links,
                       occurred_at=parse_timestamp(body.get("timestamp")),
                       details=_details(body.get("custom_details")))]


def _details(value) -> dict:
    if value is None:
        return {}
    return value if isinstance(value, dict) else {"details": value}


def _link_list(links) -> list[dict]:
    return [{"href": link["href"], "text": link.get("text") or link["href"]} for link in links or []]
