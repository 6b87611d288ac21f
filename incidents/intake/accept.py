"""Accept fast, process durably: the synchronous half of intake.

A door authenticates the integration, checks size and rate, validates the body against
its format (so the sender gets its documented error at once), then calls `accept`,
which stores the raw body and answers. Grouping and everything else happen in the
worker (`pipeline.drain`), kicked after commit.
"""

import time

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from incidents.models import Integration, RawEvent

MAX_BODY_BYTES = 512_000  # PagerDuty's and Alertmanager's limit (maxEventSize = 512000)

_last_kick = 0.0
KICK_EVERY_SECONDS = 0.2


def find_integration(raw_key: str, kind: str | None = None) -> Integration | None:
    if not raw_key or len(raw_key) > 128:
        return None
    qs = Integration.objects.select_related("service").filter(key_hash=Integration.hash_key(raw_key), active=True)
    if kind:
        qs = qs.filter(kind=kind)
    return qs.first()


def over_rate_limit(integration: Integration) -> bool:
    """Fixed one-minute window per integration, counted in the shared cache."""
    window = int(time.time() // 60)
    key = f"intake-rate:{integration.pk}:{window}"
    if cache.add(key, 1, timeout=120):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=120)
            count = 1
    return count > integration.rate_limit_per_minute


def accept(integration: Integration, endpoint: str, body: str, headers: dict | None = None,
           assigned_dedup_key: str = "") -> RawEvent:
    """Store the raw event and arrange for it to be processed. The only write on the hot
    path: one INSERT. The drain is kicked at most every 200 ms per process (it drains
    everything pending), and the beat sweep picks up anything a lost kick left behind."""
    raw = RawEvent.objects.create(integration=integration, endpoint=endpoint, body=body, headers=headers or {},
                                  assigned_dedup_key=assigned_dedup_key, received_at=timezone.now())
    transaction.on_commit(_kick)
    return raw


def _kick() -> None:
    global _last_kick
    now = time.monotonic()
    if now - _last_kick < KICK_EVERY_SECONDS:
        return
    _last_kick = now
    from incidents.tasks import drain_raw_events

    try:
        drain_raw_events.apply_async(countdown=KICK_EVERY_SECONDS)
    except Exception:  # broker down: the event is stored; the beat sweep will process it
        import logging

        logging.getLogger(__name__).warning("could not kick the intake drain", exc_info=True)
