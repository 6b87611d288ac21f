"""Live pages over WebSockets (docs/live-updates.md).

IncidentConsumer (ws/incidents/<id>/): after an action commits, it broadcasts
{"type": "incident.changed", "id", "seq"} to the incident's group. The consumer then
reads the timeline entries after the last seq it sent to *this* client, renders them
with the page's own templates in the viewer's time zone, and sends HTML that htmx's ws
extension swaps in (entries appended, header/actions/checklist out of band).

Events carry no content, so a lost one costs only latency: the next event, the
periodic catch-up poll (settings.LIVE_POLL_SECONDS) or the client's own last seq on
(re)connect fills the gap. Sends are serialised per connection by a lock, and
`last_sent` only moves forward, so entries never repeat or reorder on one connection.

Rendering is per viewer, but many viewers look alike: what a push shows depends only
on the viewer's *class* (time zone, admin flag, team roles, and whether they may
respond to / command this incident). A push is rendered once per (incident, after-seq,
class) and shared by every connection of that class in this process: one render for
200 open pages instead of 200 (the issue's goal is p99 <= 250 ms at 200 clients).

DashboardConsumer (ws/dashboard/): re-renders the open-incidents panel when any
incident changes, shared the same way.
"""

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db.models import Count, Max
from django.utils import timezone

from alertum.core.errors import NotFound
from alertum.core.live import DASHBOARD_GROUP, incident_group, poll_ticks
from alertum.core.models import User
from alertum.core.permissions import is_admin, team_roles
from incidents import actions, queries
from incidents.models import Incident, IncidentRole, TimelineEntry
from incidents.views import render_live_push, render_open_incidents, viewer_time_zone

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403  # not signed in
CLOSE_NOT_FOUND = 4404  # no such incident, or not visible to this user
BATCH = 200  # entries per message when a client catches up on a long gap
Kind = TimelineEntry.Kind


# --- rendering shared between connections ---------------------------------------------------

@dataclass(frozen=True)
class Batch:
    html: str
    newest: int  # the seq of the last entry in `html`
    more: bool  # the timeline continues past `newest`
    recheck: bool  # the batch changes who may see or command the incident


NOTHING = "nothing new"
GONE = "not visible"
STALE = "viewer class changed"

_CACHE: "OrderedDict[tuple, tuple[float, Batch]]" = OrderedDict()
_CACHE_SIZE = 512
_CACHE_SECONDS = 30  # bounds how old a reused header (timers, team members) can be
_INFLIGHT: dict[tuple, asyncio.Future] = {}


async def shared_render(key: tuple, compute):
    """Run `compute()` (a coroutine function returning a Batch or a status string) once per
    key: concurrent callers await the same future (single flight) and later callers
    reuse the finished Batch for a while. Entries are append-only, so the batch after a
    given seq never changes; only its header gets older, hence the age limit."""
    hit = _CACHE.get(key)
    if hit is not None and time.monotonic() - hit[0] < _CACHE_SECONDS:
        return hit[1]
    flight = (id(asyncio.get_running_loop()), key)  # futures belong to one event loop
    future = _INFLIGHT.get(flight)
    if future is None:
        future = asyncio.ensure_future(compute())
        _INFLIGHT[flight] = future

        def finished(done, flight=flight):
            _INFLIGHT.pop(flight, None)
            if not done.cancelled() and done.exception() is None and isinstance(done.result(), Batch):
                _CACHE[key] = (time.monotonic(), done.result())
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)

        future.add_done_callback(finished)
    # shield: a client that disconnects mid-render must not cancel the others' render.
    return await asyncio.shield(future)


def clear_shared_renders() -> None:
    _CACHE.clear()


def _fresh_user(pk: int):
    """The user re-read from the database, so permission caches (team roles are cached
    on the user object) never outlive a membership change."""
    return User.objects.filter(pk=pk, is_active=True).first()


def _tz_name(user) -> str:
    return str(viewer_time_zone(user))


def incident_viewer_class(user, incident) -> tuple:
    """Everything an incident push depends on besides the incident itself."""
    return (_tz_name(user), is_admin(user), tuple(sorted(team_roles(user).items())),
            actions.can_respond(user, incident), actions.can_command(user, incident))


def dashboard_viewer_class(user) -> tuple:
    return _tz_name(user), is_admin(user), tuple(sorted(team_roles(user).items()))


def _changes_access(entries) -> bool:
    """Entries after which a viewer's visibility or command rights may differ."""
    for entry in entries:
        if entry.kind == Kind.TEAM:
            return True
        if entry.kind == Kind.ROLE and entry.data.get("role") == IncidentRole.COMMANDER:
            return True
        if entry.kind == Kind.FIELDS and "sensitivity" in entry.data.get("changes", {}):
            return True
    return False


def _parse_seq(value) -> int | None:
    try:
        seq = int(value)
    except (TypeError, ValueError):
        return None
    return seq if seq >= 0 else None


# --- the incident page -----------------------------------------------------------------------

class IncidentConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user_id = user.pk
        self.incident_id = int(self.scope["url_route"]["kwargs"]["incident_id"])
        self.viewer = await database_sync_to_async(self._viewer_class)()
        if self.viewer is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = incident_group(self.incident_id)
        self.lock = asyncio.Lock()
        # None until the client says what it has (?after=N or {"last_seq": N}); until
        # then there is nothing to send it, because we do not know where to start.
        self.last_sent = _parse_seq(parse_qs(self.scope.get("query_string", b"").decode()).get("after", [None])[0])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.poller = asyncio.ensure_future(self._poll())
        if self.last_sent is not None:
            await self._push_new()

    async def disconnect(self, code):
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.cancel()
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The client's catch-up request: {"last_seq": N} (sent by the page on every
        (re)connect with the newest entry it holds)."""
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        seq = _parse_seq(message.get("last_seq")) if isinstance(message, dict) else None
        if seq is None:
            return
        async with self.lock:
            # Never step back: a lower number only means our pushes crossed the
            # client's message in flight (one socket delivers in order).
            self.last_sent = seq if self.last_sent is None else max(self.last_sent, seq)
        await self._push_new()

    async def incident_changed(self, event):
        seq = event.get("seq", 0)
        if self.last_sent is not None and seq <= self.last_sent:
            return  # already sent (events can arrive late or twice)
        await self._push_new(until=seq)

    async def _poll(self):
        """Safety net under a lossy or process-local channel layer: the embedded default's
        in-memory layer never sees events raised in the celery worker. One read of
        Incident.last_seq, and a push only when it moved. Access is re-checked here too,
        so a membership change takes effect within one interval."""
        async for _ in poll_ticks():
            try:
                viewer, head = await database_sync_to_async(self._viewer_and_head)()
                if viewer is None:
                    await self.close(code=CLOSE_NOT_FOUND)
                    return
                self.viewer = viewer
                if self.last_sent is not None and head > self.last_sent:
                    await self._push_new(until=head)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep polling; a failed round is retried next interval
                log.warning("live poll for incident %s failed", self.incident_id, exc_info=True)

    async def _push_new(self, until: int | None = None):
        """Send every entry after last_sent, in order, moving last_sent forward. Holding
        the lock across render and send keeps pushes on this connection in order.
        `until` (the seq an event or the poll announced) lets a shared, already
        rendered batch satisfy the push without asking the database again."""
        async with self.lock:
            retries = 0
            while self.last_sent is not None and (until is None or self.last_sent < until):
                after, viewer = self.last_sent, self.viewer
                result = await shared_render(
                    (self.incident_id, after, viewer),
                    lambda after=after, viewer=viewer: database_sync_to_async(self._render_after)(after, viewer))
                if result == NOTHING:
                    return
                if result in (GONE, STALE) or (isinstance(result, Batch) and result.recheck):
                    # Someone's view of the incident changed: check this viewer afresh.
                    fresh = await database_sync_to_async(self._viewer_class)()
                    if fresh is None:
                        await self.close(code=CLOSE_NOT_FOUND)
                        return
                    changed, self.viewer = fresh != viewer, fresh
                    if changed or not isinstance(result, Batch):
                        retries += 1
                        if retries > 3:  # the class keeps moving; the next event or poll retries
                            return
                        continue
                await self.send(text_data=result.html)
                self.last_sent = result.newest
                if until is None and not result.more:
                    until = result.newest + 1  # one more look: the timeline may have grown meanwhile

    # --- database side (runs in a worker thread) -----------------------------------------

    def _viewer_class(self):
        """This viewer's class for this incident, or None if they may not see it."""
        user = _fresh_user(self.user_id)
        if user is None:
            return None
        try:
            incident = queries.get_incident_for_user(user, self.incident_id)
        except NotFound:
            return None
        return incident_viewer_class(user, incident)

    def _viewer_and_head(self):
        viewer = self._viewer_class()
        head = Incident.objects.filter(pk=self.incident_id).values_list("last_seq", flat=True).first()
        return viewer, head or 0

    def _render_after(self, after: int, viewer: tuple):
        """The batch of entries after `after`, rendered for `viewer`'s class, or a status:
        NOTHING (no new entries), GONE (hidden from this user), STALE (the user's class
        is no longer `viewer`, so the render would not fit the key it is shared under)."""
        user = _fresh_user(self.user_id)
        if user is None:
            return GONE
        try:
            incident = queries.get_incident_for_user(user, self.incident_id)
        except NotFound:
            return GONE
        if incident_viewer_class(user, incident) != viewer:
            return STALE
        if incident.last_seq <= after:
            return NOTHING
        entries = list(queries.timeline_after(incident, after, limit=BATCH + 1))
        more = len(entries) > BATCH
        entries = entries[:BATCH]
        if not entries:
            return NOTHING
        # Render in the viewer's own time zone, as the page did.
        with timezone.override(viewer_time_zone(user)):
            html = render_live_push(user, incident, entries, actions.pinned_seqs(incident))
        return Batch(html=html, newest=entries[-1].seq, more=more, recheck=_changes_access(entries))


# --- the dashboard -----------------------------------------------------------------------------

class DashboardConsumer(AsyncWebsocketConsumer):
    """Keeps the dashboard's open-incidents panel fresh. Renders per viewer class
    (visibility differs), and only when the incidents' fingerprint moved."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user_id = user.pk
        self.lock = asyncio.Lock()
        self.fingerprint = None
        self.viewer = await database_sync_to_async(self._viewer_class)()
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        await self.accept()
        self.poller = asyncio.ensure_future(self._poll())
        await self._refresh()  # a (re)connecting page may have missed changes

    async def disconnect(self, code):
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.cancel()
        await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self._refresh()

    async def incident_changed(self, event):
        await self._refresh()

    async def _poll(self):
        async for _ in poll_ticks():
            try:
                viewer = await database_sync_to_async(self._viewer_class)()
                if viewer is None:
                    await self.close(code=CLOSE_FORBIDDEN)
                    return
                if viewer != self.viewer:
                    self.viewer, self.fingerprint = viewer, None  # what it may see changed: render anew
                await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("dashboard poll failed", exc_info=True)

    async def _refresh(self):
        async with self.lock:
            fingerprint = await database_sync_to_async(self._fingerprint)()
            if fingerprint == self.fingerprint:
                return
            viewer = self.viewer
            result = await shared_render(("dashboard", fingerprint, viewer),
                                         lambda: database_sync_to_async(self._render)(viewer))
            if not isinstance(result, Batch):
                self.viewer = await database_sync_to_async(self._viewer_class)()
                return  # the next event or poll renders for the new class
            self.fingerprint = fingerprint
            await self.send(text_data=result.html)

    def _viewer_class(self):
        user = _fresh_user(self.user_id)
        return dashboard_viewer_class(user) if user is not None else None

    @staticmethod
    def _fingerprint():
        # Every change appends an entry, which moves updated_at; new incidents move the count.
        summary = Incident.objects.aggregate(n=Count("id"), latest=Max("updated_at"))
        return summary["n"], summary["latest"]

    def _render(self, viewer):
        user = _fresh_user(self.user_id)
        if user is None or dashboard_viewer_class(user) != viewer:
            return STALE
        with timezone.override(viewer_time_zone(user)):
            return Batch(html=render_open_incidents(user, oob=True), newest=0, more=False, recheck=False)
