"""The Atlassian Statuspage public API v2 shapes (shared/reference/status-and-heartbeat-
formats.md §3.2), built from our rows. Pure functions: the caller fetches.

Conventions kept exactly: 12-character base-36 ids; ISO 8601 timestamps with
milliseconds and the page's UTC offset; `null` rather than a missing key; arrays always
present; groups and leaves in one flat array ordered by position.
"""

import zoneinfo

from statuspages.models import STATUS_RANK, ComponentStatus, Impact, StatusPage

# Overall status: the worst component decides; several components are blended the
# way Statuspage does (a single broken component is "minor" on a big page).
INDICATOR_TEXT = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}
IMPACT_RANK = {"none": 0, "maintenance": 0, "minor": 1, "major": 2, "critical": 3}


def ts(value, tz) -> str | None:
    if value is None:
        return None
    return value.astimezone(tz).isoformat(timespec="milliseconds")


def page_tz(page: StatusPage):
    try:
        return zoneinfo.ZoneInfo(page.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def page_json(page: StatusPage, url: str, updated_at) -> dict:
    tz = page_tz(page)
    return {"id": page.code, "name": page.name, "url": url, "time_zone": page.time_zone,
            "updated_at": ts(updated_at, tz)}


def component_json(component, page: StatusPage, children_codes=None) -> dict:
    tz = page_tz(page)
    data = {
        "id": component.code,
        "name": component.name,
        "status": component.status,
        "created_at": ts(component.created_at, tz),
        "updated_at": ts(component.updated_at, tz),
        "position": component.position,
        "description": component.description or None,
        "showcase": component.showcase,
        "start_date": component.start_date.isoformat() if component.start_date else None,
        "group_id": component.group.code if component.group_id else None,
        "page_id": page.code,
        "group": component.is_group,
        "only_show_if_degraded": component.only_show_if_degraded,
    }
    if component.is_group:
        data["components"] = list(children_codes or [])
    return data


def components_json(components, page: StatusPage) -> list[dict]:
    """Flat, by position (groups and leaves interleaved as ordered)."""
    children: dict[int, list[str]] = {}
    for c in components:
        if c.group_id:
            children.setdefault(c.group_id, []).append(c.code)
    return [component_json(c, page, children.get(c.pk)) for c in components]


def update_json(update, subject_code: str, page: StatusPage) -> dict:
    tz = page_tz(page)
    return {
        "id": update.code,
        "status": update.status,
        "body": update.body,
        "incident_id": subject_code,
        "created_at": ts(update.created_at, tz),
        "updated_at": ts(update.created_at, tz),
        "display_at": ts(update.display_at, tz),
        "affected_components": update.affected_components,
        "deliver_notifications": update.deliver_notifications,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident_json(incident, page: StatusPage, url: str) -> dict:
    """A public incident (updates and components prefetched by the caller)."""
    tz = page_tz(page)
    updates = sorted(incident.updates.all(), key=lambda u: (u.display_at, u.pk), reverse=True)
    return {
        "id": incident.code,
        "name": incident.name,
        "status": incident.status,
        "created_at": ts(incident.created_at, tz),
        "updated_at": ts(incident.updated_at, tz),
        "monitoring_at": ts(incident.monitoring_at, tz),
        "resolved_at": ts(incident.resolved_at, tz),
        "impact": incident.impact,
        "shortlink": f"{url.rstrip('/')}/incidents/{incident.code}",
        "started_at": ts(incident.started_at, tz),
        "page_id": page.code,
        "incident_updates": [update_json(u, incident.code, page) for u in updates],
        "components": components_json(sorted(incident.components.all(), key=lambda c: (c.position, c.pk)), page),
    }


def maintenance_json(maintenance, page: StatusPage, url: str) -> dict:
    tz = page_tz(page)
    window = maintenance.window
    updates = sorted(maintenance.updates.all(), key=lambda u: (u.display_at, u.pk), reverse=True)
    return {
        "id": maintenance.code,
        "name": maintenance.name,
        "status": maintenance.status,
        "created_at": ts(maintenance.created_at, tz),
        "updated_at": ts(maintenance.updated_at, tz),
        "monitoring_at": None,
        "resolved_at": ts(window.completed_at, tz) if maintenance.status == "completed" else None,
        "impact": maintenance.impact,
        "shortlink": f"{url.rstrip('/')}/maintenance/{maintenance.code}",
        "started_at": ts(window.started_at or window.starts_at, tz),
        "page_id": page.code,
        "incident_updates": [update_json(u, maintenance.code, page) for u in updates],
        "components": components_json(sorted(maintenance.components.all(), key=lambda c: (c.position, c.pk)),
                                      page),
        "scheduled_for": ts(window.starts_at, tz),
        "scheduled_until": ts(window.ends_at, tz),
    }


def overall_status(components, open_incidents=()) -> dict:
    """{"indicator", "description"} from the leaf components and unresolved incidents.

    One leaf: its own wording. Several: the worst status decides, softened when only a
    small share is hit (one partial outage among ten is a minor outage of the whole).
    An unresolved incident never shows less than its impact.
    """
    leaves = [c for c in components if not c.is_group]
    statuses = [c.status for c in leaves]
    worst_status = max(statuses, key=STATUS_RANK.__getitem__, default=ComponentStatus.OPERATIONAL)
    indicator = "none"
    if worst_status == ComponentStatus.MAJOR:
        broken = sum(s == ComponentStatus.MAJOR for s in statuses)
        indicator = "critical" if broken * 2 >= len(statuses) or len(statuses) == 1 else "major"
    elif worst_status == ComponentStatus.PARTIAL:
        indicator = "major"
    elif worst_status == ComponentStatus.DEGRADED:
        indicator = "minor"
    for incident in open_incidents:
        impact = incident.impact if incident.impact != Impact.MAINTENANCE else "none"
        if IMPACT_RANK[impact] > IMPACT_RANK[indicator]:
            indicator = impact
    if len(leaves) == 1 and indicator != "none":
        text = {ComponentStatus.DEGRADED: "Partially Degraded Service", ComponentStatus.PARTIAL:
                "Partial System Outage", ComponentStatus.MAJOR: "Major System Outage"}.get(worst_status)
        return {"indicator": indicator, "description": text or INDICATOR_TEXT[indicator]}
    if indicator == "none" and worst_status == ComponentStatus.MAINTENANCE:
        return {"indicator": "none", "description": INDICATOR_TEXT["maintenance"]}
    return {"indicator": indicator, "description": INDICATOR_TEXT[indicator]}


def incident_impact(statuses, override: str = "") -> str:
    """An incident's impact from its affected components' statuses (Statuspage's rule),
    unless overridden."""
    if override:
        return override
    top = max(statuses, key=STATUS_RANK.__getitem__, default=ComponentStatus.OPERATIONAL)
    return {ComponentStatus.MAJOR: Impact.CRITICAL, ComponentStatus.PARTIAL: Impact.MAJOR,
            ComponentStatus.DEGRADED: Impact.MINOR}.get(top, Impact.NONE)
