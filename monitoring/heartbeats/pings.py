"""The ping path: find the heartbeat, store the ping, move its timers. Hot: it must serve
thousands of pings a second beside the rest of Alertum (docs/heartbeats.md, figures in
docs/performance.md).

A ping that changes nothing but timers (the usual case: an up heartbeat pinged on time)
costs two statements: one indexed SELECT (heartbeat joined to its monitor, by uuid or by
slug + key hash) and one write — on PostgreSQL a single statement that bumps the
heartbeat's counter and timers and inserts the ping from its RETURNING. That write is
conditional on the state and run the SELECT saw; if another ping or the sweeper got there
first it matches no row, and the ping takes the slow path. A ping that changes the state
(new → up, down → up, up → down on /fail, resuming a paused heartbeat) takes the slow path
at once: `actions.apply_ping`, which locks the row, re-decides, and records the state
change (alert raised or resolved through intake).
"""

import datetime as dt
import time
import uuid
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import connection, transaction

from alertum.core import prepared
from monitoring.heartbeats import schedule
from monitoring.heartbeats.models import Heartbeat, Ping, PingKey
from monitoring.models import Monitor

SUCCESS, START, FAIL, LOG, IGNORED = (Ping.Kind.SUCCESS.value, Ping.Kind.START.value, Ping.Kind.FAIL.value,
                                      Ping.Kind.LOG.value, Ping.Kind.IGNORED.value)
UP, LATE, DOWN, NEW, PAUSED = "up", "late", "down", "new", "paused"


@dataclass(frozen=True)
class Signal:
    """What a job sent: the signal of the URL (success/start/fail/log), an exit status,
    the run id, and the request's details for the log."""

    action: str
    exit_status: int | None = None
    rid: uuid.UUID | None = None
    method: str = "GET"
    scheme: str = "http"
    remote_addr: str = ""
    user_agent: str = ""
    body: bytes = b""
    body_size: int = 0


@dataclass(frozen=True)
class Snapshot:
    """The heartbeat as the ping path sees it (one SELECT)."""

    id: int
    monitor_id: int
    status: str
    schedule: str
    period_seconds: int
    grace_seconds: int
    cron: str
    time_zone: str
    manual_resume: bool
    body_limit: int
    last_ping_at: dt.datetime | None
    last_start_at: dt.datetime | None
    last_start_rid: uuid.UUID | None
    updated_at: dt.datetime
    monitor_paused: bool

    @property
    def timing(self) -> schedule.Timing:
        return schedule.Timing(kind=self.schedule, period=dt.timedelta(seconds=self.period_seconds),
                               grace=dt.timedelta(seconds=self.grace_seconds), cron=self.cron,
                               time_zone=self.time_zone)

    @property
    def paused(self) -> bool:
        # The monitor's flag decides: it may be paused or resumed through the monitor's own door.
        return self.monitor_paused

    @property
    def current(self) -> str:
        """The state that counts: paused with the monitor; a heartbeat still marked paused
        whose monitor was resumed elsewhere is new again."""
        if self.monitor_paused:
            return PAUSED
        return NEW if self.status == PAUSED else self.status

    @classmethod
    def of(cls, heartbeat: Heartbeat) -> "Snapshot":
        return cls(**{name: getattr(heartbeat, name) for name in SNAPSHOT_FIELDS},
                   monitor_paused=heartbeat.monitor.is_paused)


SNAPSHOT_FIELDS = ("id", "monitor_id", "status", "schedule", "period_seconds", "grace_seconds", "cron", "time_zone",
                   "manual_resume", "body_limit", "last_ping_at", "last_start_at", "last_start_rid", "updated_at")


@dataclass(frozen=True)
class Plan:
    """What one ping does to its heartbeat."""

    kind: str  # the Ping row's kind
    new_status: str  # the heartbeat's status afterwards
    last_ping_at: dt.datetime | None
    last_start_at: dt.datetime | None
    last_start_rid: uuid.UUID | None
    duration: float | None  # seconds, when this ping ends a run we saw start
    look_up_start: bool  # the run id names an older start: find its time in the log
    next_sweep_at: dt.datetime | None

    @property
    def touches_run(self) -> bool:
        return self.kind in (SUCCESS, FAIL, START)


def plan(snap: Snapshot, signal: Signal, now: dt.datetime) -> Plan:
    """Decide, without side effects, what `signal` arriving at `now` does (healthchecks.io's
    `Check.ping`): exit status > 0 is a failure; a paused heartbeat with manual resume
    ignores everything; start records the run without touching the last ping; success and
    failure end the run they belong to and set the state."""
    action = signal.action
    if signal.exit_status is not None:
        action = FAIL if signal.exit_status > 0 else SUCCESS
    keep = dict(last_ping_at=snap.last_ping_at, last_start_at=snap.last_start_at,
                last_start_rid=snap.last_start_rid, duration=None, look_up_start=False)
    if snap.paused and snap.manual_resume:
        return Plan(kind=IGNORED, new_status=PAUSED, next_sweep_at=None, **keep)
    status = snap.current
    if action in (LOG,):
        return Plan(kind=LOG, new_status=status, next_sweep_at=_sweep(snap, status, snap.last_ping_at,
                                                                      snap.last_start_at), **keep)
    if action == START:
        return Plan(kind=START, new_status=status, last_ping_at=snap.last_ping_at, last_start_at=now,
                    last_start_rid=signal.rid, duration=None, look_up_start=False,
                    next_sweep_at=_sweep(snap, status, snap.last_ping_at, now))
    # success or failure: ends the run it belongs to.
    last_start, last_rid, duration, look_up = snap.last_start_at, snap.last_start_rid, None, False
    if last_start is not None and (signal.rid is None or signal.rid == last_rid):
        if now - last_start < schedule.MAX_DURATION:
            duration = (now - last_start).total_seconds()
        last_start, last_rid = None, None
    elif signal.rid is not None:
        look_up = True  # a run id of an earlier (or overlapping) run: its start is in the log
        if action == FAIL:  # any failure ends the run being watched
            last_start, last_rid = None, None
    new_status = DOWN if action == FAIL else UP
    return Plan(kind=action, new_status=new_status, last_ping_at=now, last_start_at=last_start,
                last_start_rid=last_rid, duration=duration, look_up_start=look_up,
                next_sweep_at=_sweep(snap, new_status, now, last_start))


def _sweep(snap: Snapshot, status: str, last_ping, last_start):
    return snap.timing.next_sweep_at(status, last_ping, last_start)


def changes_state(snap: Snapshot, p: Plan) -> bool:
    return p.new_status != snap.current


# --- reading ----------------------------------------------------------------------------------------

def _tables():
    q = connection.ops.quote_name
    return (q(Heartbeat._meta.db_table), q(Monitor._meta.db_table), q(Ping._meta.db_table),
            q(PingKey._meta.db_table), q(Monitor._meta.get_field("service").related_model._meta.db_table))


_COLUMNS = ", ".join(f"h.{name}" for name in SNAPSHOT_FIELDS) + ", m.is_paused"


def _snapshot(row) -> Snapshot:
    values = dict(zip(SNAPSHOT_FIELDS, row[:-1], strict=True))
    fields = Heartbeat._meta
    for name in ("last_ping_at", "last_start_at", "updated_at"):  # SQLite hands back naive UTC
        value = fields.get_field(name).to_python(values[name])
        values[name] = value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value
    values["last_start_rid"] = fields.get_field("last_start_rid").to_python(values["last_start_rid"])
    return Snapshot(**values, monitor_paused=bool(row[-1]))


def _prep_uuid(value: uuid.UUID):
    return Heartbeat._meta.get_field("uuid").get_db_prep_value(value, connection)


def find_by_id(pk: int) -> Snapshot | None:
    heartbeat, monitor, *_ = _tables()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_COLUMNS} FROM {heartbeat} h JOIN {monitor} m ON m.id = h.monitor_id "
                       "WHERE h.id = %s", [pk])
        row = cursor.fetchone()
    return _snapshot(row) if row else None


# Heartbeats by uuid (and by key + slug), per process, for a few seconds, as intake caches
# its integrations: the lookup was half a ping's database time. Only the settings are used
# from the cache; the steady-state write re-checks the state and `updated_at` (bumped by
# every settings change and state change), so a stale entry never decides anything.
CACHE_SECONDS = 10
ASYNC_COMMIT = settings.HEARTBEAT_PING_ASYNC_COMMIT
_cache: dict[tuple, tuple[float, object]] = {}


def _cached(key: tuple, load):
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    value = load()
    if len(_cache) > 50_000:  # wrong URLs must not grow it without bound
        forget()
    _cache[key] = (now, value)  # misses too: a wrong URL must not cost a query each time
    for snap in value if isinstance(value, list) else [value] if value else []:
        _keys_of.setdefault(snap.id, set()).add(key)
    return value


_keys_of: dict[int, set[tuple]] = {}


def forget(heartbeat_id: int | None = None) -> None:
    """Drop this process's cached lookups: of one heartbeat (its state moved on), or all."""
    if heartbeat_id is None:
        _cache.clear()
        _keys_of.clear()
        return
    for key in _keys_of.pop(heartbeat_id, ()):
        _cache.pop(key, None)


def cached_by_uuid(code: uuid.UUID) -> Snapshot | None:
    return _cached(("uuid", code), lambda: find_by_uuid(code))


def cached_by_slug(ping_key: str, slug: str) -> list[Snapshot]:
    return _cached(("slug", PingKey.hash_key(ping_key), slug), lambda: find_by_slug(ping_key, slug))


def find_by_uuid(code: uuid.UUID) -> Snapshot | None:
    heartbeat, monitor, *_ = _tables()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_COLUMNS} FROM {heartbeat} h JOIN {monitor} m ON m.id = h.monitor_id "
                       "WHERE h.uuid = %s", [_prep_uuid(code)])
        row = cursor.fetchone()
    return _snapshot(row) if row else None


def find_by_slug(ping_key: str, slug: str) -> list[Snapshot]:
    """Heartbeats with this slug in the team the key belongs to (two or more: ambiguous)."""
    heartbeat, monitor, _, keys, service = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM {heartbeat} h JOIN {monitor} m ON m.id = h.monitor_id "
            f"JOIN {service} s ON s.id = m.service_id JOIN {keys} k ON k.team_id = s.owner_team_id "
            "WHERE h.slug = %s AND k.key_hash = %s LIMIT 2", [slug, PingKey.hash_key(ping_key)])
        return [_snapshot(row) for row in cursor.fetchall()]


# --- writing ----------------------------------------------------------------------------------------

def body_text(signal: Signal, limit: int) -> str:
    # PostgreSQL text cannot hold NUL; a cut multi-byte character becomes U+FFFD.
    return signal.body[:limit].decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def receive(snap: Snapshot, signal: Signal, now: dt.datetime, *, cached: bool = False) -> int | None:
    """Record one ping; returns its number (None: the heartbeat is gone). With a snapshot
    from the cache, a success or log ping to an up heartbeat is one statement; anything
    else reads the heartbeat first."""
    if cached:
        n = _write_steady(snap, signal, now)
        if n is not None:
            return n
        forget(snap.id)  # the next ping caches it afresh
        snap = find_by_id(snap.id)
        if snap is None:
            return None
    p = plan(snap, signal, now)
    if not changes_state(snap, p):
        n = _write_fast(snap, signal, p, now)
        if n is not None:
            return n
    from monitoring.heartbeats import actions  # the slow path: locks, re-decides, records state changes

    return actions.apply_ping(snap.id, signal, now)


def record_on_time(code: uuid.UUID, signal: Signal, now: dt.datetime) -> int | None:
    """The usual ping in one statement keyed by the URL's uuid, reading nothing first: a
    success (or exit status 0) without a run id, with a body no longer than the heartbeat's
    limit, to a heartbeat that is up, has no run open and is not paused. Returns the
    heartbeat's body limit (the answer's header); None when the heartbeat is not in that
    state or does not exist, having changed nothing: the caller then takes the general path
    (`cached_by_uuid`, `receive`) with the same signal.

    Cron jobs ping a heartbeat once a minute or less often, so the per-process cache of
    `cached_by_uuid` mostly misses and a ping cost a SELECT before its write; here the
    write's WHERE is the check. As in `_write_fast`, the stored next_sweep_at stays (an
    earlier bound the sweeper moves on)."""
    return _record_on_time("uuid = %s", [_prep_uuid(code)], signal, now)


def record_on_time_by_slug(ping_key: str, slug: str, signal: Signal, now: dt.datetime) -> int | None:
    """As `record_on_time`, for the slug form: the one heartbeat with this slug in the key's
    team (none when two share it: the general path answers 409)."""
    heartbeat, monitor, _, keys, service = _tables()
    target = (f"id = (SELECT min(h2.id) FROM {heartbeat} h2 JOIN {monitor} m ON m.id = h2.monitor_id "
              f"JOIN {service} s ON s.id = m.service_id JOIN {keys} k ON k.team_id = s.owner_team_id "
              "WHERE h2.slug = %s AND k.key_hash = %s HAVING count(*) = 1)")
    return _record_on_time(target, [slug, PingKey.hash_key(ping_key)], signal, now)


def _record_on_time(target: str, target_params: list, signal: Signal, now: dt.datetime) -> int | None:
    if signal.rid is not None or (signal.exit_status or 0) != 0 or signal.action != SUCCESS:
        return None
    heartbeat_table, monitor_table, *_ = _tables()
    when = _dt(now)
    update = (f"UPDATE {heartbeat_table} SET n_pings = n_pings + 1, last_ping_at = %s, last_duration = NULL, "
              f"next_sweep_at = COALESCE(next_sweep_at, %s) WHERE {target} AND status = %s AND last_start_at IS NULL "
              "AND body_limit >= %s "  # a longer body is cut to the limit: the general path does that
              f"AND NOT EXISTS (SELECT 1 FROM {monitor_table} m WHERE m.id = monitor_id AND m.is_paused) "
              "RETURNING id, n_pings, body_limit")
    where = [when, when, *target_params, UP, signal.body_size]
    ping = [SUCCESS, signal.exit_status, when, None, signal.method[:10], signal.scheme[:10], signal.remote_addr[:45],
            signal.user_agent[:200], body_text(signal, signal.body_size), signal.body_size, None]
    written = _update_and_log(update, where, ping)
    return written[1] if written else None


PING_COLUMNS = ("heartbeat_id, n, kind, exit_status, received_at, rid, method, scheme, remote_addr, user_agent, body, "
                "body_size, duration")


def _update_and_log(update: str, params: list, ping: list) -> tuple[int, int] | None:
    """Run `update` (one heartbeat's UPDATE … RETURNING id, n_pings, body_limit) and, when
    it matched, insert the ping row (`ping`: the PING_COLUMNS after heartbeat_id and n)
    numbered from its counter. Returns (n_pings, body_limit); None when nothing matched,
    having written nothing.

    On PostgreSQL one round trip, prepared on the server (alertum.core.prepared; a handful
    of shapes, each the same text). Opt-in (HEARTBEAT_PING_ASYNC_COMMIT): the commit does
    not wait for the WAL flush (synchronous_commit off for this transaction only); state
    changes take the slow path and commit durably (docs/heartbeats.md)."""
    _, _, ping_table, *_ = _tables()
    if connection.vendor == "postgresql":
        relaxed = "SELECT set_config('synchronous_commit', 'off', true) AS c" if ASYNC_COMMIT else "SELECT 1 AS c"
        return prepared.fetchone(
            f"WITH s AS ({relaxed}), h AS ({update}), p AS (INSERT INTO {ping_table} ({PING_COLUMNS}) "
            "SELECT h.id, h.n_pings, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM h, s) "
            "SELECT n_pings, body_limit FROM h", params + ping)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(update, params)
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(f"INSERT INTO {ping_table} ({PING_COLUMNS}) VALUES ({', '.join(['%s'] * 13)})",
                       [row[0], row[1], *ping])
        return row[1], row[2]


def start_time_of_run(heartbeat_id: int, rid: uuid.UUID, now: dt.datetime) -> dt.datetime | None:
    """When the run `rid` started, from the ping log (newest start with that id, within
    MAX_DURATION)."""
    return (Ping.objects.filter(heartbeat_id=heartbeat_id, kind=START, rid=rid,
                                received_at__gte=now - schedule.MAX_DURATION)
            .order_by("-n").values_list("received_at", flat=True).first())


def duration_of(heartbeat_id: int, p: Plan, signal: Signal, now: dt.datetime) -> float | None:
    if not p.look_up_start:
        return p.duration
    started = start_time_of_run(heartbeat_id, signal.rid, now)
    return (now - started).total_seconds() if started else None


def _dt(value):
    return connection.ops.adapt_datetimefield_value(value)


def _write_steady(cached: Snapshot, signal: Signal, now: dt.datetime) -> int | None:
    """The usual ping, in one statement, planned from cached settings on the assumption
    that the heartbeat is up, not running, not paused and unchanged since it was cached;
    the statement's WHERE checks exactly that. None when the assumption does not hold."""
    is_success = signal.action == SUCCESS and not signal.exit_status
    if not (is_success or (signal.action == LOG and signal.exit_status is None)):
        return None
    steady = replace(cached, status=UP, last_start_at=None, last_start_rid=None, monitor_paused=False)
    p = plan(steady, signal, now)
    if changes_state(steady, p) or p.look_up_start:
        return None
    return _write_fast(steady, signal, p, now, where_unchanged=cached.updated_at)


def _write_fast(snap: Snapshot, signal: Signal, p: Plan, now: dt.datetime, where_unchanged=None) -> int | None:
    """One conditional write; None when the heartbeat moved since the SELECT (or, with
    `where_unchanged`, since it was cached, or its monitor is paused)."""
    heartbeat_table, monitor_table, *_ = _tables()
    duration = duration_of(snap.id, p, signal, now)
    sets, params = ["n_pings = n_pings + 1"], []
    where, where_params = ["id = %s", "status = %s"], [snap.id, snap.status]
    if p.touches_run:
        run = Heartbeat._meta.get_field("last_start_rid")
        # An on-time success to an up heartbeat with no run open only moves its deadline
        # later, so the stored next_sweep_at stays a valid earlier bound: the sweeper, finding
        # the heartbeat not yet late then, moves it on (once a period at most). Leaving the
        # indexed column as it is lets PostgreSQL update the row in place (HOT) instead of
        # adding an entry to each of the table's six indexes on every ping.
        sweep = ("COALESCE(next_sweep_at, %s)" if p.kind == SUCCESS and snap.status == UP == p.new_status
                 and snap.last_start_at is None and p.last_start_at is None else "%s")
        sets += ["last_ping_at = %s", "last_start_at = %s", "last_start_rid = %s", f"next_sweep_at = {sweep}"]
        params += [_dt(p.last_ping_at), _dt(p.last_start_at), run.get_db_prep_value(p.last_start_rid, connection),
                   _dt(p.next_sweep_at)]
        if p.kind != START:
            sets.append("last_duration = %s")
            params.append(duration)
        # The run the plan was made from must still be the one stored.
        same = "IS NOT DISTINCT FROM" if connection.vendor == "postgresql" else "IS"
        where.append(f"last_start_at {same} %s")
        where_params.append(_dt(snap.last_start_at))
    if where_unchanged is not None:
        where.append("updated_at = %s")
        where_params.append(_dt(where_unchanged))
        where.append(f"NOT EXISTS (SELECT 1 FROM {monitor_table} m WHERE m.id = monitor_id AND m.is_paused)")
    ping_values = [p.kind, signal.exit_status, _dt(now),
                   Ping._meta.get_field("rid").get_db_prep_value(signal.rid, connection), signal.method[:10],
                   signal.scheme[:10], signal.remote_addr[:45], signal.user_agent[:200],
                   body_text(signal, snap.body_limit), signal.body_size, duration]
    update = (f"UPDATE {heartbeat_table} SET {', '.join(sets)} WHERE {' AND '.join(where)} "
              "RETURNING id, n_pings, body_limit")
    written = _update_and_log(update, params + where_params, ping_values)
    return written[0] if written else None

def with_status(snap: Snapshot, status: str) -> Snapshot:
    return replace(snap, status=status)
