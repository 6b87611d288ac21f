"""Broadcast helpers: actions announce small events to live pages after commit.

The event carries only ids and a sequence number; consumers read what changed from
the database (so a dropped message costs only latency: the next event or the
client's catch-up fills the gap).

Cost matters: the paging engine and the intake drain append thousands of timeline
entries a second, two events each. So the events of one transaction are collected and
sent together after it commits (repeats of the same group/type/id merged, keeping the
newest seq), and with Redis they go through one long-lived event loop per process, which
keeps channels_redis's connection pool (a fresh `async_to_sync` loop per send opened new
Redis connections every time: ~7 ms a send, measured in docs/performance.md).
"""

import asyncio
import logging
import os
import random
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

SEND_TIMEOUT = 5  # seconds a commit's broadcasts may take before we give up on them


def incident_group(incident_id: int) -> str:
    return f"incident.{incident_id}"


DASHBOARD_GROUP = "incidents.all"


class _LoopThread:
    """One asyncio loop in a daemon thread per process (made again after a fork)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, coro, timeout: float):
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(target=self._loop.run_forever, name="alertum-live", daemon=True).start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


_LOOP = _LoopThread()
_local = threading.local()


async def _send_all(layer, items) -> None:
    await asyncio.gather(*(layer.group_send(group, event) for group, event in items))


def send_now(items: list[tuple[str, dict]]) -> None:
    """Send (group, event) pairs at once; failures are logged, never raised."""
    layer = get_channel_layer()
    if layer is None or not items:
        return
    try:
        if type(layer).__module__.startswith("channels_redis"):
            _LOOP.run(_send_all(layer, items), SEND_TIMEOUT)
        else:  # the in-memory layer belongs to the caller's (or daphne's) loop
            async_to_sync(_send_all)(layer, items)
    except Exception:  # a live page is a convenience; never fail the write for it
        log.warning("broadcast of %d event(s) failed", len(items), exc_info=True)


class _Pending:
    """The broadcasts of one transaction, sent together once it commits."""

    def __init__(self):
        self.events: dict[tuple, tuple[str, dict]] = {}

    def add(self, group: str, event: dict) -> None:
        # The dashboard re-reads the whole panel on any event: one per transaction will do.
        key = (group, event.get("type")) if group == DASHBOARD_GROUP else (group, event.get("type"), event.get("id"))
        old = self.events.get(key)
        if old is None or event.get("seq", 0) >= old[1].get("seq", 0):
            self.events[key] = (group, event)

    def flush(self) -> None:
        if getattr(_local, "pending", None) is self:
            _local.pending = None
        send_now(list(self.events.values()))


def broadcast_on_commit(group: str, event: dict) -> None:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        send_now([(group, event)])
        return
    pending = getattr(_local, "pending", None)
    # A rolled-back transaction (or savepoint) drops its flush: start a new batch then.
    if pending is None or not any(func == pending.flush for _, func, _ in connection.run_on_commit):
        pending = _Pending()
        _local.pending = pending
        transaction.on_commit(pending.flush)
    pending.add(group, event)


async def poll_ticks():
    """Yield every LIVE_POLL_SECONDS, starting at a random phase. Pages opened together
    (a team joining an incident, a reconnect after a deploy) would otherwise poll in one
    burst on the single database thread; measured at 200 clients, such a burst pushed
    the incident live-push p99 from ~200 ms to ~520 ms when it met a broadcast."""
    interval = settings.LIVE_POLL_SECONDS
    await asyncio.sleep(random.uniform(0, interval))
    while True:
        yield
        await asyncio.sleep(interval)
