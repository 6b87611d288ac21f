"""The Statuspage-compatible JSON door, field by field against the reference shapes."""

import datetime as dt

import pytest

from alertum.core.models import Door
from statuspages import actions
from tests.statuspages import shapes

BASE = "/status/acme/api/v2/"


def get(client, name, **extra):
    response = client.get(BASE + name, **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


@pytest.fixture
def story(clock, page, components, cast, incident):
    """One resolved-later incident on API, one open on Checkout, one upcoming maintenance."""
    alice = cast["alice"]
    open_one = actions.create_public_incident(
        page, name="Checkout errors", body="We are investigating failed payments.", incident=incident,
        component_statuses={components["checkout"].code: "partial_outage"}, actor=alice, source=Door.WEB)
    clock.shift(60)
    old = actions.create_public_incident(page, name="Slow API", body="Investigating slow responses.",
                                         component_statuses={components["api"].code: "degraded_performance"},
                                         actor=alice, source=Door.WEB)
    clock.shift(60)
    actions.post_incident_update(old, status="resolved", body="Fixed.", actor=alice, source=Door.WEB)
    start = dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.UTC)
    maintenance = actions.schedule_public_maintenance(
        page, name="Database upgrade", starts_at=start, ends_at=start + dt.timedelta(hours=2),
        components=[components["checkout"]], actor=alice, source=Door.WEB)
    return {"open": open_one, "old": old, "maintenance": maintenance}


def test_summary_json_matches_the_statuspage_shape(client, story, components):
    data = get(client, "summary.json")
    shapes.keys(data, ["page", "components", "incidents", "scheduled_maintenances", "status"], "summary")
    shapes.page(data["page"], tz_offset="+01:00")  # Europe/Amsterdam in March (CET)
    assert data["page"]["url"] == "http://testserver/status/acme/"
    assert data["page"]["time_zone"] == "Europe/Amsterdam"
    for c in data["components"]:
        shapes.component(c)
    by_name = {c["name"]: c for c in data["components"]}
    assert [c["name"] for c in data["components"]] == ["Platform", "API", "Web", "Checkout"]
    assert by_name["Platform"]["group"] is True
    assert sorted(by_name["Platform"]["components"]) == sorted([components["api"].code, components["web"].code])
    assert by_name["API"]["group_id"] == components["group"].code
    assert by_name["API"]["description"] == "Public REST API" and by_name["Web"]["description"] is None
    assert by_name["Checkout"]["status"] == "partial_outage"
    assert by_name["API"]["status"] == "operational"
    assert [i["name"] for i in data["incidents"]] == ["Checkout errors"]  # unresolved only
    for i in data["incidents"]:
        shapes.incident(i)
    incident = data["incidents"][0]
    assert incident["impact"] == "major" and incident["status"] == "investigating"
    assert incident["incident_updates"][0]["affected_components"] == [
        {"code": components["checkout"].code, "name": "Checkout", "old_status": "operational",
         "new_status": "partial_outage"}]
    assert [m["name"] for m in data["scheduled_maintenances"]] == ["Database upgrade"]
    shapes.incident(data["scheduled_maintenances"][0], maintenance=True)
    assert data["scheduled_maintenances"][0]["impact"] == "maintenance"
    assert data["scheduled_maintenances"][0]["scheduled_for"] == "2026-03-03T02:00:00.000+01:00"
    shapes.status(data["status"])
    assert data["status"] == {"indicator": "major", "description": "Partial System Outage"}


def test_status_and_components_json(client, story):
    data = get(client, "status.json")
    shapes.keys(data, ["page", "status"], "status.json")
    shapes.page(data["page"])
    shapes.status(data["status"])
    data = get(client, "components.json")
    shapes.keys(data, ["page", "components"], "components.json")
    assert len(data["components"]) == 4
    for c in data["components"]:
        shapes.component(c)


def test_incidents_json_lists_all_and_unresolved_only_open(client, story):
    data = get(client, "incidents.json")
    shapes.keys(data, ["page", "incidents"], "incidents.json")
    assert [i["name"] for i in data["incidents"]] == ["Slow API", "Checkout errors"]
    for i in data["incidents"]:
        shapes.incident(i)
    resolved = data["incidents"][0]
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    assert [u["status"] for u in resolved["incident_updates"]] == ["resolved", "investigating"]
    # Resolving put the affected component back to operational, and said so.
    assert resolved["incident_updates"][0]["affected_components"][0]["new_status"] == "operational"
    assert resolved["impact"] == "minor"  # the worst it reached, not where it ended
    data = get(client, "incidents/unresolved.json")
    assert [i["name"] for i in data["incidents"]] == ["Checkout errors"]


def test_scheduled_maintenance_doors(client, story, clock):
    data = get(client, "scheduled-maintenances.json")
    shapes.keys(data, ["page", "scheduled_maintenances"], "scheduled-maintenances.json")
    for m in data["scheduled_maintenances"]:
        shapes.incident(m, maintenance=True)
    assert [m["name"] for m in get(client, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]] == [
        "Database upgrade"]
    assert get(client, "scheduled-maintenances/active.json")["scheduled_maintenances"] == []


def test_empty_page_has_arrays_and_all_operational(client, page):
    data = get(client, "summary.json")
    assert data["components"] == [] and data["incidents"] == [] and data["scheduled_maintenances"] == []
    assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}


def test_internal_details_never_reach_the_json(client, story, incident):
    body = client.get(BASE + "summary.json").content.decode() + client.get(BASE + "incidents.json").content.decode()
    assert incident.title not in body.replace("Checkout errors", "") or incident.title == "Checkout errors"
    assert incident.reference not in body  # INC-1: the internal number
    assert "alice" not in body.lower()


def test_unknown_page_is_404(client, page):
    assert client.get("/status/nope/api/v2/summary.json").status_code == 404
