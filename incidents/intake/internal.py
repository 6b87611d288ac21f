"""Intake's door for Alertum's own detectors (monitors, heartbeats): an alert raised or
resolved in-process, so grouping, silences, inhibition, maintenance and routing apply to
it exactly as to any sender's alert.

Each service gets one built-in generic integration ("Monitoring (built-in)", created on
first use). Every call stores a RawEvent (the record, replayable like any other) and
applies its AlertEvent through `pipeline.apply_alert_event` at once, inside the caller's
transaction; if applying fails the raw event stays pending and the drain retries it from
its stored generic body. Lock order: the caller's rows, then the integration row (as the
drain takes it, so one integration's events stay in order), then the pipeline's own.
"""

import json
import logging
import secrets

from django.db import transaction
from django.utils import timezone

from alertum.core.models import Service
from incidents.intake.events import AlertEvent
from incidents.models import Integration, RawEvent

log = logging.getLogger(__name__)

BUILT_IN_NAME = "Monitoring (built-in)"
SEVERITIES = ("critical", "error", "warning", "info")


def monitoring_integration(service: Service) -> Integration:
    """The service's built-in integration for monitors, created on first use. Its key is
    random and never shown: nothing outside the process sends through it."""
    integration = Integration.objects.filter(service=service, name=BUILT_IN_NAME).first()
    if integration is not None:
        return integration
    key = secrets.token_hex(16)
    try:
        with transaction.atomic():
            return Integration.objects.create(service=service, name=BUILT_IN_NAME, kind=Integration.Kind.GENERIC,
                                              key_prefix=key[:8], key_hash=Integration.hash_key(key))
    except Exception:  # a concurrent first use created it (unique service+name)
        return Integration.objects.get(service=service, name=BUILT_IN_NAME)


def send_alert(service: Service, *, firing: bool, dedup_key: str, summary: str = "", severity: str = "error",
               source: str = "", labels: dict | None = None, details: dict | None = None,
               links: list | None = None, annotations: dict | None = None) -> RawEvent:
    """Raise (firing=True) or resolve the alert `dedup_key` on `service`. Call inside the
    caller's transaction; the effects commit with it."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    links = [{"href": link["href"], "text": link.get("text") or link["href"]} for link in links or []]
    body = {"title": summary[:1024] or dedup_key, "severity": severity, "dedup_key": dedup_key,
            "status": "firing" if firing else "resolved", "source": source, "labels": labels,
            "details": details or {}, "links": links}
    integration = monitoring_integration(service)
    now = timezone.now()
    raw = RawEvent.objects.create(integration=integration, endpoint="generic", received_at=now,
                                  body=json.dumps(body, default=str), headers={"x-alertum-source": "monitor"},
                                  next_attempt_at=now)
    event = AlertEvent(action="trigger" if firing else "resolve", dedup_key=dedup_key, summary=body["title"],
                       severity=severity, source=source, labels=labels, annotations=dict(annotations or {}),
                       links=links, details=details or {})
    from incidents.intake import pipeline

    try:
        with transaction.atomic():
            Integration.objects.select_for_update().get(pk=integration.pk)
            pipeline.apply_alert_event(raw, event)
    except Exception:  # stays pending: the drain applies it from the stored body
        log.warning("monitor alert %s could not be applied at once; left for the drain", dedup_key, exc_info=True)
        from incidents.intake.accept import _kick

        transaction.on_commit(_kick)
        return raw
    raw.state, raw.processed_at = RawEvent.State.PROCESSED, timezone.now()
    raw.save(update_fields=["state", "processed_at"])
    return raw
