"""The check engine: claims due monitors, runs their checks on a bounded thread pool, and
records the results in batches.

`tick(budget)` is the celery-beat tick (alertum/ticks.py, every MONITORING_TICK_SECONDS).
For the length of its budget it loops: claim the monitors due by `next_check_at` with
SKIP LOCKED (so any number of workers share them and none checks a monitor twice), move
each one's `next_check_at` on by its interval in the same short transaction, hand the
checks to the pool, and write whatever results came back. It never waits for a check
beyond its budget: a result that arrives later is written by the next tick in the same
process. If the process dies, those in-flight checks are lost but nothing else is: the
monitors were already rescheduled, so their next check happens on time.

Claimed monitors keep their phase (next = due + interval), so they stay spread as
`actions.first_due` placed them; a monitor more than one interval behind skips to its
next slot after now instead of running a burst of catch-up checks.
"""

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from monitoring import actions, checks
from monitoring.models import CheckResult, Monitor

log = logging.getLogger(__name__)

ENGINE_KINDS = [Monitor.Kind.HTTP, Monitor.Kind.TCP, Monitor.Kind.DNS, Monitor.Kind.JOURNEY]
CLAIM_LIMIT = 500
POLL_SECONDS = 0.2

_pool: ThreadPoolExecutor | None = None
_results: "queue.Queue[tuple[int, object, object, object]]" = queue.Queue()
_in_flight = 0
_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=getattr(settings, "MONITORING_CHECK_THREADS", 64),
                                   thread_name_prefix="monitor-check")
    return _pool


def in_flight() -> int:
    return _in_flight


def claim(now, limit: int = CLAIM_LIMIT) -> list[tuple[int, str, dict, float, object]]:
    """Claim due monitors and reschedule them; returns (id, kind, config, timeout, due_at)."""
    with transaction.atomic():
        due = list(Monitor.objects.select_for_update(skip_locked=True)
                   .filter(next_check_at__lte=now, is_paused=False, kind__in=ENGINE_KINDS)
                   .order_by("next_check_at")
                   .only("id", "kind", "config", "timeout_seconds", "interval_seconds", "next_check_at")[:limit])
        for monitor in due:
            step = timedelta(seconds=monitor.interval_seconds)
            following = monitor.next_check_at + step
            if following <= now:  # fell behind (engine down): resume at the next slot in phase
                behind = (now - monitor.next_check_at) // step
                following = monitor.next_check_at + step * (behind + 1)
            monitor._due_at, monitor.next_check_at = monitor.next_check_at, following
        if due:
            Monitor.objects.bulk_update(due, ["next_check_at"], batch_size=500)
    return [(m.pk, m.kind, m.config, m.timeout_seconds, m._due_at) for m in due]


def _run(monitor_id: int, kind: str, config: dict, timeout: float, due_at) -> None:
    global _in_flight
    started = timezone.now()
    try:
        budget = float(config.get("budget_seconds") or timeout) if kind == Monitor.Kind.JOURNEY else timeout
        outcome = checks.run(kind, config, budget)
    finally:
        with _lock:
            _in_flight -= 1
    _results.put((monitor_id, outcome, started, due_at))


def submit(claimed) -> None:
    global _in_flight
    executor = pool()
    for item in claimed:
        with _lock:
            _in_flight += 1
        executor.submit(_run, *item)


def record_batch(items) -> int:
    """Write results: one transaction, the batch's monitors locked in id order (a fixed
    order, so two workers' batches cannot deadlock), results inserted in bulk; state
    changes, rules, anomalies and TLS warnings that move go through the actions."""
    if not items:
        return 0
    items = sorted(items, key=lambda item: item[0])
    with transaction.atomic():
        monitors = {m.pk: m for m in Monitor.objects.select_for_update(of=("self",)).select_related("service")
                    .filter(pk__in=[item[0] for item in items]).order_by("pk")}
        rows, certificates = [], []
        for monitor_id, outcome, started, due_at in items:
            monitor = monitors.get(monitor_id)
            if monitor is None or monitor.is_paused:
                continue  # deleted or paused while its check ran
            rows.append(CheckResult(monitor=monitor, at=started, due_at=due_at, ok=outcome.ok,
                                    latency_ms=outcome.latency_ms, status_code=outcome.status_code,
                                    message=outcome.message[:500], evidence=outcome.evidence if not outcome.ok else {}))
            certificates.append(outcome.certificate_expires_at)
        CheckResult.objects.bulk_create(rows, batch_size=500)
        quiet = []
        for result, certificate in zip(rows, certificates, strict=True):
            monitor = result.monitor
            needs_actions = (monitor.rules or monitor.anomaly_sensitivity != Monitor.Sensitivity.OFF
                             or (monitor.rule_state or {}).get("firing") or _changes_state(monitor, result.ok)
                             or actions.certificate_changes(monitor, certificate, result.at))
            if needs_actions:
                actions.apply_result(monitor, result, source="monitor", certificate_expires_at=certificate)
                continue
            # The common case (same state, no rules): counters only, written in bulk below.
            if result.ok:
                monitor.consecutive_successes, monitor.consecutive_failures = monitor.consecutive_successes + 1, 0
            else:
                monitor.consecutive_failures, monitor.consecutive_successes = monitor.consecutive_failures + 1, 0
            monitor.last_checked_at = result.at
            quiet.append(monitor)
        if quiet:
            Monitor.objects.bulk_update(quiet, ["consecutive_successes", "consecutive_failures", "last_checked_at"],
                                        batch_size=500)
    return len(rows)


def _changes_state(monitor: Monitor, ok: bool) -> bool:
    if ok:
        return monitor.state == Monitor.State.NEW or (
            monitor.state in (Monitor.State.DOWN, Monitor.State.LATE)
            and monitor.consecutive_successes + 1 >= monitor.success_threshold)
    return monitor.state != Monitor.State.DOWN and monitor.consecutive_failures + 1 >= monitor.failure_threshold


def drain_results(max_items: int = 1000) -> int:
    items = []
    while len(items) < max_items:
        try:
            items.append(_results.get_nowait())
        except queue.Empty:
            break
    try:
        return record_batch(items)
    except Exception:
        # Never lose a batch to one bad row: write them one by one through the action.
        log.exception("recording %s results in one batch failed; recording them one by one", len(items))
        done = 0
        for monitor_id, outcome, started, due_at in items:
            try:
                monitor = Monitor.objects.get(pk=monitor_id)
                actions.record_result(monitor, outcome, at=started, due_at=due_at)
                done += 1
            except Exception:
                log.exception("recording a result of monitor %s failed", monitor_id)
        return done


def tick(budget_seconds: float | None = None) -> dict:
    """Run the engine for `budget_seconds` (default: the tick interval), then return."""
    budget = budget_seconds if budget_seconds is not None else getattr(settings, "MONITORING_TICK_SECONDS", 5)
    ends = time.monotonic() + budget
    claimed = recorded = 0
    capacity = getattr(settings, "MONITORING_CHECK_THREADS", 64) * 4
    while True:
        # Claim a little ahead (one poll) so a check starts at its due time, not after it.
        if _in_flight < capacity:
            batch = claim(timezone.now() + timedelta(seconds=POLL_SECONDS), limit=min(CLAIM_LIMIT, capacity))
            submit(batch)
            claimed += len(batch)
        recorded += drain_results()
        if time.monotonic() >= ends:
            break
        time.sleep(POLL_SECONDS)
    close_old_connections()
    return {"claimed": claimed, "recorded": recorded, "in_flight": _in_flight}


def run_until_idle(timeout: float = 30.0) -> int:
    """Claim what is due now, wait for those checks (at most `timeout`) and record them.
    For tests, commands and the "test now" path; the beat uses tick()."""
    submit(claim(timezone.now()))
    deadline = time.monotonic() + timeout
    recorded = 0
    while time.monotonic() < deadline:
        recorded += drain_results()
        if _in_flight == 0 and _results.empty():
            break
        time.sleep(0.02)
    return recorded + drain_results()
