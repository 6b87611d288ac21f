"""The monitors overview over a WebSocket (ws/monitors/), through the real ASGI stack
(session cookie, origin check, routing) with channels' WebsocketCommunicator: who may
connect, which changes are announced (state changes, never a quiet check or ping), the
coalescing of a storm, catch-up on reconnect, the poll safety net and loss of access."""

import datetime as dt
import json
import re

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from alertum.asgi import application
from alertum.core.models import Membership
from monitoring import actions, queries
from monitoring.checks import Outcome
from monitoring.heartbeats import actions as heartbeat_actions
from tests.monitoring.test_heartbeat_support import make_heartbeat

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
WAIT = 5  # seconds to wait for a message before the test fails (an upper bound, not a measurement)
QUIET = 1  # seconds in which nothing may arrive
CHANGED = {"type": "monitors.changed"}


@pytest.fixture(autouse=True)
def fresh_channel_layer(settings):
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}  # a new layer: no groups from another test
    settings.LIVE_POLL_SECONDS = 3600  # only events count, unless a test says otherwise
    settings.MONITORS_LIVE_MIN_GAP_SECONDS = 0


def headers_for(user):
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), ORIGIN]


def socket(headers):
    return WebsocketCommunicator(application, "/ws/monitors/", headers=headers)


def act(fn, *args, **kwargs):
    return database_sync_to_async(fn)(*args, **kwargs)


def fail(monitor):
    return actions.record_result(monitor, Outcome(ok=False, status_code=503, message="status 503"),
                                 at=timezone.now())


def succeed(monitor):
    return actions.record_result(monitor, Outcome(ok=True, latency_ms=12.0, status_code=200, message="200 OK"),
                                 at=timezone.now())


def connect_result(headers):
    async def scenario():
        ws = socket(headers)
        result = await ws.connect(timeout=WAIT)
        await ws.disconnect()
        return result

    return async_to_sync(scenario)()


def test_anonymous_socket_is_refused_with_4403(db):
    assert connect_result([ORIGIN]) == (False, 4403)


def test_member_of_no_team_is_refused_with_4404(cast):
    assert connect_result(headers_for(cast["nobody"])) == (False, 4404)


def test_foreign_origin_is_refused(cast):
    headers = [h for h in headers_for(cast["victor"]) if h[0] != b"origin"] + [(b"origin", b"http://evil.test")]
    assert connect_result(headers)[0] is False


@pytest.mark.parametrize("name", ["victor", "oscar", "root"])
def test_team_members_and_admins_may_follow_the_overview(cast, name):
    # Any team member sees every monitor (victor is a viewer, oscar in another team).
    assert connect_result(headers_for(cast[name])) == (True, None)


def test_a_monitor_going_down_tells_the_page_and_the_refetched_rows_show_it(cast, make_monitor):
    monitor = make_monitor(config={"url": "http://127.0.0.1:9/"}, name="Payments API", failure_threshold=1)
    headers = headers_for(cast["victor"])
    client = Client()
    client.force_login(cast["victor"])
    before = client.get("/monitors/").content.decode()
    version = re.search(r'id="monitor-rows" data-version="([^"]+)"', before).group(1)

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_json_to({"version": version})
        assert await ws.receive_nothing(timeout=QUIET)  # the page is up to date
        await act(fail, monitor)
        told = await ws.receive_json_from(timeout=WAIT)
        await ws.disconnect()
        return told

    assert async_to_sync(scenario)() == CHANGED
    rows = client.get("/monitors/", HTTP_HX_REQUEST="true").content.decode()
    assert "down: 1" in rows and 'class="monitor-down"' in rows and "Payments API" in rows
    assert 'hx-trigger="monitors-changed from:body, every 60s"' in rows
    assert re.search(r'data-version="([^"]+)"', rows).group(1) != version


def test_check_results_and_pings_that_change_nothing_send_nothing(cast, make_monitor, services, settings):
    settings.LIVE_POLL_SECONDS = 0.1  # and the poll finds nothing either: the version did not move
    monitor = make_monitor(config={"url": "http://127.0.0.1:9/"}, name="Payments API")
    succeed(monitor)  # new -> up
    heartbeat = make_heartbeat(services["checkout"])
    Client().get(f"/ping/{heartbeat.uuid}")  # new -> up
    headers = headers_for(cast["victor"])
    version = queries.overview_version()

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_json_to({"version": version})
        await act(succeed, monitor)
        await act(fail, monitor)  # one failure, threshold two: still up
        for _ in range(3):
            response = await act(Client().get, f"/ping/{heartbeat.uuid}")
            assert response.status_code == 200
        quiet = await ws.receive_nothing(timeout=QUIET)
        await ws.disconnect()
        return quiet

    assert async_to_sync(scenario)() is True
    monitor.refresh_from_db()
    assert (monitor.state, monitor.consecutive_failures) == ("up", 1)


def test_heartbeat_state_changes_are_announced(cast, services):
    heartbeat = make_heartbeat(services["checkout"], period_seconds=60, grace_seconds=60)
    headers = headers_for(cast["victor"])

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        response = await act(Client().get, f"/ping/{heartbeat.uuid}")  # new -> up
        assert response.status_code == 200
        first = await ws.receive_json_from(timeout=WAIT)
        swept = await act(heartbeat_actions.sweep, now=timezone.now() + dt.timedelta(seconds=90))  # up -> late
        second = await ws.receive_json_from(timeout=WAIT)
        await ws.disconnect()
        return first, swept, second

    first, swept, second = async_to_sync(scenario)()
    assert (first, swept, second) == (CHANGED, 1, CHANGED)


def test_a_storm_of_changes_is_one_message_per_gap(cast, make_monitor, settings):
    settings.MONITORS_LIVE_MIN_GAP_SECONDS = 3600  # the first change is told at once, the rest wait
    monitors = [make_monitor(config={"url": "http://127.0.0.1:9/"}, name=f"api {i}", failure_threshold=1)
                for i in range(10)]
    headers = headers_for(cast["victor"])

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        for monitor in monitors:
            await act(fail, monitor)
        first = await ws.receive_json_from(timeout=WAIT)
        quiet = await ws.receive_nothing(timeout=QUIET)
        await ws.disconnect()
        return first, quiet

    assert async_to_sync(scenario)() == (CHANGED, True)


def test_changes_during_the_gap_are_told_at_its_end(cast, make_monitor, settings):
    settings.MONITORS_LIVE_MIN_GAP_SECONDS = 0.5
    one, two = (make_monitor(config={"url": "http://127.0.0.1:9/"}, name=n, failure_threshold=1) for n in "ab")
    headers = headers_for(cast["victor"])

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        await act(fail, one)
        first = await ws.receive_json_from(timeout=WAIT)
        await act(fail, two)  # within the gap (or after it): told either way, exactly once
        second = await ws.receive_json_from(timeout=WAIT)
        quiet = await ws.receive_nothing(timeout=QUIET)
        await ws.disconnect()
        return first, second, quiet

    assert async_to_sync(scenario)() == (CHANGED, CHANGED, True)


def test_a_page_that_reconnects_with_an_old_version_is_told_to_refresh(cast, make_monitor):
    monitor = make_monitor(config={"url": "http://127.0.0.1:9/"}, name="Payments API", failure_threshold=1)
    old = queries.overview_version()
    fail(monitor)  # while the page was disconnected
    current = queries.overview_version()
    headers = headers_for(cast["victor"])

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_json_to({"version": current})
        up_to_date = await ws.receive_nothing(timeout=QUIET)
        await ws.disconnect()
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_to(text_data="not json")  # ignored
        await ws.send_json_to({"version": old})
        told = await ws.receive_json_from(timeout=WAIT)
        await ws.disconnect()
        return up_to_date, told

    assert old != current
    assert async_to_sync(scenario)() == (True, CHANGED)


def test_the_poll_brings_a_change_whose_broadcast_was_lost(cast, make_monitor, settings):
    # As in the embedded default: the engine runs in the celery worker, whose in-memory
    # channel layer never reaches the web process. Only the poll can bring the change.
    # A new layer for the action (re-assigning the setting) is such another layer.
    settings.LIVE_POLL_SECONDS = 0.1
    monitor = make_monitor(config={"url": "http://127.0.0.1:9/"}, name="Payments API", failure_threshold=1)
    headers = headers_for(cast["victor"])

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
        await act(fail, monitor)
        told = await ws.receive_json_from(timeout=WAIT)
        quiet = await ws.receive_nothing(timeout=QUIET)  # once: the poll now knows that version
        await ws.disconnect()
        return told, quiet

    assert async_to_sync(scenario)() == (CHANGED, True)


def test_a_viewer_who_loses_their_last_team_is_disconnected(cast, settings):
    settings.LIVE_POLL_SECONDS = 0.1
    headers = headers_for(cast["victor"])

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        await act(lambda: Membership.objects.filter(user=cast["victor"]).delete())
        closed = await ws.receive_output(timeout=WAIT)
        await ws.disconnect()
        return closed

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": 4404}


def test_the_message_carries_no_content(cast, make_monitor):
    monitor = make_monitor(config={"url": "http://127.0.0.1:9/"}, name="Secret project", failure_threshold=1)
    headers = headers_for(cast["oscar"])

    async def scenario():
        ws = socket(headers)
        assert (await ws.connect(timeout=WAIT))[0]
        await act(fail, monitor)
        raw = await ws.receive_from(timeout=WAIT)
        await ws.disconnect()
        return raw

    raw = async_to_sync(scenario)()
    assert json.loads(raw) == CHANGED and "Secret" not in raw and str(monitor.pk) not in raw
