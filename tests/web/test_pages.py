"""The browser door through the Django test client: who sees which page, what the
forms do, and that bad input answers 4xx with a message and writes nothing."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from alertum.core.models import Door
from incidents import actions
from incidents.models import Incident, Status, TimelineEntry
from tests.conftest import PASSWORD, login
from tests.web.conftest import htmx

pytestmark = pytest.mark.django_db


def entry_count(incident):
    return TimelineEntry.objects.filter(incident=incident).count()


def url(incident, action=""):
    return f"/incidents/{incident.pk}/{action}"


# --- access ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/incidents/", "/incidents/new/", "/settings/", "/settings/tokens/"])
def test_pages_send_anonymous_visitors_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_anonymous_visitor_cannot_open_a_workspace(client, incident):
    response = client.get(url(incident))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_sign_in_page_logs_in_and_lands_on_the_dashboard(client, cast):
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"Open incidents" in response.content


@pytest.mark.parametrize("name", ["alice", "victor", "carol", "oscar", "root"])
def test_members_can_open_every_page(as_user, incident, name):
    client = as_user(name)
    for path in ["/", "/incidents/", url(incident), "/settings/", "/settings/tokens/"]:
        assert client.get(path).status_code == 200, path


def test_member_of_no_team_sees_no_incidents_and_gets_404_on_one(as_user, incident):
    client = as_user("nobody")
    listing = client.get("/incidents/")
    assert listing.status_code == 200 and b"Checkout errors" not in listing.content
    response = client.get(url(incident))
    assert response.status_code == 404 and b"does not exist" in response.content


def test_restricted_incident_is_404_for_outsiders_and_visible_to_its_team(as_user, make_incident):
    secret = make_incident(title="Card data exposure", sensitivity="restricted")
    outsider = as_user("oscar")
    assert outsider.get(url(secret)).status_code == 404
    assert b"Card data exposure" not in outsider.get("/incidents/").content
    assert b"Card data exposure" not in outsider.get("/").content
    assert outsider.post(url(secret, "comments/"), {"body": "peek"}).status_code == 404
    assert as_user("victor").get(url(secret)).status_code == 200
    assert as_user("root").get(url(secret)).status_code == 200


def test_unknown_incident_is_404(as_user):
    client = as_user("alice")
    assert client.get("/incidents/999/").status_code == 404
    response = client.post("/incidents/999/acknowledge/", **htmx())
    assert response.status_code == 404 and b"does not exist" in response.content


# --- dashboard and list ------------------------------------------------------------------

def test_dashboard_counts_open_incidents_by_severity(as_user, make_incident, cast):
    make_incident(title="Checkout down", impact="outage")
    make_incident(title="Checkout slow", impact="degraded")
    done = make_incident(title="Old problem", impact="outage")
    actions.resolve_incident(done, actor=cast["alice"], source=Door.WEB)
    response = as_user("bob").get("/")
    content = response.content.decode()
    assert "Checkout down" in content and "Checkout slow" in content and "Old problem" not in content
    assert response.context["open_total"] == 2
    assert [(sev, n) for sev, _, n in response.context["severity_counts"]] == [("P1", 1), ("P2", 1), ("P3", 0),
                                                                               ("P4", 0)]
    assert 'ws-connect="/ws/dashboard/"' in content
    assert "/incidents/new/" in content


def test_incident_list_filters(as_user, make_incident, cast):
    checkout = make_incident(title="Checkout down", impact="outage")
    search = make_incident(title="Search slow", team="platform", actor="oscar")
    resolved = make_incident(title="Fixed already", impact="cosmetic")
    actions.resolve_incident(resolved, actor=cast["alice"], source=Door.WEB)
    actions.assign_role(checkout, "responder", cast["bob"], actor=cast["alice"], source=Door.WEB)
    client = as_user("bob")

    def titles(query):
        response = client.get("/incidents/?" + query)
        assert response.status_code == 200
        return {i.title for i in response.context["page"].object_list}

    assert titles("") == {"Checkout down", "Search slow", "Fixed already"}
    assert titles("status=open") == {"Checkout down", "Search slow"}
    assert titles("status=resolved") == {"Fixed already"}
    assert titles("severity=P1") == {"Checkout down"}
    assert titles("team=platform") == {"Search slow"}
    assert titles("service=search") == {"Search slow"}
    assert titles("mine=on") == {"Checkout down"}
    assert titles("q=slow") == {"Search slow"}
    assert titles(f"q={search.reference}") == {"Search slow"}


def test_incident_list_answers_htmx_with_the_results_only(as_user, make_incident):
    make_incident(title="Checkout down")
    response = as_user("alice").get("/incidents/?status=open", **htmx(HTTP_HX_TARGET="incident-results"))
    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<section id="incident-results">') and "<html" not in content
    assert "Checkout down" in content


def test_incident_list_paginates(as_user, make_incident):
    for n in range(12):
        make_incident(title=f"Problem {n}")
    client = as_user("alice")
    first = client.get("/incidents/?per_page=10")
    assert [i.title for i in first.context["page"].object_list][:2] == ["Problem 11", "Problem 10"]
    assert len(first.context["page"].object_list) == 10 and b"Page 1 of 2" in first.content
    second = client.get("/incidents/?per_page=10&page=2")
    assert [i.title for i in second.context["page"].object_list] == ["Problem 1", "Problem 0"]


def test_incident_list_query_count_does_not_grow_with_page_size(as_user, make_incident, cast):
    client = as_user("alice")

    def queries_for_a_full_page(count):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/incidents/?per_page={count}")
        assert len(response.context["page"].object_list) == count
        return len(captured)

    for n in range(10):
        incident = make_incident(title=f"Problem {n}")
        actions.assign_role(incident, "commander", cast["carol"], actor=cast["carol"], source=Door.WEB)
    small = queries_for_a_full_page(10)
    for n in range(10, 25):
        make_incident(title=f"Problem {n}", team="platform", actor="root")
    assert queries_for_a_full_page(25) == small


def test_incident_list_rejects_an_unknown_filter_value_with_a_message(as_user, make_incident):
    make_incident()
    response = as_user("alice").get("/incidents/?severity=P9")
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content and b"Checkout errors" not in response.content


# --- declare ---------------------------------------------------------------------------------

def test_declare_form_offers_only_teams_where_the_user_responds(as_user, teams):
    response = as_user("alice").get("/incidents/new/")
    assert list(response.context["form"].fields["team"].queryset) == [teams["payments"]]
    assert len(as_user("root").get("/incidents/new/").context["form"].fields["team"].queryset) == 2


def test_viewer_cannot_declare(as_user, teams):
    client = as_user("victor")
    assert client.get("/incidents/new/").status_code == 403
    response = client.post("/incidents/new/", {"title": "x", "team": teams["payments"].pk, "impact": "outage",
                                               "users_affected": "all", "urgency": "high", "sensitivity": "normal"})
    assert response.status_code == 422 and not Incident.objects.exists()


def declaration(teams, services, **extra):
    return {"title": "Checkout errors", "description": "5xx on pay", "team": teams["payments"].pk,
            "services": [services["checkout"].pk], "impact": "outage", "users_affected": "all", "urgency": "high",
            "business_functions": "card payments", "severity": "", "severity_reason": "", "sensitivity": "normal",
            **extra}


def test_declare_creates_the_incident_and_opens_its_workspace(as_user, teams, services):
    response = as_user("alice").post("/incidents/new/", declaration(teams, services))
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == url(incident)
    assert incident.severity == "P1" and incident.business_functions == "card payments"
    assert list(incident.services.all()) == [services["checkout"]]
    assert TimelineEntry.objects.get(incident=incident).source == Door.WEB


def test_declare_severity_override_without_reason_is_refused_with_the_message(as_user, teams, services):
    response = as_user("alice").post("/incidents/new/", declaration(teams, services, severity="P3"))
    assert response.status_code == 422
    assert b"a reason is required to set P3" in response.content
    assert not Incident.objects.exists()


def test_declare_without_title_is_422_and_keeps_the_input(as_user, teams, services):
    response = as_user("alice").post("/incidents/new/", declaration(teams, services, title=""))
    assert response.status_code == 422 and b"This field is required" in response.content
    assert b"5xx on pay" in response.content and not Incident.objects.exists()


def test_declare_for_a_team_where_user_is_no_responder_is_refused(as_user, teams, services):
    response = as_user("oscar").post("/incidents/new/", declaration(teams, services))
    assert response.status_code == 422 and not Incident.objects.exists()


# --- the workspace ------------------------------------------------------------------------

def test_workspace_shows_header_timeline_checklist_and_actions(as_user, make_incident, cast):
    incident = make_incident(impact="outage", description="Card payments fail")
    actions.assign_role(incident, "commander", cast["carol"], actor=cast["carol"], source=Door.WEB)
    actions.add_comment(incident, "Looking at the <b>logs</b>", actor=cast["bob"], source=Door.WEB)
    response = as_user("alice").get(url(incident))
    content = response.content.decode()
    assert response.status_code == 200
    assert incident.reference in content and "Checkout errors" in content and "Card payments fail" in content
    assert "P1 — critical" in content and "Triggered" in content and "Carol" in content
    assert "Since start" in content and "To acknowledge" in content and "To resolve" in content
    assert "Looking at the &lt;b&gt;logs&lt;/b&gt;" in content  # escaped, never raw HTML
    assert "Verify rollback options" in content
    assert f'ws-connect="/ws/incidents/{incident.pk}/"' in content
    assert 'data-action="acknowledge"' in content and "Post comment" in content
    assert 'id="timeline-head" data-seq="3"' in content
    assert "django_htmx/htmx-2.min.js" in content and "django_htmx/ext/hx-ws-2.min.js" in content
    assert "X-CSRFToken" in content
    assert "https://" not in content.split("<body")[0]  # no third-party scripts or styles


def test_viewer_sees_no_action_buttons(as_user, incident):
    content = as_user("victor").get(url(incident)).content.decode()
    assert 'data-action="acknowledge"' not in content and "Post comment" not in content
    assert "Responders in Payments can act on it" in content


def test_viewer_cannot_acknowledge(as_user, incident):
    response = as_user("victor").post(url(incident, "acknowledge/"), **htmx())
    assert response.status_code == 403 and b"responder role" in response.content
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED and entry_count(incident) == 1


def test_viewer_cannot_acknowledge_without_htmx_either(as_user, incident):
    response = as_user("victor").post(url(incident, "acknowledge/"))
    assert response.status_code == 403 and b"responder role" in response.content
    assert b"Checkout errors" in response.content  # the workspace again, with the message
    assert entry_count(incident) == 1


def test_acknowledge_plain_post_redirects_to_the_workspace(as_user, incident):
    response = as_user("bob").post(url(incident, "acknowledge/"))
    assert response.status_code == 302 and response["Location"] == url(incident)
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED


def test_acknowledge_over_htmx_answers_the_fresh_header_out_of_band(as_user, incident):
    response = as_user("bob").post(url(incident, "acknowledge/"), **htmx())
    content = response.content.decode()
    assert response.status_code == 200 and "<html" not in content
    assert 'id="incident-header"' in content and 'hx-swap-oob="true"' in content
    assert 'data-status="acknowledged"' in content
    assert 'data-action="acknowledge"' not in content  # the button is gone now


def test_comment_over_htmx_adds_one_entry(as_user, incident):
    response = as_user("alice").post(url(incident, "comments/"), {"body": "Rolling back", "public": "on"}, **htmx())
    assert response.status_code == 200
    entry = TimelineEntry.objects.filter(incident=incident).last()
    assert entry.kind == "comment" and entry.data == {"body": "Rolling back"} and entry.visibility == "public"
    assert entry.actor.username == "alice" and entry.source == Door.WEB


def test_empty_comment_is_422_with_message_and_no_entry(as_user, incident):
    response = as_user("alice").post(url(incident, "comments/"), {"body": "   "}, **htmx())
    assert response.status_code == 422 and b"body: This field is required" in response.content
    assert b'id="flash"' in response.content
    assert entry_count(incident) == 1


def test_structured_update_needs_the_impact(as_user, incident):
    client = as_user("alice")
    bad = client.post(url(incident, "updates/"), {"action_taken": "restarted"}, **htmx())
    assert bad.status_code == 422 and b"impact" in bad.content and entry_count(incident) == 1
    good = client.post(url(incident, "updates/"), {"impact": "40% of payments fail", "action_taken": "rollback",
                                                   "next_step": "watch errors"})
    assert good.status_code == 302
    entry = TimelineEntry.objects.filter(incident=incident).last()
    assert entry.kind == "update" and entry.data["next_step"] == "watch errors"
    page = client.get(url(incident)).content.decode()
    assert "40% of payments fail" in page and "Next step" in page


def test_status_buttons_follow_the_transition_table(as_user, incident, cast):
    client = as_user("alice")
    assert client.post(url(incident, "status/"), {"status": "identified"}, **htmx()).status_code == 200
    content = client.get(url(incident)).content.decode()
    assert 'value="investigating"' in content and 'value="monitoring"' in content
    assert 'name="status" value="identified"' not in content


def test_impossible_transition_is_409_and_changes_nothing(as_user, incident, cast):
    actions.resolve_incident(incident, actor=cast["alice"], source=Door.WEB)
    before = entry_count(incident)
    response = as_user("alice").post(url(incident, "status/"), {"status": "investigating"}, **htmx())
    assert response.status_code == 409 and b"cannot move from resolved to investigating" in response.content
    assert entry_count(incident) == before


def test_unknown_status_is_422(as_user, incident):
    response = as_user("alice").post(url(incident, "status/"), {"status": "exploded"}, **htmx())
    assert response.status_code == 422 and b"Select a valid choice" in response.content
    assert entry_count(incident) == 1


def test_resolve_and_reopen(as_user, incident):
    client = as_user("alice")
    client.post(url(incident, "resolve/"), {"note": "rolled back"}, **htmx())
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert b"Reopen" in client.get(url(incident)).content
    client.post(url(incident, "reopen/"), {"reason": "errors are back"}, **htmx())
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_severity_change_needs_a_reason(as_user, incident):
    client = as_user("alice")
    bad = client.post(url(incident, "severity/"), {"severity": "P1", "reason": ""}, **htmx())
    assert bad.status_code == 422 and b"a reason is required" in bad.content and entry_count(incident) == 1
    client.post(url(incident, "severity/"), {"severity": "P1", "reason": "all card payments fail"}, **htmx())
    incident.refresh_from_db()
    assert incident.severity == "P1"


def test_only_the_commander_may_reassign_the_commander(as_user, incident, cast):
    actions.assign_role(incident, "commander", cast["carol"], actor=cast["carol"], source=Door.WEB)
    refused = as_user("alice").post(url(incident, "roles/"), {"role": "commander", "user": cast["alice"].pk},
                                    **htmx())
    assert refused.status_code == 403 and b"only the incident commander" in refused.content
    incident.refresh_from_db()
    assert incident.commander == cast["carol"]
    as_user("carol").post(url(incident, "roles/"), {"role": "commander", "user": cast["bob"].pk}, **htmx())
    incident.refresh_from_db()
    assert incident.commander == cast["bob"]


def test_responder_role_can_be_added_and_removed(as_user, incident, cast):
    client = as_user("alice")
    client.post(url(incident, "roles/"), {"role": "responder", "user": cast["bob"].pk}, **htmx())
    assert list(incident.responders.all()) == [cast["bob"]]
    client.post(url(incident, "roles/"), {"role": "responder", "user": cast["bob"].pk, "remove": "on"}, **htmx())
    assert not incident.responders.exists()


def test_role_for_someone_outside_the_team_is_422(as_user, incident, cast):
    response = as_user("alice").post(url(incident, "roles/"), {"role": "comms_lead", "user": cast["oscar"].pk},
                                     **htmx())
    assert response.status_code == 422 and b"not a member of the owning team" in response.content
    assert entry_count(incident) == 1


def test_commander_changes_team_and_responder_may_not(as_user, incident, teams):
    refused = as_user("alice").post(url(incident, "team/"), {"team": teams["platform"].pk}, **htmx())
    assert refused.status_code == 403
    ok = as_user("carol").post(url(incident, "team/"), {"team": teams["platform"].pk})
    assert ok.status_code == 302
    incident.refresh_from_db()
    assert incident.team == teams["platform"]


def test_commander_handing_a_restricted_incident_away_is_sent_back_to_the_list(as_user, make_incident, teams):
    secret = make_incident(title="Secret", sensitivity="restricted")
    client = as_user("carol")
    response = client.post(url(secret, "team/"), {"team": teams["platform"].pk}, **htmx())
    assert response.status_code == 200 and response["HX-Redirect"] == "/incidents/"
    assert client.get(url(secret)).status_code == 404


def test_merge_into_another_incident(as_user, make_incident):
    survivor = make_incident(title="Checkout down")
    duplicate = make_incident(title="Checkout down again")
    response = as_user("alice").post(url(duplicate, "merge/"), {"other": survivor.reference}, **htmx())
    assert response.status_code == 200
    duplicate.refresh_from_db()
    assert duplicate.merged_into == survivor and duplicate.status == Status.RESOLVED
    content = as_user("alice").get(url(duplicate)).content.decode()
    assert f"Merged into <a href=\"{url(survivor)}\">{survivor.reference}</a>" in content


def test_merge_into_unknown_or_hidden_incident_is_404(as_user, make_incident):
    duplicate = make_incident(title="Checkout down")
    hidden = make_incident(title="Search secret", team="platform", actor="oscar", sensitivity="restricted")
    client = as_user("alice")
    for other in ("INC-999", hidden.reference):
        response = client.post(url(duplicate, "merge/"), {"other": other}, **htmx())
        assert response.status_code == 404 and b"does not exist" in response.content
    garbage = client.post(url(duplicate, "merge/"), {"other": "yesterday's"}, **htmx())
    assert garbage.status_code == 422 and b"INC-12" in garbage.content
    assert entry_count(duplicate) == 1


def test_relate_two_incidents(as_user, make_incident):
    first = make_incident(title="Checkout down")
    second = make_incident(title="Search slow", team="platform", actor="oscar")
    as_user("alice").post(url(first, "relate/"), {"other": str(second.number)}, **htmx())
    assert list(first.related.all()) == [second]
    assert second.reference.encode() in as_user("alice").get(url(first)).content


def test_checklist_tick_and_untick(as_user, incident):
    item = incident.checklist.first()
    client = as_user("alice")
    response = client.post(url(incident, f"checklist/{item.pk}/"), {"done": "on"}, **htmx())
    assert response.status_code == 200 and b'checked' in response.content
    item.refresh_from_db()
    assert item.done_at is not None and item.done_by.username == "alice"
    client.post(url(incident, f"checklist/{item.pk}/"), {}, **htmx())
    item.refresh_from_db()
    assert item.done_at is None


def test_checklist_item_of_another_incident_is_404(as_user, make_incident):
    mine = make_incident(title="Checkout down")
    other = make_incident(title="Checkout slow")
    item = other.checklist.first()
    response = as_user("alice").post(url(mine, f"checklist/{item.pk}/"), {"done": "on"}, **htmx())
    assert response.status_code == 404
    item.refresh_from_db()
    assert item.done_at is None


def test_pinned_comment_is_highlighted_as_a_milestone(as_user, incident, cast):
    entry = actions.add_comment(incident, "Root cause: expired certificate", actor=cast["bob"], source=Door.WEB)
    client = as_user("alice")
    assert client.post(url(incident, f"timeline/{entry.seq}/pin/"), {"pinned": "1"}, **htmx()).status_code == 200
    content = client.get(url(incident)).content.decode()
    assert f'id="entry-{entry.seq}" class="entry kind-comment pinned"' in content and "★ milestone" in content
    not_pinnable = client.post(url(incident, "timeline/1/pin/"), {"pinned": "1"}, **htmx())
    assert not_pinnable.status_code == 422 and b"only comments and updates" in not_pinnable.content


# --- evidence -----------------------------------------------------------------------------

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def upload(name, content, content_type):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type=content_type)


def test_screenshot_is_shown_inline_through_a_permission_checked_view(as_user, incident):
    client = as_user("alice")
    response = client.post(url(incident, "evidence/"), {"file": upload("errors.png", PNG, "image/png"),
                                                        "description": "error graph"})
    assert response.status_code == 302
    evidence = incident.evidence.get()
    file_url = url(incident, f"evidence/{evidence.pk}/")
    page = client.get(url(incident)).content.decode()
    assert f'<img class="evidence-image" src="{file_url}"' in page and "error graph" in page
    assert "/media/" not in page
    served = client.get(file_url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == PNG
    assert "sandbox" in served["Content-Security-Policy"]
    assert as_user("oscar").get(file_url).status_code == 200  # normal incident: any member may read
    assert as_user("nobody").get(file_url).status_code == 404


def test_log_is_shown_as_an_excerpt_and_downloads(as_user, incident):
    client = as_user("alice")
    log = "\n".join(f"12:00:{n:02d} ERROR payment <declined> id={n}" for n in range(60)).encode()
    client.post(url(incident, "evidence/"), {"file": upload("app.log", log, "application/octet-stream")})
    page = client.get(url(incident)).content.decode()
    assert '<pre class="evidence-log">' in page
    assert "12:00:00 ERROR payment &lt;declined&gt; id=0" in page
    assert "id=39" in page and "id=40" not in page  # an excerpt, not the whole file
    evidence = incident.evidence.get()
    served = client.get(url(incident, f"evidence/{evidence.pk}/"))
    assert served["Content-Disposition"].startswith("attachment")


def test_restricted_evidence_is_404_for_outsiders(as_user, make_incident):
    secret = make_incident(title="Secret", sensitivity="restricted")
    as_user("alice").post(url(secret, "evidence/"), {"file": upload("a.png", PNG, "image/png")})
    evidence = secret.evidence.get()
    assert as_user("oscar").get(url(secret, f"evidence/{evidence.pk}/")).status_code == 404


def test_disallowed_file_type_is_422_and_stores_nothing(as_user, incident):
    response = as_user("alice").post(url(incident, "evidence/"),
                                     {"file": upload("run.sh", b"rm -rf /", "application/x-sh")}, **htmx())
    assert response.status_code == 422 and b"are not accepted" in response.content
    assert not incident.evidence.exists() and entry_count(incident) == 1


def test_too_large_file_is_422(as_user, incident, settings):
    settings.EVIDENCE_MAX_BYTES = 10
    response = as_user("alice").post(url(incident, "evidence/"),
                                     {"file": upload("big.log", b"x" * 11, "text/plain")}, **htmx())
    assert response.status_code == 422 and b"the limit is 10 bytes" in response.content
    assert entry_count(incident) == 1


# --- CSRF and time zones ----------------------------------------------------------------------

def test_csrf_is_enforced_on_the_comment_form(cast, incident):
    client = login(Client(enforce_csrf_checks=True), cast["alice"])
    refused = client.post(url(incident, "comments/"), {"body": "no token"})
    assert refused.status_code == 403 and entry_count(incident) == 1
    client.get(url(incident))  # sets the CSRF cookie, as the page does for htmx
    token = client.cookies["csrftoken"].value
    accepted = client.post(url(incident, "comments/"), {"body": "with token"}, HTTP_X_CSRFTOKEN=token,
                           HTTP_HX_REQUEST="true")
    assert accepted.status_code == 200 and entry_count(incident) == 2


def test_times_are_shown_in_the_viewers_time_zone(as_user, make_incident, clock):
    incident = make_incident()  # declared at 09:00 UTC (the clock)
    amsterdam = as_user("alice").get(url(incident)).content.decode()
    utc = as_user("bob").get(url(incident)).content.decode()
    assert "Mar 2, 10:00 CET" in amsterdam and "Mar 2, 09:00 CET" not in amsterdam
    assert "Mar 2, 09:00 UTC" in utc
    assert "Mar 2, 10:00 CET" in as_user("alice").get("/incidents/").content.decode()


def test_timers_count_from_the_start(as_user, make_incident, clock, cast):
    incident = make_incident()
    clock.shift(5 * 60)
    actions.acknowledge_incident(incident, actor=cast["bob"], source=Door.WEB)
    clock.shift(85 * 60)
    content = as_user("alice").get(url(incident)).content.decode()
    timers = re.findall(r'<span class="timer-label">([^<]+)</span>\s*<span class="timer-value"[^>]*>([^<]+)<', content)
    assert timers == [("Since start", "1h 30m"), ("To acknowledge", "5m"), ("To resolve", "open")]
