"""Acknowledge and resolve from the notification itself: signed, expiring links for one
incident that work without signing in; GET only shows a confirmation (link scanners),
POST does it; the same token works over the API."""

import re

import pytest
from rest_framework.test import APIClient

from alertum.core.models import Door
from incidents import actions as incident_actions
from incidents.models import Status
from oncall import links
from oncall.models import Escalation, Page
from tests.oncall import escalation_factories as factories
from tests.oncall.escalation_factories import paths, run_engine

pytestmark = pytest.mark.django_db
receiver, contact, make_policy, _no_kicks = factories.receiver, factories.contact, factories.make_policy, \
    factories._no_kicks


@pytest.fixture
def paged(clock, cast, services, contact, make_policy, make_incident, django_capture_on_commit_callbacks, receiver):
    """INC paged to alice on Slack; returns (incident, the links in her message)."""
    contact(cast["alice"])
    contact(cast["bob"])
    make_policy([(0, [cast["alice"]]), (10, [cast["bob"]])], service=services["checkout"])
    with django_capture_on_commit_callbacks(execute=True):
        incident = make_incident(severity="P1", severity_reason="test")
    run_engine()
    buttons = receiver.requests[0].json()["blocks"][3]["elements"]
    urls = {b["text"]["text"]: b["url"] for b in buttons}
    return incident, urls


def _path(url: str) -> str:
    return url.removeprefix("https://alertum.example")


def test_opening_the_link_only_asks_for_confirmation(client, paged):
    incident, urls = paged
    response = client.get(_path(urls["Acknowledge"]))
    assert response.status_code == 200
    assert f"Acknowledge {incident.reference}".encode() in response.content
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_confirming_acknowledges_as_the_person_paged_and_stops_escalation(client, clock, paged, receiver, cast,
                                                                         django_capture_on_commit_callbacks):
    incident, urls = paged
    page = client.get(_path(urls["Acknowledge"]))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_path(urls["Acknowledge"]), {"csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert f"{incident.reference} acknowledged. Escalation stopped.".encode() in response.content
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    entry = incident.timeline.filter(kind="status.changed").get()
    assert (entry.actor, entry.source, entry.data["note"]) == (cast["alice"], Door.PAGE_LINK,
                                                              "from the link sent to Alice")
    clock.shift(20 * 60)
    run_engine()
    assert paths(receiver) == ["/alice/slack"]
    assert Escalation.objects.get(incident=incident).state == Escalation.State.ACKNOWLEDGED


def test_resolve_link_resolves(client, paged):
    incident, urls = paged
    client.get(_path(urls["Resolve"]))
    response = client.post(_path(urls["Resolve"]))
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_a_link_expires(client, clock, paged, settings):
    incident, urls = paged
    clock.shift(settings.ONCALL_LINK_MAX_AGE + 1)
    response = client.post(_path(urls["Acknowledge"]))
    assert response.status_code == 422
    assert b"this link has expired" in response.content
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_a_tampered_link_is_refused(client, paged):
    incident, urls = paged
    token = _path(urls["Acknowledge"]).split("/")[-2]
    forged = links.make_token(incident.pk, "acknowledge").rsplit(":", 1)[0] + ":" + token.rsplit(":", 1)[1]
    for bad in (token[:-3] + "abc", forged, "nonsense"):
        response = client.post(f"/oncall/l/{bad}/")
        assert response.status_code == 422, bad
        assert b"this link is not valid" in response.content
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_a_link_names_one_incident_only(client, paged, make_incident):
    incident, urls = paged
    other = make_incident(title="Other")
    token = _path(urls["Acknowledge"]).split("/")[-2]
    assert links.read_token(token).incident_id == incident.pk
    client.post(_path(urls["Acknowledge"]))
    other.refresh_from_db()
    assert other.status == Status.TRIGGERED


def test_acknowledging_twice_changes_nothing(client, paged):
    incident, urls = paged
    client.post(_path(urls["Acknowledge"]))
    response = client.post(_path(urls["Acknowledge"]))
    assert response.status_code == 200
    assert b"was already acknowledged; nothing changed" in response.content
    assert incident.timeline.filter(kind="status.changed").count() == 1


def test_acknowledging_a_resolved_incident_is_a_conflict(client, paged, cast):
    incident, urls = paged
    incident_actions.resolve_incident(incident, actor=cast["carol"], source=Door.WEB)
    response = client.post(_path(urls["Acknowledge"]))
    assert response.status_code == 409
    assert b"is resolved already" in response.content


def test_the_api_takes_the_same_token_without_signing_in(paged):
    incident, urls = paged
    token = _path(urls["Resolve"]).split("/")[-2]
    response = APIClient().post("/api/v1/page-links/", {"token": token}, format="json")
    assert response.status_code == 200
    assert response.json() == {"detail": f"{incident.reference} resolved.", "incident": incident.pk,
                                "reference": incident.reference, "status": "resolved"}
    bad = APIClient().post("/api/v1/page-links/", {"token": token + "x"}, format="json")
    assert bad.status_code == 422 and bad.json()["field"] == "token"
    assert APIClient().post("/api/v1/page-links/", {}, format="json").status_code == 400


def test_a_recipient_without_the_responder_role_acts_through_the_link_as_the_system(client, clock, cast, services,
                                                                                    contact, make_policy, make_incident,
                                                                                    receiver):
    contact(cast["oscar"])  # a Platform responder paged for a Payments incident
    make_policy([(0, [cast["oscar"]])], service=services["checkout"])
    incident = make_incident(severity="P1", severity_reason="test")
    from oncall.engine import start_escalation

    start_escalation(incident.pk)
    run_engine()
    url = receiver.requests[0].json()["blocks"][3]["elements"][0]["url"]
    assert client.post(_path(url)).status_code == 200
    entry = incident.timeline.filter(kind="status.changed").get()
    assert (entry.actor, entry.source, entry.data["note"]) == (None, Door.PAGE_LINK, "from the link sent to Oscar")
    assert Page.objects.get().recipient == cast["oscar"]
