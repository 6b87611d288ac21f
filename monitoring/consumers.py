"""The monitors overview, live (docs/live-updates.md, docs/monitoring.md).

MonitorsConsumer (ws/monitors/): `monitoring.actions` broadcasts {"type": "monitor.changed",
"id"} to the group `monitors.all` on commit when a monitor is created, reconfigured,
deleted, paused or resumed, or changes state (up, down, late, new, paused; heartbeats
too, through `record_state`). A check result or a ping that changes nothing broadcasts
nothing: those are the hot paths.

The consumer answers with a message that carries no content, {"type": "monitors.changed"}.
The page then re-fetches its rows over HTTP with its own filters, so what a viewer sees
is decided by the overview view, as for the first render, and a lost or duplicated
message costs only latency or one extra request.

- Access: signed in (else close 4403) and allowed to see monitors (a member of some
  team, or an admin; else 4404), with the user re-read from the database on connect
  and on every poll tick, so a viewer who loses their last team is disconnected within
  one poll interval.
- Coalescing: at most one message per connection every MONITORS_LIVE_MIN_GAP_SECONDS
  (2 s). The first change is announced at once; changes during the gap are folded into
  one message at its end. The page debounces as well (alertum.js), so a storm of state
  changes makes a request every few seconds, not one per change.
- Catch-up: the page holds the version it was rendered from (queries.overview_version,
  `#monitor-rows[data-version]`) and sends {"version": v} on every (re)connect; when it
  differs from the database's, the page is told to refresh.
- Poll: every LIVE_POLL_SECONDS the consumer compares the version with what the page
  was last told about. The embedded default needs this: the engine and the heartbeat
  sweeper run in the celery worker, whose in-memory channel layer never reaches the web
  process.
"""

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from alertum.core.live import poll_ticks
from alertum.core.models import User
from monitoring import queries
from monitoring.actions import LIVE_GROUP

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403  # not signed in
CLOSE_NOT_FOUND = 4404  # may see no monitors
CHANGED = json.dumps({"type": "monitors.changed"})


class MonitorsConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user_id = user.pk
        if not await database_sync_to_async(self._may_see)():
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.loop = asyncio.get_running_loop()
        self.last_sent = float("-inf")
        self.pending = None  # the task that will send the next "changed", if one is due
        # What the page is taken to hold until it says otherwise ({"version": v}).
        self.known = await database_sync_to_async(queries.overview_version)()
        await self.channel_layer.group_add(LIVE_GROUP, self.channel_name)
        self.joined = True
        await self.accept()
        self.poller = asyncio.ensure_future(self._poll())

    async def disconnect(self, code):
        for task in (getattr(self, "poller", None), getattr(self, "pending", None)):
            if task is not None:
                task.cancel()
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(LIVE_GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The page's catch-up on (re)connect: {"version": v}, the version it was rendered from."""
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(message, dict) and isinstance(message.get("version"), str):
            self.known = message["version"][:100]
            await self._compare()

    async def monitor_changed(self, event):
        self._schedule()

    async def _poll(self):
        async for _ in poll_ticks():
            try:
                if not await database_sync_to_async(self._may_see)():
                    await self.close(code=CLOSE_NOT_FOUND)
                    return
                await self._compare()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep polling; a failed round is retried next interval
                log.warning("monitors live poll failed", exc_info=True)

    async def _compare(self):
        if await database_sync_to_async(queries.overview_version)() != self.known:
            self._schedule()

    def _schedule(self):
        # Changes while a message is already due are covered by it: the page fetches after
        # receiving it, so it reads every change committed before the message was sent.
        if self.pending is None:
            self.pending = asyncio.ensure_future(self._announce())

    async def _announce(self):
        try:
            wait = self.last_sent + settings.MONITORS_LIVE_MIN_GAP_SECONDS - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            # Read before sending: the page's fetch comes later and sees at least this.
            version = await database_sync_to_async(queries.overview_version)()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.pending = None
            log.warning("monitors live announce failed", exc_info=True)
            return
        # From here on a new event needs a message of its own: it may arrive after this
        # one left, and the page's fetch could then be older than its change.
        self.pending = None
        self.known, self.last_sent = version, self.loop.time()
        await self.send(text_data=CHANGED)

    def _may_see(self) -> bool:
        user = User.objects.filter(pk=self.user_id, is_active=True).first()
        return user is not None and queries.may_see_monitors(user)
