"""Pings over real HTTP: a live server on 127.0.0.1 and the `requests` client, as a cron
job's curl would send them (HEAD, GET, POST with a body, run ids, errors)."""

import uuid

import requests

from monitoring.heartbeats.models import Heartbeat
from tests.monitoring.test_heartbeat_support import changes, fresh, log, make_heartbeat, make_key


def test_pings_over_real_http(live_server, services, teams):
    heartbeat = make_heartbeat(services["checkout"], slug="nightly-backup", body_limit=16)
    key = make_key(teams["payments"])
    base = f"{live_server.url}/ping/{heartbeat.uuid}"
    rid = str(uuid.uuid4())
    with requests.Session() as http:
        response = http.head(base + "/start", params={"rid": rid}, timeout=10)
        assert (response.status_code, response.content) == (200, b"")
        assert response.headers["Ping-Body-Limit"] == "16"
        response = http.post(base, params={"rid": rid}, data=b"backup finished: 12 GB in 4 min", timeout=10,
                             headers={"User-Agent": "curl/8.5.0"})
        assert (response.status_code, response.text) == (200, "OK")
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert http.get(f"{live_server.url}/ping/{key}/nightly-backup/log", timeout=10).text == "OK"
        assert http.get(base + "/1", timeout=10).status_code == 200
        response = http.get(base + "/300", timeout=10)
        assert (response.status_code, response.text) == (400, "invalid url format")
        response = http.get(base, params={"rid": "nope"}, timeout=10)
        assert (response.status_code, response.text) == (400, "invalid uuid format")
        response = http.get(f"{live_server.url}/ping/{uuid.uuid4()}", timeout=10)
        assert (response.status_code, response.text) == (404, "not found")
    pings = log(Heartbeat.objects.get(pk=heartbeat.pk))
    assert [(p.kind, p.method, p.exit_status) for p in pings] == [
        ("start", "HEAD", None), ("success", "POST", None), ("log", "GET", None), ("fail", "GET", 1)]
    assert (pings[1].body, pings[1].body_size, pings[1].user_agent, pings[1].remote_addr) == (
        "backup finished:", 31, "curl/8.5.0", "127.0.0.1")
    assert pings[1].duration is not None and pings[1].duration >= 0
    assert fresh(heartbeat).status == "down"
    assert changes(heartbeat) == [("new", "up"), ("up", "down")]
