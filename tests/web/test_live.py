"""The live consumers through the real ASGI stack (session cookie, origin check,
routing), driven by channels' WebsocketCommunicator. No pytest-asyncio: each test runs
its async scenario with async_to_sync."""

import re

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from alertum.asgi import application
from alertum.core import live
from alertum.core.models import Door
from incidents import actions
from incidents.consumers import clear_shared_renders

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
WAIT = 5  # seconds to wait for a push before the test fails (an upper bound, not a measurement)


@pytest.fixture(autouse=True)
def fresh_channel_layer(settings):
    # Re-assigning the setting makes channels build a new layer: no groups or queues
    # left over from another test (or bound to another test's event loop).
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    clear_shared_renders()


def headers_for(user):
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), ORIGIN]


def communicator(headers, path):
    return WebsocketCommunicator(application, path, headers=headers)


def entries_in(html):
    return [int(n) for n in re.findall(r'<li id="entry-(\d+)"', html)]


def head(incident):
    """The newest seq once the declaration has settled: on-call may append a note of its own
    after the declaration commits (e.g. that the service has no escalation policy)."""
    incident.refresh_from_db()
    return incident.last_seq


def act(fn, *args, **kwargs):
    return database_sync_to_async(fn)(*args, **kwargs)


# --- who may connect ----------------------------------------------------------------------

def connect_result(headers, path):
    async def scenario():
        ws = communicator(headers, path)
        result = await ws.connect(timeout=WAIT)
        await ws.disconnect()
        return result

    return async_to_sync(scenario)()


def test_anonymous_socket_is_refused_with_4403(incident):
    assert connect_result([ORIGIN], f"/ws/incidents/{incident.pk}/") == (False, 4403)
    assert connect_result([ORIGIN], "/ws/dashboard/") == (False, 4403)


def test_member_of_no_team_is_refused_with_4404(incident, cast):
    assert connect_result(headers_for(cast["nobody"]), f"/ws/incidents/{incident.pk}/") == (False, 4404)


def test_outsider_cannot_follow_a_restricted_incident(make_incident, cast):
    secret = make_incident(title="Secret", sensitivity="restricted")
    assert connect_result(headers_for(cast["oscar"]), f"/ws/incidents/{secret.pk}/") == (False, 4404)
    assert connect_result(headers_for(cast["victor"]), f"/ws/incidents/{secret.pk}/")[0] is True


def test_unknown_incident_is_refused_with_4404(cast, incident):
    assert connect_result(headers_for(cast["alice"]), "/ws/incidents/999/") == (False, 4404)


def test_foreign_origin_is_refused(incident, cast):
    headers = [h for h in headers_for(cast["alice"]) if h[0] != b"origin"] + [(b"origin", b"https://evil.example")]
    assert connect_result(headers, f"/ws/incidents/{incident.pk}/")[0] is False


# --- pushes ---------------------------------------------------------------------------------

def test_open_page_receives_the_new_entry_and_the_header_after_an_action(incident, cast):
    b = head(incident)
    headers = headers_for(cast["alice"])

    async def scenario():
        ws = communicator(headers, f"/ws/incidents/{incident.pk}/")
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_json_to({"last_seq": b})  # the page holds the declaration
        await act(actions.add_comment, incident.pk, "Rolling back <now>", actor=cast["bob"], source=Door.WEB)
        comment = await ws.receive_from(timeout=WAIT)
        await act(actions.acknowledge_incident, incident.pk, actor=cast["bob"], source=Door.WEB)
        ack = await ws.receive_from(timeout=WAIT)
        await ws.disconnect()
        return comment, ack

    comment, ack = async_to_sync(scenario)()
    assert entries_in(comment) == [b + 1]
    assert "Rolling back &lt;now&gt;" in comment and 'hx-swap-oob="beforeend:#timeline"' in comment
    assert f'<span id="timeline-head" data-seq="{b + 1}" hidden hx-swap-oob="true">' in comment
    assert 'id="incident-header"' not in comment  # a comment changes nothing outside the timeline
    assert entries_in(ack) == [b + 2] and "Acknowledged" in ack
    assert re.search(r'<header id="incident-header"[^>]*hx-swap-oob="true"', ack)
    assert 'data-status="acknowledged"' in ack
    assert 'id="incident-actions"' in ack and 'data-action="acknowledge"' not in ack


def test_pinning_re_renders_the_pinned_entry_as_a_milestone(incident, cast):
    b = head(incident)
    headers = headers_for(cast["alice"])

    async def scenario():
        ws = communicator(headers, f"/ws/incidents/{incident.pk}/")
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_json_to({"last_seq": b})
        await act(actions.add_comment, incident.pk, "Root cause found", actor=cast["bob"], source=Door.WEB)
        await ws.receive_from(timeout=WAIT)
        await act(actions.pin_entry, incident.pk, b + 1, actor=cast["bob"], source=Door.WEB)
        pinned = await ws.receive_from(timeout=WAIT)
        await ws.disconnect()
        return pinned

    pinned = async_to_sync(scenario)()
    assert f'<li id="entry-{b + 2}" class="entry kind-commentpinned"' in pinned
    assert re.search(rf'<li id="entry-{b + 1}" class="entry kind-comment pinned"[^>]*hx-swap-oob="true"', pinned)


def test_reconnecting_page_catches_up_on_what_it_missed(incident, cast):
    b = head(incident)
    headers = headers_for(cast["alice"])
    path = f"/ws/incidents/{incident.pk}/"

    async def scenario():
        ws = communicator(headers, path)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_json_to({"last_seq": b})
        await act(actions.add_comment, incident.pk, "first", actor=cast["bob"], source=Door.WEB)
        before = await ws.receive_from(timeout=WAIT)
        await ws.disconnect()
        # While the page is away, two more things happen.
        await act(actions.add_comment, incident.pk, "second", actor=cast["bob"], source=Door.WEB)
        await act(actions.acknowledge_incident, incident.pk, actor=cast["carol"], source=Door.WEB)
        again = communicator(headers, path)
        assert (await again.connect(timeout=WAIT))[0]
        await again.send_json_to({"last_seq": b + 1})
        missed = await again.receive_from(timeout=WAIT)
        await again.disconnect()
        return before, missed

    before, missed = async_to_sync(scenario)()
    assert entries_in(before) == [b + 1]
    assert entries_in(missed) == [b + 2, b + 3]
    assert missed.index("second") < missed.index("Acknowledged")


def test_after_query_parameter_sends_the_backlog_on_connect(incident, cast):
    b = head(incident)
    actions.add_comment(incident, "one", actor=cast["bob"], source=Door.WEB)
    actions.add_comment(incident, "two", actor=cast["bob"], source=Door.WEB)
    headers = headers_for(cast["alice"])

    async def scenario():
        ws = communicator(headers, f"/ws/incidents/{incident.pk}/?after={b}")
        assert (await ws.connect(timeout=WAIT))[0]
        html = await ws.receive_from(timeout=WAIT)
        await ws.disconnect()
        return html

    assert entries_in(async_to_sync(scenario)()) == [b + 1, b + 2]


def test_entries_are_never_sent_twice_on_one_connection(incident, cast):
    b = head(incident)
    headers = headers_for(cast["alice"])

    async def scenario():
        ws = communicator(headers, f"/ws/incidents/{incident.pk}/")
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_json_to({"last_seq": b})
        await act(actions.add_comment, incident.pk, "one", actor=cast["bob"], source=Door.WEB)
        first = await ws.receive_from(timeout=WAIT)
        # A stale catch-up request (it crossed our push in flight) must not resend #2.
        await ws.send_json_to({"last_seq": b})
        await ws.send_to(text_data="not json")  # ignored, not fatal
        await act(actions.add_comment, incident.pk, "two", actor=cast["bob"], source=Door.WEB)
        second = await ws.receive_from(timeout=WAIT)
        await ws.disconnect()
        return first, second

    first, second = async_to_sync(scenario)()
    assert entries_in(first) == [b + 1] and entries_in(second) == [b + 2]


def test_pushes_are_rendered_in_each_viewers_time_zone(incident, cast):
    alice, bob = headers_for(cast["alice"]), headers_for(cast["bob"])

    async def scenario():
        pages = [communicator(alice, f"/ws/incidents/{incident.pk}/"),
                 communicator(bob, f"/ws/incidents/{incident.pk}/")]
        for ws in pages:
            assert (await ws.connect(timeout=WAIT))[0]
            await ws.send_json_to({"last_seq": 1})
        await act(actions.add_comment, incident.pk, "hello", actor=cast["carol"], source=Door.WEB)
        received = [await ws.receive_from(timeout=WAIT) for ws in pages]
        for ws in pages:
            await ws.disconnect()
        return received

    for_alice, for_bob = async_to_sync(scenario)()
    stamp = re.compile(r'<time datetime="[^"]+" title="[^"]+">[A-Z][a-z]{2} \d+, \d\d:\d\d ([A-Z]+)</time>')
    assert set(stamp.findall(for_alice)) <= {"CET", "CEST"} and stamp.findall(for_alice)
    assert set(stamp.findall(for_bob)) == {"UTC"}


def test_poll_delivers_entries_whose_broadcast_was_lost(incident, cast, settings, monkeypatch):
    b = head(incident)
    # As in the embedded default, where the worker's events never reach the web
    # process's in-memory layer: only the catch-up poll can bring them.
    settings.LIVE_POLL_SECONDS = 0.1
    headers = headers_for(cast["alice"])

    async def scenario():
        ws = communicator(headers, f"/ws/incidents/{incident.pk}/")
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_json_to({"last_seq": b})
        await act(actions.add_comment, incident.pk, "announced", actor=cast["bob"], source=Door.WEB)
        announced = await ws.receive_from(timeout=WAIT)  # the consumer is now idle, caught up at #2
        monkeypatch.setattr(live, "send_now", lambda items: None)
        await act(actions.add_comment, incident.pk, "from the worker", actor=None, source=Door.BEAT)
        polled = await ws.receive_from(timeout=WAIT)
        await ws.disconnect()
        return announced, polled

    announced, polled = async_to_sync(scenario)()
    assert entries_in(announced) == [b + 1]
    assert entries_in(polled) == [b + 2] and "from the worker" in polled


def test_page_is_closed_when_the_viewer_loses_access(make_incident, cast, teams):
    secret = make_incident(title="Secret", sensitivity="restricted")
    headers = headers_for(cast["alice"])

    async def scenario():
        ws = communicator(headers, f"/ws/incidents/{secret.pk}/")
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.send_json_to({"last_seq": 1})
        await act(actions.change_team, secret.pk, teams["platform"], actor=cast["root"], source=Door.WEB)
        closed = await ws.receive_output(timeout=WAIT)
        await ws.disconnect()
        return closed

    assert async_to_sync(scenario)() == {"type": "websocket.close", "code": 4404}


def test_dashboard_refreshes_when_an_incident_is_declared(make_incident, cast):
    headers = headers_for(cast["bob"])

    async def scenario():
        ws = communicator(headers, "/ws/dashboard/")
        assert (await ws.connect(timeout=WAIT))[0]
        initial = await ws.receive_from(timeout=WAIT)  # sent on (re)connect
        await act(make_incident, title="Payments API down", impact="outage")
        refreshed = await ws.receive_from(timeout=WAIT)
        await ws.disconnect()
        return initial, refreshed

    initial, refreshed = async_to_sync(scenario)()
    assert 'id="open-incidents" hx-swap-oob="true"' in initial and "Payments API down" not in initial
    assert "Payments API down" in refreshed
