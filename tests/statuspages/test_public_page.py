"""The public page and its companions: HTML without JavaScript, the cache and its
invalidation, the last good copy when the database is down, private pages, custom
domains, feeds and the badge."""

import re
import xml.etree.ElementTree as ET
from unittest import mock

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from alertum.core.errors import Invalid
from alertum.core.models import Door
from statuspages import actions, cache

ROOT = "/status/acme/"


def test_page_shows_status_components_and_uptime_without_javascript(client, page, components, cast):
    actions.create_public_incident(page, name="Checkout errors", body="We are looking into failed payments.",
                                   component_statuses={components["checkout"].code: "major_outage"},
                                   actor=cast["alice"], source=Door.WEB)
    response = client.get(ROOT)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script" not in html
    assert "Major System Outage" in html or "Partial System Outage" in html
    assert "Checkout errors" in html and "We are looking into failed payments." in html
    assert re.search(r"Checkout</span><span class=\"st s-major_outage\">Major outage", html)
    assert html.count('<svg class="bar"') == 3  # the three leaves; the group has no bar of its own
    assert 'aria-label="API: 100.00% uptime over the last 90 days"' in html
    assert len(response.content) <= 100 * 1024
    # No third-party requests: every src/href is ours (relative) or a data: URL.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "#", "data:", "?")), url
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_internal_incident_details_never_leak(client, page, components, cast, make_incident):
    internal = make_incident(title="DB primary lost quorum on pg-7", description="secret runbook link")
    actions.create_public_incident(page, name="Slow checkout", body="Checkout is slow for some customers.",
                                   incident=internal, actor=cast["alice"], source=Door.WEB)
    for path in ("", "history/", "history.atom", "api/v2/incidents.json", "api/v2/summary.json"):
        body = client.get(ROOT + path).content.decode()
        assert "pg-7" not in body and "secret runbook" not in body and internal.reference not in body, path


def test_a_published_update_shows_at_once_through_the_cache(client, page, components, cast, commit):
    first = client.get(ROOT)
    assert "All Systems Operational" in first.content.decode()
    summary = client.get(ROOT + "api/v2/summary.json").json()
    assert summary["status"]["indicator"] == "none"
    # Served from the cache now (no queries at all).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.forget_local()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ROOT).status_code == 200
    assert len(queries) == 0
    with mock.patch.object(cache, "LOCAL_SECONDS", 0):
        with commit():
            actions.set_component_status(components["api"], "major_outage", actor=cast["alice"], source=Door.WEB)
        assert "API</span><span class=\"st s-major_outage\"" in client.get(ROOT).content.decode()
        summary = client.get(ROOT + "api/v2/summary.json").json()
    assert {c["name"]: c["status"] for c in summary["components"]}["API"] == "major_outage"
    assert {c["name"]: c["status"] for c in summary["components"]}["Platform"] == "major_outage"


def _database_down():
    return mock.patch.object(BaseDatabaseWrapper, "ensure_connection",
                             side_effect=OperationalError("could not connect to server: Connection refused"))


def test_database_down_serves_the_last_page_with_its_age(client, page, components, clock, django_db_blocker):
    assert client.get(ROOT).status_code == 200
    assert client.get(ROOT + "api/v2/summary.json").status_code == 200
    clock.shift(7 * 60)
    from django.core.cache import cache as django_cache
    from django.db import connections

    django_cache.clear()  # only the file under ALERTUM_VAR_DIR is left
    cache.forget_local()
    connections.close_all()
    with _database_down():
        response = client.get(ROOT)
        summary = client.get(ROOT + "api/v2/summary.json")
    assert response.status_code == 200
    html = response.content.decode()
    assert "We cannot refresh this page right now" in html and "(7 minutes ago)" in html
    assert "Checkout" in html
    assert response["Age"] == "420"
    assert summary.status_code == 200 and summary.json()["status"]["indicator"] == "none"
    assert summary["X-Status-Page-Stale"] == "420"


def test_database_down_and_never_rendered_is_a_503_with_a_message(client, page):
    from django.db import connections

    connections.close_all()
    with _database_down():
        response = client.get(ROOT + "history.rss")
    assert response.status_code == 503
    assert b"temporarily unavailable" in response.content


def test_password_page(client, page, admin, commit):
    assert client.get(ROOT).status_code == 200  # cached while public
    with commit():
        actions.update_page(page, actor=admin, source=Door.WEB, access="password", password="open sesame")
    response = client.get(ROOT)
    assert response.status_code == 401 and b"This status page is private" in response.content
    assert client.get(ROOT + "api/v2/summary.json").status_code == 401
    assert client.post(ROOT + "access", {"password": "wrong", "next": ROOT}).status_code == 401
    response = client.post(ROOT + "access", {"password": "open sesame", "next": ROOT})
    assert response.status_code == 302 and response["Location"] == ROOT
    assert client.get(ROOT).status_code == 200
    assert client.get(ROOT).status_code == 200  # from the cache, still checked
    assert client.get(ROOT)["Cache-Control"] == "private, no-cache"
    # A new password ends the old access.
    with commit():
        actions.update_page(page, actor=admin, source=Door.WEB, password="another one")
    cache.forget_local()
    assert client.get(ROOT).status_code == 401
    page.refresh_from_db()
    assert page.password_hash and "another one" not in page.password_hash


def test_ip_allow_list_page(client, page, admin):
    actions.update_page(page, actor=admin, source=Door.WEB, access="ip", allowed_ips="10.0.0.0/8\n192.0.2.7")
    assert client.get(ROOT, REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get(ROOT, REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get(ROOT, REMOTE_ADDR="203.0.113.9").status_code == 403  # the cached copy is checked too


def test_login_page_needs_a_signed_in_member(client, page, admin, cast):
    actions.update_page(page, actor=admin, source=Door.WEB, access="login")
    response = client.get(ROOT)
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(cast["nobody"])
    assert client.get(ROOT).status_code == 302
    client.force_login(cast["oscar"])
    assert client.get(ROOT).status_code == 200


def test_custom_domain_serves_the_page_at_its_root(client, page, admin, settings):
    settings.ALLOWED_HOSTS = ["testserver", "status.acme.test"]
    actions.update_page(page, actor=admin, source=Door.WEB, custom_domain="status.acme.test")
    response = client.get("/", HTTP_HOST="status.acme.test")
    assert response.status_code == 200 and b"Acme status" in response.content
    assert b'href="/history/"' in response.content
    data = client.get("/api/v2/summary.json", HTTP_HOST="status.acme.test").json()
    assert data["page"]["url"] == "http://status.acme.test/"
    assert client.get("/api/v2/components.json", HTTP_HOST="status.acme.test").status_code == 200
    assert client.get("/incidents/", HTTP_HOST="status.acme.test").status_code == 404  # not the portal


def test_feeds_list_the_incident_history(client, page, components, cast):
    incident = actions.create_public_incident(page, name="API errors", body="Investigating <errors>.",
                                              actor=cast["alice"], source=Door.WEB)
    actions.post_incident_update(incident, status="resolved", body="All good.", actor=cast["alice"],
                                 source=Door.WEB)
    atom = client.get(ROOT + "history.atom")
    assert atom["Content-Type"].startswith("application/atom+xml")
    tree = ET.fromstring(atom.content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = tree.findall("a:entry", ns)
    assert [e.find("a:title", ns).text for e in entries] == ["API errors"]
    assert entries[0].find("a:link", ns).get("href").endswith(f"/incidents/{incident.code}")
    rss = ET.fromstring(client.get(ROOT + "history.rss").content)
    assert [i.find("title").text for i in rss.iter("item")] == ["API errors"]
    assert "Investigating &lt;errors&gt;." in rss.find("channel/item/description").text


def test_badge_is_an_svg_coloured_by_status(client, page, components, cast, commit):
    response = client.get(ROOT + "badge.svg")
    assert response["Content-Type"] == "image/svg+xml"
    svg = ET.fromstring(response.content)
    assert svg.get("aria-label") == "Acme status: All Systems Operational"
    assert 'fill="#2b8a3e"' in response.content.decode()
    with commit():
        actions.set_component_status(components["web"], "major_outage", actor=cast["alice"], source=Door.WEB)
    cache.forget_local()
    svg = client.get(ROOT + "badge.svg").content.decode()
    assert "Partial System Outage" in svg and 'fill="#c2410c"' in svg  # one of three leaves down: major


def test_incident_page_history_and_uptime_pages(client, page, components, cast):
    incident = actions.create_public_incident(page, name="API errors", body="Investigating.",
                                              actor=cast["alice"], source=Door.WEB)
    assert b"Investigating." in client.get(f"{ROOT}incidents/{incident.code}").content
    assert client.get(f"{ROOT}incidents/nope00000000").status_code == 404
    assert b"API errors" in client.get(ROOT + "history/").content
    uptime = client.get(ROOT + "uptime/")
    assert uptime.status_code == 200 and b"Uptime history" in uptime.content and b"API" in uptime.content
    assert client.get(ROOT + "uptime/?month=2026-13").status_code == 404


@pytest.mark.parametrize("path", ["api/v2/summary.json", ""])
def test_post_to_a_read_only_door_is_refused(client, page, path):
    assert client.post(ROOT + path).status_code == 405


def test_database_down_with_a_signed_in_visitor_still_gets_the_last_page(client, page, components, cast):
    client.force_login(cast["alice"])  # her session cookie makes the middleware read the session table
    assert client.get(ROOT).status_code == 200
    from django.core.cache import cache as django_cache
    from django.db import connections

    django_cache.clear()
    cache.forget_local()
    connections.close_all()
    client.raise_request_exception = False
    with _database_down():
        response = client.get(ROOT)
    assert response.status_code == 200
    assert b"We cannot refresh this page right now" in response.content


def test_database_down_login_page_is_never_served_unchecked(client, page, admin, cast, commit):
    with commit():
        actions.update_page(page, actor=admin, source=Door.WEB, access="login")
    client.force_login(cast["alice"])
    assert client.get(ROOT).status_code == 200
    from django.db import connections

    connections.close_all()
    client.raise_request_exception = False
    with _database_down():
        response = client.get(ROOT)
    assert response.status_code == 503


def test_head_is_answered_like_get(client, page):
    assert client.head(ROOT + "api/v2/status.json").status_code == 200
    assert client.head(ROOT).status_code == 200


def test_the_cache_is_bumped_on_commit_and_not_on_rollback(client, page, components, cast,
                                                           django_capture_on_commit_callbacks):
    assert b"s-operational" in client.get(ROOT).content
    cache.forget_local()
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(Invalid):
            actions.create_public_incident(page, name="x", body="y", actor=cast["alice"], source=Door.WEB,
                                           component_statuses={"nope00000000": "major_outage"})
    assert callbacks == []  # refused: nothing to announce, the cached page stays right
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        actions.set_component_status(components["api"], "partial_outage", actor=cast["alice"], source=Door.WEB)
    assert callbacks  # the bump (and the webhook kick) wait for the commit
    cache.forget_local()
    assert b'API</span><span class="st s-partial_outage"' in client.get(ROOT).content
