"""Broadcast helpers: actions announce small events to live pages after commit.

The event carries only ids and a sequence number; consumers read what changed from
the database (so a dropped message costs only latency: the next event or the
client's catch-up fills the gap).
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def incident_group(incident_id: int) -> str:
    return f"incident.{incident_id}"


DASHBOARD_GROUP = "incidents.all"


def _send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:  # a live page is a convenience; never fail the write for it
        log.warning("broadcast to %s failed", group, exc_info=True)


def broadcast_on_commit(group: str, event: dict) -> None:
    transaction.on_commit(lambda: _send(group, event))
