"""The ping doors speak healthchecks.io's ping API: every URL form, method, response code
and body of ../shared/reference/status-and-heartbeat-formats.md §2.1."""

import uuid

import pytest

from monitoring.heartbeats.models import Heartbeat, Ping
from tests.monitoring.test_heartbeat_support import changes, fresh, log, make_heartbeat, make_key

RID = "3f1c2b9a-6d7e-4f80-9a1b-2c3d4e5f6a7b"


@pytest.fixture
def heartbeat(services):
    return make_heartbeat(services["checkout"], slug="nightly-backup")


@pytest.fixture
def key(teams):
    return make_key(teams["payments"])


def assert_ok(response, body="OK", status=200, limit="10000"):
    assert response.status_code == status
    assert response.content == body.encode()
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Ping-Body-Limit"] == limit
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert response["Expires"].endswith(" GMT")  # what Django's never_cache sends


@pytest.mark.parametrize("method", ["get", "post", "head"])
@pytest.mark.parametrize("suffix, kind, exit_status", [
    ("", "success", None), ("/", "success", None), ("/start", "start", None), ("/fail", "fail", None),
    ("/log", "log", None), ("/0", "success", 0), ("/1", "fail", 1), ("/255", "fail", 255)])
def test_every_signal_and_method_by_uuid_answers_ok_and_is_logged(client, heartbeat, method, suffix, kind,
                                                                   exit_status):
    response = getattr(client, method)(f"/ping/{heartbeat.uuid}{suffix}")
    assert response.status_code == 200
    if method != "head":
        assert_ok(response)
    [ping] = log(heartbeat)
    assert (ping.kind, ping.exit_status, ping.method, ping.n) == (kind, exit_status, method.upper(), 1)


@pytest.mark.parametrize("suffix, kind, exit_status", [
    ("", "success", None), ("/start", "start", None), ("/fail", "fail", None), ("/log", "log", None),
    ("/7", "fail", 7), ("/0", "success", 0)])
def test_every_signal_by_slug_and_ping_key(client, heartbeat, key, suffix, kind, exit_status):
    response = client.post(f"/ping/{key}/nightly-backup{suffix}", data=b"done", content_type="text/plain")
    assert_ok(response)
    [ping] = log(heartbeat)
    assert (ping.kind, ping.exit_status, ping.body) == (kind, exit_status, "done")


def test_unknown_uuid_is_404_not_found(client, heartbeat):
    response = client.get(f"/ping/{uuid.uuid4()}")
    assert (response.status_code, response.content) == (404, b"not found")
    assert Ping.objects.count() == 0


@pytest.mark.parametrize("path", ["/ping/not-a-uuid", "/ping/", "/ping/{uuid}/stop", "/ping/{uuid}/start/extra",
                                  "/ping/{upper}"])
def test_malformed_ping_urls_are_404_not_found(client, heartbeat, path):
    response = client.get(path.format(uuid=heartbeat.uuid, upper=str(heartbeat.uuid).upper()))
    assert (response.status_code, response.content) == (404, b"not found")
    assert Ping.objects.count() == 0


@pytest.mark.parametrize("form", ["uuid", "slug"])
def test_exit_status_over_255_is_400_invalid_url_format(client, heartbeat, key, form):
    base = f"/ping/{heartbeat.uuid}" if form == "uuid" else f"/ping/{key}/nightly-backup"
    response = client.get(base + "/256")
    assert (response.status_code, response.content) == (400, b"invalid url format")
    assert Ping.objects.count() == 0


def test_slug_with_capitals_is_400_invalid_url_format(client, heartbeat, key):
    response = client.get(f"/ping/{key}/Nightly-Backup")
    assert (response.status_code, response.content) == (400, b"invalid url format")


@pytest.mark.parametrize("rid", ["", "not-a-uuid", RID.upper(), RID.replace("-", ""), "{" + RID + "}"])
def test_a_run_id_not_in_canonical_form_is_400_invalid_uuid_format(client, heartbeat, rid):
    response = client.get(f"/ping/{heartbeat.uuid}/start", {"rid": rid})
    assert (response.status_code, response.content) == (400, b"invalid uuid format")
    assert Ping.objects.count() == 0


def test_run_id_is_kept_on_the_ping(client, heartbeat):
    assert_ok(client.get(f"/ping/{heartbeat.uuid}/start?rid={RID}"))
    assert log(heartbeat)[0].rid == uuid.UUID(RID)


def test_unknown_key_or_slug_is_404(client, heartbeat, key):
    assert client.get(f"/ping/{key}/other-job").content == b"not found"
    assert client.get("/ping/wrongkeywrongkey1234/nightly-backup").status_code == 404
    assert Ping.objects.count() == 0


def test_a_key_only_reaches_its_own_teams_slugs(client, services, teams):
    make_heartbeat(services["search"], slug="reindex")
    payments_key = make_key(teams["payments"])
    assert client.get(f"/ping/{payments_key}/reindex").status_code == 404
    platform_key = make_key(teams["platform"])
    assert client.get(f"/ping/{platform_key}/reindex").status_code == 200


def test_same_slug_twice_in_a_team_is_409_ambiguous_slug(client, heartbeat, key, services):
    make_heartbeat(services["checkout"], name="Other backup", slug="nightly-backup")
    response = client.get(f"/ping/{key}/nightly-backup")
    assert (response.status_code, response.content) == (409, b"ambiguous slug")
    assert Ping.objects.count() == 0


def test_create_makes_the_heartbeat_in_the_keys_default_service(client, teams, services):
    key = make_key(teams["payments"], default_service=services["checkout"])
    response = client.post(f"/ping/{key}/weekly-report?create=1", data=b"report sent", content_type="text/plain")
    assert_ok(response, "Created", 201)
    heartbeat = Heartbeat.objects.get(slug="weekly-report")
    assert (heartbeat.monitor.name, heartbeat.monitor.service, heartbeat.status) == (
        "weekly-report", services["checkout"], "up")
    assert [p.body for p in log(heartbeat)] == ["report sent"]
    # The second time it exists: a plain OK.
    assert_ok(client.get(f"/ping/{key}/weekly-report?create=1"))
    assert Heartbeat.objects.filter(slug="weekly-report").count() == 1


def test_create_is_refused_without_a_default_service_or_without_the_flag(client, key):
    assert client.get(f"/ping/{key}/weekly-report?create=1").content == b"not found"
    assert client.get(f"/ping/{key}/weekly-report?create=0").status_code == 404
    assert Heartbeat.objects.count() == 0


def test_body_is_kept_up_to_the_limit_with_its_full_size(client, services):
    heartbeat = make_heartbeat(services["checkout"], body_limit=10)
    response = client.post(f"/ping/{heartbeat.uuid}/fail", data=b"0123456789 and the rest", content_type="text/plain")
    assert_ok(response, limit="10")
    [ping] = log(heartbeat)
    assert (ping.body, ping.body_size, ping.body_truncated) == ("0123456789", 23, True)


def test_binary_and_cut_utf8_bodies_are_stored_safely(client, services):
    heartbeat = make_heartbeat(services["checkout"], body_limit=5)
    client.post(f"/ping/{heartbeat.uuid}/log", data="ab\x00cé".encode() + b"\xff\xfe", content_type="text/plain")
    [ping] = log(heartbeat)
    assert ping.body == "ab\ufffdc\ufffd"  # NUL and the cut "é" replaced, nothing lost silently
    assert ping.body_size == 8


def test_a_body_limit_of_zero_keeps_no_body(client, services):
    heartbeat = make_heartbeat(services["checkout"], body_limit=0)
    assert_ok(client.post(f"/ping/{heartbeat.uuid}", data=b"secret output", content_type="text/plain"), limit="0")
    assert (log(heartbeat)[0].body, log(heartbeat)[0].body_size) == ("", 13)


def test_ping_records_user_agent_address_and_scheme(client, heartbeat):
    client.get(f"/ping/{heartbeat.uuid}", HTTP_USER_AGENT="curl/8.5.0", HTTP_X_FORWARDED_FOR="10.0.0.9, 192.0.2.7")
    [ping] = log(heartbeat)
    assert (ping.user_agent, ping.remote_addr, ping.scheme) == ("curl/8.5.0", "192.0.2.7", "http")


def test_pings_need_no_login_and_no_csrf_token(heartbeat):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(f"/ping/{heartbeat.uuid}", data=b"x",
                                                     content_type="text/plain")
    assert_ok(response)


def test_pings_are_numbered_per_heartbeat(client, heartbeat, services):
    other = make_heartbeat(services["checkout"], name="Other")
    for _ in range(3):
        client.get(f"/ping/{heartbeat.uuid}")
    client.get(f"/ping/{other.uuid}")
    assert [p.n for p in log(heartbeat)] == [1, 2, 3]
    assert [p.n for p in log(other)] == [1]
    assert fresh(heartbeat).n_pings == 3


def test_first_success_makes_a_new_heartbeat_up_without_an_alert(client, heartbeat):
    client.get(f"/ping/{heartbeat.uuid}")
    assert fresh(heartbeat).status == "up"
    assert changes(heartbeat) == [("new", "up")]
    from incidents.models import Alert

    assert Alert.objects.count() == 0


def test_ping_door_answers_without_session_machinery(client, heartbeat, cast):
    """Pings are served before the session, CSRF and auth middleware: even a signed-in
    browser's ping sets no cookie and varies on none, and the body length is declared."""
    client.force_login(cast["alice"])
    response = client.get(f"/ping/{heartbeat.uuid}")
    assert_ok(response)
    assert int(response["Content-Length"]) == len(response.content)
    assert "Cookie" not in response.get("Vary", "") and not response.cookies


@pytest.mark.parametrize("method, suffix, exit_status", [("get", "", None), ("head", "", None), ("post", "", None),
                                                         ("get", "/0", 0), ("post", "/", None)])
def test_on_time_pings_to_an_up_heartbeat_answer_and_log_as_the_first_did(client, services, method, suffix,
                                                                          exit_status):
    """After the first ping the usual ping takes the one-statement path (no lookup first);
    what the sender sees and what the log keeps are the same."""
    heartbeat = make_heartbeat(services["checkout"], body_limit=500)
    headers = {"HTTP_USER_AGENT": "curl/8.5.0", "HTTP_X_FORWARDED_FOR": "192.0.2.7"}
    assert_ok(client.get(f"/ping/{heartbeat.uuid}"), limit="500")
    if method == "post":  # curl -X POST without data
        headers.update(data=b"", content_type="text/plain")
    response = getattr(client, method)(f"/ping/{heartbeat.uuid}{suffix}", **headers)
    assert response.status_code == 200 and response["Ping-Body-Limit"] == "500"
    if method != "head":
        assert_ok(response, limit="500")
    first, second = log(heartbeat)
    assert (second.n, second.kind, second.exit_status, second.method, second.user_agent, second.remote_addr,
            second.scheme, second.body, second.body_size) == (2, "success", exit_status, method.upper(),
                                                              "curl/8.5.0", "192.0.2.7", "http", "", 0)
    beat = fresh(heartbeat)
    assert (beat.status, beat.n_pings, beat.last_ping_at) == ("up", 2, second.received_at)


def test_the_one_statement_ping_takes_only_the_usual_case_and_changes_nothing_otherwise(client, services, cast):
    from django.utils import timezone

    from monitoring import actions as monitor_actions
    from monitoring.heartbeats import pings

    heartbeat = make_heartbeat(services["checkout"], body_limit=300)
    usual = pings.Signal(action=pings.SUCCESS, method="GET")
    assert pings.record_on_time(heartbeat.uuid, usual, timezone.now()) is None  # new: the general path decides
    assert pings.record_on_time(uuid.uuid4(), usual, timezone.now()) is None  # unknown
    assert log(heartbeat) == [] and fresh(heartbeat).n_pings == 0
    client.get(f"/ping/{heartbeat.uuid}")  # new -> up
    assert pings.record_on_time(heartbeat.uuid, usual, timezone.now()) == 300
    with_body = pings.Signal(action=pings.SUCCESS, method="POST", body=b"done", body_size=4)
    assert pings.record_on_time(heartbeat.uuid, with_body, timezone.now()) == 300
    for unusual in (pings.Signal(action=pings.SUCCESS, body=b"x" * 301, body_size=301),  # over the limit: cut there
                    pings.Signal(action=pings.SUCCESS, rid=uuid.uuid4()),
                    pings.Signal(action=pings.SUCCESS, exit_status=3), pings.Signal(action=pings.START)):
        assert pings.record_on_time(heartbeat.uuid, unusual, timezone.now()) is None
    client.get(f"/ping/{heartbeat.uuid}/start")  # a run is open
    assert pings.record_on_time(heartbeat.uuid, usual, timezone.now()) is None
    client.get(f"/ping/{heartbeat.uuid}")
    monitor_actions.pause_monitor(fresh(heartbeat).monitor, actor=cast["root"], source="web")
    assert pings.record_on_time(heartbeat.uuid, usual, timezone.now()) is None
    assert [(p.kind, p.body) for p in log(heartbeat)] == [("success", ""), ("success", ""), ("success", "done"),
                                                          ("start", ""), ("success", "")]


def test_slug_pings_to_an_up_heartbeat_stay_exact_about_keys_and_ambiguity(client, services, teams):
    """The one-statement slug ping reaches only the key's own team, and never one of two
    heartbeats sharing a slug."""
    beat = make_heartbeat(services["checkout"], slug="nightly-backup")
    key, other_key = make_key(teams["payments"]), make_key(teams["platform"])
    assert_ok(client.post(f"/ping/{key}/nightly-backup", data=b"first", content_type="text/plain"))
    assert_ok(client.post(f"/ping/{key}/nightly-backup", data=b"second", content_type="text/plain"))
    assert client.get(f"/ping/{other_key}/nightly-backup").status_code == 404
    assert [p.body for p in log(beat)] == ["first", "second"]
    make_heartbeat(services["checkout"], name="Other backup", slug="nightly-backup")
    response = client.post(f"/ping/{key}/nightly-backup", data=b"third", content_type="text/plain")
    assert (response.status_code, response.content) == (409, b"ambiguous slug")
    assert [p.body for p in log(beat)] == ["first", "second"] and fresh(beat).n_pings == 2
