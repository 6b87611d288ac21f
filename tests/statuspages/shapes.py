"""The Statuspage API v2 shapes (shared/reference/status-and-heartbeat-formats.md §3.2),
as checks that name the field at fault."""

import datetime as dt
import re

ID = re.compile(r"^[0-9a-z]{12}$")
# ISO 8601 with milliseconds and a UTC offset, e.g. 2022-02-15T13:37:37.407-08:00
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
COMPONENT_STATUS = {"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
INDICATOR = {"none", "minor", "major", "critical"}
INCIDENT_STATUS = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
MAINTENANCE_STATUS = {"scheduled", "in_progress", "verifying", "completed"}
IMPACT = {"none", "minor", "major", "critical", "maintenance"}


def keys(obj, expected, where):
    assert isinstance(obj, dict), f"{where} is not an object"
    assert set(obj) == set(expected), f"{where} keys {sorted(obj)} != {sorted(expected)}"


def timestamp(value, where, nullable=False):
    if nullable and value is None:
        return
    assert isinstance(value, str) and TIMESTAMP.match(value), f"{where} = {value!r} is not an ISO timestamp with ms"


def page(obj, tz_offset=None):
    keys(obj, ["id", "name", "url", "time_zone", "updated_at"], "page")
    assert ID.match(obj["id"]), "page.id"
    assert obj["url"].startswith("http"), "page.url"
    timestamp(obj["updated_at"], "page.updated_at")
    if tz_offset:
        assert obj["updated_at"].endswith(tz_offset), "page.updated_at is not in the page's time zone"


def status(obj):
    keys(obj, ["indicator", "description"], "status")
    assert obj["indicator"] in INDICATOR, "status.indicator"
    assert isinstance(obj["description"], str) and obj["description"], "status.description"


def component(obj):
    base = ["id", "name", "status", "created_at", "updated_at", "position", "description", "showcase", "start_date",
            "group_id", "page_id", "group", "only_show_if_degraded"]
    keys(obj, base + (["components"] if obj.get("group") else []), f"component {obj.get('name')}")
    assert ID.match(obj["id"]) and ID.match(obj["page_id"]), "component ids"
    assert obj["status"] in COMPONENT_STATUS, "component.status"
    timestamp(obj["created_at"], "component.created_at")
    timestamp(obj["updated_at"], "component.updated_at")
    assert isinstance(obj["position"], int), "component.position"
    assert obj["description"] is None or isinstance(obj["description"], str), "component.description"
    assert isinstance(obj["showcase"], bool) and isinstance(obj["only_show_if_degraded"], bool)
    assert obj["start_date"] is None or dt.date.fromisoformat(obj["start_date"]), "component.start_date"
    assert obj["group_id"] is None or ID.match(obj["group_id"]), "component.group_id"
    if obj["group"]:
        assert obj["group_id"] is None, "a group sits at the top"
        assert all(ID.match(c) for c in obj["components"]), "group.components"


def update(obj, subject_id, statuses):
    keys(obj, ["id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
               "affected_components", "deliver_notifications", "custom_tweet", "tweet_id"], "incident_update")
    assert ID.match(obj["id"]) and obj["incident_id"] == subject_id
    assert obj["status"] in statuses, f"update.status {obj['status']}"
    for name in ("created_at", "updated_at", "display_at"):
        timestamp(obj[name], f"update.{name}")
    if obj["affected_components"] is not None:
        for a in obj["affected_components"]:
            keys(a, ["code", "name", "old_status", "new_status"], "affected_component")
            assert ID.match(a["code"]) and a["old_status"] in COMPONENT_STATUS and a["new_status"] in COMPONENT_STATUS
    assert obj["custom_tweet"] is None and obj["tweet_id"] is None


def incident(obj, maintenance=False):
    names = ["id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact",
             "shortlink", "started_at", "page_id", "incident_updates", "components"]
    if maintenance:
        names += ["scheduled_for", "scheduled_until"]
    keys(obj, names, f"incident {obj.get('name')}")
    assert ID.match(obj["id"]) and ID.match(obj["page_id"])
    assert obj["status"] in (MAINTENANCE_STATUS if maintenance else INCIDENT_STATUS), "incident.status"
    assert obj["impact"] in IMPACT, "incident.impact"
    for name in ("created_at", "updated_at", "started_at"):
        timestamp(obj[name], f"incident.{name}")
    for name in ("monitoring_at", "resolved_at"):
        timestamp(obj[name], f"incident.{name}", nullable=True)
    if maintenance:
        timestamp(obj["scheduled_for"], "scheduled_for")
        timestamp(obj["scheduled_until"], "scheduled_until")
    assert obj["shortlink"].startswith("http")
    assert isinstance(obj["incident_updates"], list) and isinstance(obj["components"], list)
    displayed = [u["display_at"] for u in obj["incident_updates"]]
    assert displayed == sorted(displayed, reverse=True), "incident_updates newest first"
    for u in obj["incident_updates"]:
        update(u, obj["id"], MAINTENANCE_STATUS if maintenance else INCIDENT_STATUS)
    for c in obj["components"]:
        component(c)
