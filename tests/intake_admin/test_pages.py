"""The alert pages and the intake editors in the browser door: what each role sees and
may do, and that bad input is answered with its message and saves nothing."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone

from alertum.core import actions as core_actions
from alertum.core.models import AuditEntry, Door
from incidents import actions as incident_actions
from incidents.intake import actions
from incidents.intake.accept import find_integration
from incidents.models import (
    Alert,
    GroupingRule,
    InhibitionRule,
    Integration,
    RawEvent,
    RoutingRule,
    Silence,
)

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


# --- alerts list -------------------------------------------------------------------------------


def test_alert_list_shows_open_alerts_with_live_counts(web, fire):
    fire("web-1", severity="critical")
    fire("web-2", severity="warning", labels={"alertname": "DiskFull", "instance": "web-2"})
    fire("web-3", action="trigger")
    fire("web-3", action="resolve")
    page = web("victor").get("/alerts/")
    html = text(page)
    assert page.status_code == 200
    assert "High latency on web-1" in html and "High latency on web-2" in html
    assert "High latency on web-3" not in html  # resolved: not open
    assert 'hx-get="/alerts/counts/"' in html and 'hx-trigger="every 5s"' in html
    assert page.context["counts"] == {"firing": 2, "acknowledged": 0, "suppressed": 0}


def test_alert_counts_fragment_counts_firing_acknowledged_and_suppressed(web, fire, cast, services):
    fire("web-1")
    fire("web-2")
    fire("web-2", action="acknowledge")
    actions.create_silence(matchers=[{"name": "instance", "value": "web-3"}], service=services["checkout"],
                           ends_at=timezone.now() + dt.timedelta(hours=1), comment="known", actor=cast["alice"],
                           source=Door.WEB)
    fire("web-3")
    response = web("alice").get("/alerts/counts/", HTTP_HX_REQUEST="true")
    html = text(response)
    assert response.status_code == 200 and "<html" not in html
    assert 'data-count="firing">1<' in html and 'data-count="acknowledged">1<' in html
    assert 'data-count="suppressed">1<' in html


@pytest.mark.parametrize("query, shown", [
    ("status=firing", {"web-1", "web-2", "web-3"}),  # a silenced alert still fires
    ("status=resolved", {"web-4"}),
    ("status=", {"web-1", "web-2", "web-3", "web-4"}),
    ("status=&severity=critical", {"web-1"}),
    ("status=open&suppressed=yes", {"web-3"}),
    ("status=open&suppressed=silenced", {"web-3"}),
    ("status=open&suppressed=no", {"web-1", "web-2"}),
    ("status=&service=search", set()),
    ("status=&service=checkout", {"web-1", "web-2", "web-3", "web-4"}),
])
def test_alert_list_filters(web, fire, cast, services, query, shown):
    fire("web-1", severity="critical")
    fire("web-2", severity="warning")
    actions.create_silence(matchers=[{"name": "instance", "value": "web-3"}], ends_at=timezone.now()
                           + dt.timedelta(hours=1), comment="noisy", actor=cast["root"], source=Door.WEB)
    fire("web-3")
    fire("web-4")
    fire("web-4", action="resolve")
    page = web("alice").get(f"/alerts/?{query}")
    assert page.status_code == 200
    assert {a.dedup_key for a in page.context["page"].object_list} == shown


def test_alert_list_answers_htmx_with_the_results_only(web, fire):
    fire("web-1")
    response = web("alice").get("/alerts/?status=firing", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="alert-results")
    assert text(response).lstrip().startswith('<section id="alert-results">')
    assert "High latency on web-1" in text(response)


def test_alert_list_rejects_an_unknown_filter_value_with_400(web, fire):
    fire("web-1")
    response = web("alice").get("/alerts/?severity=fatal")
    assert response.status_code == 400
    assert "Select a valid choice" in text(response) and "High latency on web-1" not in text(response)


def test_alert_list_paginates(web, fire):
    for n in range(30):
        fire(f"web-{n}")
    client = web("alice")
    first = client.get("/alerts/")
    assert len(first.context["page"].object_list) == 25 and "Page 1 of 2" in text(first)
    second = client.get("/alerts/?status=open&per_page=25&page=2")
    assert len(second.context["page"].object_list) == 5


def test_alert_list_query_count_does_not_grow_with_page_size(web, fire, make_integration, make_incident):
    client = web("alice")

    def queries_for(per_page):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/alerts/?status=&per_page={per_page}")
        assert len(response.context["page"].object_list) == per_page
        return len(captured)

    other, _ = make_integration(kind="generic", service="search")
    for n in range(25):
        fire(f"web-{n}", via=other if n % 2 else None)
    small = queries_for(25)
    for n in range(25, 100):
        fire(f"web-{n}", via=other if n % 2 else None)
    assert queries_for(100) == small


# --- alert detail --------------------------------------------------------------------------------


def test_alert_detail_shows_facts_decisions_in_viewer_time_zone_and_escaped_raw_payload(web, fire, clock):
    body = json.dumps({"alerts": [{"labels": {"alertname": "<script>alert(1)</script>"}}]})
    alert = fire("web-1", body=body, annotations={"description": "p99 above 2s"},
                 links=[{"href": "https://runbooks.example/latency", "text": "Runbook"},
                        {"href": "javascript:alert(1)", "text": "Sneaky"}])
    page = web("alice").get(f"/alerts/{alert.pk}/")  # alice reads in Europe/Amsterdam
    html = text(page)
    assert page.status_code == 200
    assert "alertname=HighLatency" in html and "p99 above 2s" in html
    assert alert.incident.reference in html
    decisions = page.context["decisions"]
    assert [d["what"] for d in decisions] == ["declared"]
    assert "2026-03-02 10:00:00 CET" in html  # 09:00 UTC, in alice's zone
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "&quot;alertname&quot;: &quot;&lt;script&gt;" in html  # pretty-printed JSON
    assert 'href="https://runbooks.example/latency"' in html and 'href="javascript:' not in html


def test_alert_detail_shows_the_last_raw_event_applied(web, fire):
    fire("web-1", body=json.dumps({"n": "first delivery"}))
    alert = fire("web-1", body=json.dumps({"n": "second delivery"}))
    html = text(web("victor").get(f"/alerts/{alert.pk}/"))
    assert alert.count == 2 and "second delivery" in html and "first delivery" not in html


def test_alert_of_a_restricted_incident_is_hidden_from_other_teams(web, fire, cast):
    alert = fire("web-1")
    incident_actions.edit_incident(alert.incident, sensitivity="restricted", actor=cast["carol"], source=Door.WEB)
    assert web("oscar").get(f"/alerts/{alert.pk}/").status_code == 404
    assert alert.pk not in [a.pk for a in web("oscar").get("/alerts/").context["page"].object_list]
    assert web("victor").get(f"/alerts/{alert.pk}/").status_code == 200


def test_people_in_no_team_see_no_alerts(web, fire):
    alert = fire("web-1")
    client = web("nobody")
    assert client.get(f"/alerts/{alert.pk}/").status_code == 404
    assert list(client.get("/alerts/").context["page"].object_list) == []


def test_alert_pages_need_sign_in(client, fire):
    alert = fire("web-1")
    for url in ("/alerts/", f"/alerts/{alert.pk}/", "/alerts/integrations/", "/alerts/silences/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


# --- integrations ---------------------------------------------------------------------------------


def test_team_admin_creates_an_integration_and_sees_its_key_once(web, services):
    client = web("adam")
    assert client.get("/alerts/integrations/new/").status_code == 200
    response = client.post("/alerts/integrations/new/", {"service": services["checkout"].pk, "name": "prom-prod",
                                                         "kind": "alertmanager", "rate_limit_per_minute": 600})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    raw = response.context["raw_key"]
    integration = Integration.objects.get(name="prom-prod")
    assert len(raw) == 32 and integration.key_hash == Integration.hash_key(raw) and integration.key_prefix == raw[:8]
    assert f"http://testserver/integrations/alertmanager/{raw}/" in text(response)  # set-up text, complete
    assert find_integration(raw, kind="alertmanager") == integration
    detail = client.get(f"/alerts/integrations/{integration.pk}/")
    assert raw not in text(detail) and f"{raw[:8]}…" in text(detail)
    entry = AuditEntry.objects.get(action="integration.created")
    assert entry.source == "web" and "key_hash" not in entry.changes and raw not in json.dumps(entry.changes)


def test_the_key_works_at_the_url_the_set_up_text_gives(web, services, client):
    response = web("adam").post("/alerts/integrations/new/", {"service": services["checkout"].pk, "name": "tool",
                                                              "kind": "generic", "rate_limit_per_minute": 600})
    url = response.context["setup"].url
    path = url.removeprefix("http://testserver")
    assert resolve(path).url_name == "intake-generic"
    sent = client.post(path, json.dumps({"title": "Disk full", "dedup_key": "disk-1"}),
                       content_type="application/json")
    assert sent.status_code in (200, 202)
    assert RawEvent.objects.filter(integration__name="tool").count() == 1


@pytest.mark.parametrize("who, status", [("alice", 403), ("victor", 403), ("oscar", 403), ("nobody", 403)])
def test_only_team_admins_create_integrations(web, services, who, status):
    client = web(who)
    assert client.get("/alerts/integrations/new/").status_code == status
    response = client.post("/alerts/integrations/new/", {"service": services["checkout"].pk, "name": "x",
                                                         "kind": "generic", "rate_limit_per_minute": 60})
    assert response.status_code == status and not Integration.objects.exists()


def test_admin_of_another_team_cannot_pick_checkout(web, services, teams, cast):
    from alertum.core.models import Membership, Role

    Membership.objects.filter(user=cast["oscar"]).update(role=Role.ADMIN)
    response = web("oscar").post("/alerts/integrations/new/", {"service": services["checkout"].pk, "name": "x",
                                                               "kind": "generic", "rate_limit_per_minute": 60})
    assert response.status_code == 422 and "Select a valid choice" in text(response)
    assert not Integration.objects.exists()


@pytest.mark.parametrize("data, message", [
    ({"name": "", "kind": "generic", "rate_limit_per_minute": 60}, "This field is required"),
    ({"name": "x", "kind": "nagios", "rate_limit_per_minute": 60}, "Select a valid choice"),
    ({"name": "x", "kind": "generic", "rate_limit_per_minute": 0}, "greater than or equal to 1"),
    ({"name": "x", "kind": "generic", "rate_limit_per_minute": 60, "verify_grafana_signature": "on"},
     "Grafana integrations only"),
])
def test_bad_integration_input_is_422_and_saves_nothing(web, services, data, message):
    response = web("adam").post("/alerts/integrations/new/", {"service": services["checkout"].pk, **data})
    assert response.status_code == 422 and message in text(response)
    assert not Integration.objects.exists() and not AuditEntry.objects.filter(action="integration.created").exists()


def test_duplicate_integration_name_is_409_on_the_form(web, services, make_integration):
    make_integration(name="prom")
    response = web("adam").post("/alerts/integrations/new/", {"service": services["checkout"].pk, "name": "prom",
                                                              "kind": "generic", "rate_limit_per_minute": 60})
    assert response.status_code == 409 and "already has an integration named" in text(response)
    assert Integration.objects.count() == 1


@pytest.mark.parametrize("kind, path", [
    ("alertmanager", "/integrations/alertmanager/{prefix}…/"),
    ("grafana", "/integrations/grafana/{prefix}…/"),
    ("generic", "/integrations/webhook/{prefix}…/"),
    ("pagerduty", "/integrations/pagerduty"),
])
def test_integration_page_shows_the_url_with_the_key_masked(web, make_integration, kind, path):
    integration, raw = make_integration(kind=kind)
    page = web("victor").get(f"/alerts/integrations/{integration.pk}/")
    html = text(page)
    assert page.status_code == 200
    assert f"http://testserver{path.format(prefix=raw[:8])}" in html and raw not in html
    assert page.context["setup"].snippets


def test_grafana_hmac_secret_is_shown_to_team_admins_only(web, make_integration):
    integration, _raw = make_integration(kind="grafana", verify_grafana_signature=True)
    secret = integration.hmac_secret()
    assert secret in text(web("adam").get(f"/alerts/integrations/{integration.pk}/"))
    responder_view = text(web("alice").get(f"/alerts/integrations/{integration.pk}/"))
    assert secret not in responder_view and "X-Grafana-Alerting-Signature" in responder_view


def test_rotating_the_key_shows_the_new_one_once_and_retires_the_old(web, make_integration):
    integration, old = make_integration(kind="grafana")
    old_secret = integration.hmac_secret()
    response = web("adam").post(f"/alerts/integrations/{integration.pk}/rotate-key/")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    new = response.context["raw_key"]
    assert new != old and new in text(response)
    assert find_integration(old) is None and find_integration(new).pk == integration.pk
    integration.refresh_from_db()
    assert integration.hmac_secret() != old_secret
    assert AuditEntry.objects.get(action="integration.key_rotated").changes == {"key_prefix": [old[:8], new[:8]]}


def test_responder_cannot_rotate_or_delete(web, make_integration):
    integration, raw = make_integration()
    client = web("alice")
    assert client.post(f"/alerts/integrations/{integration.pk}/rotate-key/").status_code == 403
    assert client.post(f"/alerts/integrations/{integration.pk}/delete/").status_code == 403
    assert find_integration(raw) == integration


def test_integration_settings_are_edited_and_bad_values_refused(web, make_integration):
    integration, _ = make_integration()
    client = web("adam")
    bad = client.post(f"/alerts/integrations/{integration.pk}/edit/", {"name": "prom", "rate_limit_per_minute": -5})
    assert bad.status_code == 422 and "Nothing was saved" in text(bad)
    good = client.post(f"/alerts/integrations/{integration.pk}/edit/", {"name": "prom", "rate_limit_per_minute": 50})
    assert good.status_code == 302
    integration.refresh_from_db()
    assert (integration.name, integration.rate_limit_per_minute, integration.active) == ("prom", 50, False)


def test_an_integration_that_received_events_cannot_be_deleted(web, integration, raw_event):
    raw_event()
    response = web("adam").post(f"/alerts/integrations/{integration.pk}/delete/")
    assert response.status_code == 409 and "deactivate it instead" in text(response)
    assert Integration.objects.filter(pk=integration.pk).exists()


def test_an_unused_integration_is_deleted(web, integration):
    response = web("adam").post(f"/alerts/integrations/{integration.pk}/delete/")
    assert response.status_code == 302 and not Integration.objects.exists()
    assert AuditEntry.objects.filter(action="integration.deleted").exists()


def test_integration_page_lists_raw_events_with_error_and_replays_a_dead_one(web, integration, raw_event):
    dead = raw_event(state=RawEvent.State.DEAD, error="FormatError: alerts[0].labels: must be an object",
                     attempts=1)
    done = raw_event(state=RawEvent.State.PROCESSED)
    client = web("adam")
    page = client.get(f"/alerts/integrations/{integration.pk}/")
    html = text(page)
    assert "alerts[0].labels: must be an object" in html
    assert f"/raw-events/{dead.pk}/replay/" in html and f"/raw-events/{done.pk}/replay/" not in html
    response = client.post(f"/alerts/integrations/{integration.pk}/raw-events/{dead.pk}/replay/")
    assert response.status_code == 302
    dead.refresh_from_db()
    assert dead.state == RawEvent.State.PENDING
    again = client.post(f"/alerts/integrations/{integration.pk}/raw-events/{done.pk}/replay/")
    assert again.status_code == 409 and "processed already" in text(again)


def test_responder_cannot_replay(web, integration, raw_event):
    dead = raw_event(state=RawEvent.State.DEAD)
    assert web("alice").post(f"/alerts/integrations/{integration.pk}/raw-events/{dead.pk}/replay/").status_code == 403
    dead.refresh_from_db()
    assert dead.state == RawEvent.State.DEAD


def test_integration_list_groups_by_service_and_counts_failing_events(web, integration, raw_event,
                                                                      make_integration):
    make_integration(kind="generic", service="search", name="hooks")
    raw_event(state=RawEvent.State.FAILED)
    page = web("oscar").get("/alerts/integrations/")
    html = text(page)
    assert page.status_code == 200 and "Checkout" in html and "Search" in html and "hooks" in html
    assert {i.name: i.failing for i in page.context["integrations"]} == {integration.name: 1, "hooks": 0}
    assert page.context["may_create"] is False


# --- silences ---------------------------------------------------------------------------------------


def silence_form(services, **extra):
    return {"service": services["checkout"].pk, "matchers": "alertname=DiskFull\ninstance=~web-.*",
            "duration": "3600", "comment": "disk swap tonight", **extra}


def test_responder_creates_a_silence_from_matcher_lines(web, services, cast):
    response = web("alice").post("/alerts/silences/new/", silence_form(
        services, matchers='alertname="Disk full"\ninstance=~web-.*\n# comment\n\nseverity!=info\njob!~test.*'))
    assert response.status_code == 302
    silence = Silence.objects.get()
    assert silence.matchers == [
        {"name": "alertname", "value": "Disk full", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "web-.*", "isRegex": True, "isEqual": True},
        {"name": "severity", "value": "info", "isRegex": False, "isEqual": False},
        {"name": "job", "value": "test.*", "isRegex": True, "isEqual": False},
    ]
    assert silence.created_by == cast["alice"] and silence.state() == "active"
    assert (silence.ends_at - silence.starts_at) == dt.timedelta(hours=1)
    assert AuditEntry.objects.get(action="silence.created").source == "web"


def test_bad_matcher_lines_are_reported_line_by_line_and_nothing_is_saved(web, services):
    response = web("alice").post("/alerts/silences/new/", silence_form(
        services, matchers="alertname=DiskFull\ninstance=~web-(\njust some words\n9x=1"))
    html = text(response)
    assert response.status_code == 422
    assert "line 2: “web-(” is not a valid regular expression" in html
    assert "line 3: “just some words” is not name=value" in html
    assert "line 4: “9x” is not a label name" in html
    assert not Silence.objects.exists()


@pytest.mark.parametrize("extra, message", [
    ({"starts_at": "2030-01-02T10:00", "ends_at": "2030-01-02T09:00", "duration": ""}, "must be after starts_at"),
    ({"starts_at": "2001-01-01T00:00", "ends_at": "2001-01-02T00:00", "duration": ""}, "in the past"),
    ({"duration": ""}, "give an end time or a duration"),
    ({"matchers": "instance=~.*"}, "must not match an empty label value"),
    ({"matchers": ""}, "give at least one matcher"),
    ({"comment": ""}, "This field is required"),
])
def test_bad_silences_are_422_and_save_nothing(web, services, extra, message):
    response = web("alice").post("/alerts/silences/new/", silence_form(services, **extra))
    assert response.status_code == 422 and message in text(response)
    assert not Silence.objects.exists()


def test_silence_times_are_read_in_the_viewers_time_zone(web, services, clock):
    web("alice").post("/alerts/silences/new/", silence_form(
        services, starts_at="2026-03-02T12:00", ends_at="2026-03-02T13:00", duration=""))
    silence = Silence.objects.get()  # alice is in Europe/Amsterdam (UTC+1 in March)
    assert silence.starts_at == dt.datetime(2026, 3, 2, 11, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("who", ["victor", "nobody"])
def test_viewers_cannot_silence(web, services, who):
    assert web(who).get("/alerts/silences/new/").status_code == 403
    assert web(who).post("/alerts/silences/new/", silence_form(services)).status_code == 403
    assert not Silence.objects.exists()


def test_responder_of_another_team_cannot_silence_checkout(web, services):
    response = web("oscar").post("/alerts/silences/new/", silence_form(services))
    assert response.status_code == 422 and "Select a valid choice" in text(response)
    assert not Silence.objects.exists()


def test_only_global_admins_silence_every_service(web, services):
    response = web("alice").post("/alerts/silences/new/", silence_form(services, service=""))
    assert response.status_code == 422 and not Silence.objects.exists()
    assert web("root").post("/alerts/silences/new/", silence_form(services, service="")).status_code == 302
    assert Silence.objects.get().service is None


def test_silence_form_starts_from_an_alerts_labels(web, fire):
    alert = fire("web-1")
    form = web("alice").get(f"/alerts/silences/new/?alert={alert.pk}").context["form"]
    assert form["matchers"].value() == "alertname=HighLatency\ninstance=web-1"
    assert form["service"].value() == alert.service.pk


def test_silences_are_listed_by_state_and_expired(web, services, cast, clock):
    now = timezone.now()
    active = actions.create_silence(matchers=[{"name": "a", "value": "1"}], service=services["checkout"],
                                    ends_at=now + dt.timedelta(hours=1), comment="now", actor=cast["alice"],
                                    source=Door.WEB)
    pending = actions.create_silence(matchers=[{"name": "a", "value": "2"}], service=services["checkout"],
                                     starts_at=now + dt.timedelta(hours=2), ends_at=now + dt.timedelta(hours=3),
                                     comment="later", actor=cast["alice"], source=Door.WEB)
    client = web("bob")
    assert [r["silence"].pk for r in client.get("/alerts/silences/").context["rows"]] == [active.pk]
    assert [r["silence"].pk for r in client.get("/alerts/silences/?state=pending").context["rows"]] == [pending.pk]
    assert client.get("/alerts/silences/?state=bogus").status_code == 400
    assert web("victor").post(f"/alerts/silences/{pending.pk}/expire/").status_code == 403
    response = web("bob").post(f"/alerts/silences/{pending.pk}/expire/")
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.state() == "expired" and pending.ends_at == now
    rows = web("bob").get("/alerts/silences/?state=expired").context["rows"]
    assert [r["silence"].pk for r in rows] == [pending.pk]
    assert AuditEntry.objects.filter(action="silence.expired").count() == 1


# --- rules ------------------------------------------------------------------------------------------


def test_grouping_page_lists_services_and_team_admin_edits_their_own(web, services):
    listing = web("adam").get("/alerts/rules/grouping/")
    assert [(r["service"].slug, r["may_configure"]) for r in listing.context["rows"]] == [
        ("checkout", True), ("search", False)]
    client = web("adam")
    form = client.get("/alerts/rules/grouping/checkout/").context["form"]
    assert form["group_by"].value() == "alertname"  # the defaults until saved
    response = client.post("/alerts/rules/grouping/checkout/", {
        "group_by": "alertname, cluster", "window_seconds": 1800, "max_alerts": 50, "cooldown_seconds": 300,
        "auto_resolve": "on", "auto_resolve_after_seconds": ""})
    assert response.status_code == 302
    rule = GroupingRule.objects.get(service=services["checkout"])
    assert rule.group_by == ["alertname", "cluster"] and rule.window_seconds == 1800 and rule.auto_resolve
    assert client.post("/alerts/rules/grouping/checkout/delete/").status_code == 302
    assert not GroupingRule.objects.exists()
    assert web("adam").get("/alerts/rules/grouping/search/").status_code == 403


@pytest.mark.parametrize("data, message", [
    ({"dedup_key_template": "{alertname.__class__}"}, "is not allowed"),
    ({"dedup_key_template": "{alertname"}, "expected"),
    ({"group_by": "alert name!"}, "is not a label name"),
    ({"group_by": "alertname", "dedup_key_template": "{job}"}, "not both"),
    ({"window_seconds": 5}, "window_seconds must be a whole number from 60"),
])
def test_bad_grouping_rules_are_422_and_save_nothing(web, services, data, message):
    base = {"group_by": "", "window_seconds": 3600, "max_alerts": 0, "cooldown_seconds": 600}
    response = web("adam").post("/alerts/rules/grouping/checkout/", {**base, **data})
    assert response.status_code == 422 and message in text(response)
    assert not GroupingRule.objects.exists()


def routing_form(services, **extra):
    return {"position": 1, "name": "Night P3/P4", "service": services["checkout"].pk, "severities": ["P3", "P4"],
            "matchers": "", "during": "outside_business_hours", "team": "", "escalation_policy_slug": "payments-low",
            "defer_to_business_hours": "on", "business_days": ["1", "2", "3", "4", "5"], "business_start": "08:00",
            "business_end": "18:00", "time_zone": "Europe/Amsterdam", "active": "on", **extra}


def test_team_admin_creates_edits_and_deletes_a_routing_rule(web, services):
    client = web("adam")
    assert client.get("/alerts/rules/routing/new/").status_code == 200
    assert client.post("/alerts/rules/routing/new/", routing_form(services)).status_code == 302
    rule = RoutingRule.objects.get()
    assert rule.severities == ["P3", "P4"] and rule.time_zone == "Europe/Amsterdam" and rule.business_days == [
        1, 2, 3, 4, 5]
    assert rule.business_start == dt.time(8, 0) and rule.defer_to_business_hours
    listing = text(client.get("/alerts/rules/routing/"))
    assert "Night P3/P4" in listing and "Mon,Tue,Wed,Thu,Fri 08:00–18:00 Europe/Amsterdam" in listing
    edit = client.get(f"/alerts/rules/routing/{rule.pk}/")
    assert edit.context["form"]["time_zone"].value() == "Europe/Amsterdam"
    assert client.post(f"/alerts/rules/routing/{rule.pk}/", routing_form(services, name="Night")).status_code == 302
    rule.refresh_from_db()
    assert rule.name == "Night"
    assert AuditEntry.objects.get(action="routingrule.updated").changes == {"name": ["Night P3/P4", "Night"]}
    assert client.post(f"/alerts/rules/routing/{rule.pk}/delete/").status_code == 302
    assert not RoutingRule.objects.exists()


@pytest.mark.parametrize("extra, message", [
    ({"time_zone": "Mars/Olympus_Mons"}, "is not a known time zone"),
    ({"business_start": "18:00", "business_end": "08:00"}, "business_end must be after business_start"),
    ({"severities": ["P5"]}, "Select a valid choice"),
    ({"matchers": "team=~(db"}, "is not a valid regular expression"),
    ({"escalation_policy_slug": "not a slug"}, "must be a slug"),
])
def test_bad_routing_rules_are_422_and_save_nothing(web, services, extra, message):
    response = web("adam").post("/alerts/rules/routing/new/", routing_form(services, **extra))
    assert response.status_code == 422 and message in text(response)
    assert not RoutingRule.objects.exists()


def test_rules_for_every_service_need_a_global_admin(web, services):
    inhibition = {"name": "Critical mutes warning", "source_matchers": "severity=critical",
                  "target_matchers": "severity=warning", "equal": "alertname, instance", "active": "on"}
    response = web("adam").post("/alerts/rules/inhibition/new/", {**inhibition, "service": ""})
    assert response.status_code == 422 and not InhibitionRule.objects.exists()
    assert web("root").post("/alerts/rules/inhibition/new/", {**inhibition, "service": ""}).status_code == 302
    rule = InhibitionRule.objects.get()
    assert rule.service is None and rule.equal == ["alertname", "instance"]
    assert rule.source_matchers == [{"name": "severity", "value": "critical", "isRegex": False, "isEqual": True}]
    assert web("adam").get(f"/alerts/rules/inhibition/{rule.pk}/").status_code == 403
    assert web("adam").post(f"/alerts/rules/inhibition/{rule.pk}/delete/").status_code == 403
    assert InhibitionRule.objects.exists()


@pytest.mark.parametrize("who", ["alice", "victor", "oscar", "nobody"])
def test_non_admins_cannot_add_rules(web, services, who):
    response = web(who).post("/alerts/rules/severity/new/", {"position": 0, "service": services["checkout"].pk,
                                                             "alert_severity": "warning", "matchers": "",
                                                             "impact": "outage"})
    assert response.status_code == 403
    from incidents.models import AlertSeverityRule

    assert not AlertSeverityRule.objects.exists()


def test_team_admin_adds_an_alert_severity_rule(web, services):
    from incidents.models import AlertSeverityRule

    response = web("adam").post("/alerts/rules/severity/new/", {
        "position": 0, "service": services["checkout"].pk, "alert_severity": "warning",
        "matchers": "team=payments", "impact": "outage"})
    assert response.status_code == 302
    rule = AlertSeverityRule.objects.get()
    assert (rule.alert_severity, rule.impact, rule.matchers[0]["name"]) == ("warning", "outage", "team")
    assert "Complete outage" in text(web("victor").get("/alerts/rules/severity/"))


@pytest.mark.parametrize("url", ["/alerts/rules/grouping/", "/alerts/rules/inhibition/", "/alerts/rules/severity/",
                                 "/alerts/rules/routing/", "/alerts/rules/inhibition/new/",
                                 "/alerts/rules/severity/new/", "/alerts/rules/routing/new/", "/alerts/silences/new/",
                                 "/alerts/integrations/new/", "/alerts/silences/?state=all"])
def test_editor_pages_render_for_a_global_admin(web, services, url):
    assert web("root").get(url).status_code == 200


def test_a_maintenance_suppressed_alert_shows_why(web, fire, services, cast):
    now = timezone.now()
    core_actions.schedule_maintenance(title="DB upgrade", starts_at=now - dt.timedelta(minutes=5),
                                      ends_at=now + dt.timedelta(hours=1), services=[services["checkout"]],
                                      actor=cast["root"], source=Door.WEB)
    alert = fire("web-1")
    assert alert.suppressed == "maintenance" and alert.incident is None
    html = text(web("alice").get(f"/alerts/{alert.pk}/"))
    assert "suppressed by maintenance “DB upgrade”" in html
    assert Alert.objects.get(pk=alert.pk).suppressed == "maintenance"
