"""Accept fast, process durably: the synchronous half of intake.

A door authenticates the integration, checks size and rate, validates the body against
its format (so the sender gets its documented error at once), then calls `accept`,
which stores the raw body and answers. Grouping and everything else happen in the
worker (`pipeline.drain`), kicked after commit.
"""

import json
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from alertum.core import prepared
from incidents.models import Integration, RawEvent

MAX_BODY_BYTES = 512_000  # PagerDuty's and Alertmanager's limit (maxEventSize = 512000)

_last_kick = 0.0
KICK_EVERY_SECONDS = 0.2


# Integrations by key hash, per process, for a few seconds: the lookup was a third of an
# accept's time. A deactivated or rotated key therefore stops working within
# INTEGRATION_CACHE_SECONDS in every process (at once in the one that changed it).
INTEGRATION_CACHE_SECONDS = 10
_integrations: dict[str, tuple[float, Integration | None]] = {}


def find_integration(raw_key: str, kind: str | None = None) -> Integration | None:
    if not raw_key or len(raw_key) > 128:
        return None
    key_hash = Integration.hash_key(raw_key)
    now = time.monotonic()
    hit = _integrations.get(key_hash)
    if hit is not None and now - hit[0] < INTEGRATION_CACHE_SECONDS:
        integration = hit[1]
    else:
        integration = Integration.objects.select_related("service").filter(key_hash=key_hash, active=True).first()
        if len(_integrations) > 10_000:  # wrong keys must not grow it without bound
            _integrations.clear()
        _integrations[key_hash] = (now, integration)  # misses too: a wrong key must not cost a query each time
    if integration is None or (kind and integration.kind != kind):
        return None
    return integration


def forget_integrations() -> None:
    """Drop this process's lookups (after a key rotation or deactivation, and in tests)."""
    _integrations.clear()


_redis_client = None


def _redis():
    """One client (and connection pool) per process; Django's cache builds a new client
    object per call, which cost as much as the INSERT."""
    global _redis_client
    if _redis_client is None and settings.REDIS_URL:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL)
    return _redis_client


# Rate counting in leases: a process takes up to 1% of an integration's per-minute limit
# (at most LEASE_MAX, at least 1) from the shared Redis counter in one INCRBY and spends it
# locally. Measured: the Redis round trip was ~0.3 ms of CPU per accept, a fifth of its
# cost. Never admits more than the limit; may refuse up to 1% early per process (slots
# leased but unspent when the minute ends). Limits under 100 a minute count every event.
LEASE_MAX = 50
_leases: dict[int, int] = {}  # integration id -> slots left in this process, this minute
_lease_window = 0


def lease_size(limit: int) -> int:
    return max(1, min(LEASE_MAX, limit // 100))


def over_rate_limit(integration: Integration) -> bool:
    """Fixed one-minute window per integration, counted in Redis (shared by every web
    process), or in this process's memory on the embedded default."""
    global _lease_window
    window = int(time.time() // 60)
    key = f"alertum:intake-rate:{integration.pk}:{window}"
    client = _redis()
    if client is None:
        return _over_local_limit(integration, key)
    if window != _lease_window:
        _leases.clear()
        _lease_window = window
    left = _leases.get(integration.pk, 0)
    if left > 0:
        _leases[integration.pk] = left - 1
        return False
    size = lease_size(integration.rate_limit_per_minute)
    pipe = client.pipeline(transaction=False)
    pipe.incrby(key, size)
    pipe.expire(key, 120)
    total = pipe.execute()[0]
    granted = min(size, integration.rate_limit_per_minute - (total - size))
    if granted <= 0:
        return True
    _leases[integration.pk] = granted - 1
    return False


def _over_local_limit(integration: Integration, key: str) -> bool:
    if cache.add(key, 1, timeout=120):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=120)
            count = 1
    return count > integration.rate_limit_per_minute


def forget_rate_leases() -> None:
    """Drop this process's unspent leases (tests; a changed limit applies next minute otherwise)."""
    _leases.clear()


_INSERT = (f"INSERT INTO {RawEvent._meta.db_table} (integration_id, endpoint, received_at, body, headers, "
           "assigned_dedup_key, state, attempts, next_attempt_at, error) "
           "VALUES (%s, %s, %s, %s, %s, %s, %s, 0, %s, '') RETURNING id")


def accept(integration: Integration, endpoint: str, body: str, headers: dict | None = None,
           assigned_dedup_key: str = "") -> int:
    """Store the raw event and arrange for it to be processed; returns its id. The only
    write on the hot path: one INSERT, in plain SQL because the ORM's create() took 0.7 ms
    against 0.4 ms here (docs/performance.md). The drain is kicked at most every 200 ms per
    process (it drains everything pending), and the beat sweep picks up anything a lost
    kick left."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())  # SQLite: text, as the ORM stores it
    pk = prepared.fetchone(_INSERT, [integration.pk, endpoint, now, body, json.dumps(headers or {}),
                                     assigned_dedup_key, RawEvent.State.PENDING.value, now])[0]
    transaction.on_commit(_kick)
    return pk


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
