"""Roll-ups of check results per minute, hour and day (count, failures, latency p50/p95/
max), and the expiry of old rows.

Each granularity is rolled once its bucket is over plus SETTLE (a check's result is
written up to its time-out after it started, and its `at` is its start). The last bucket
rolled is the watermark (max bucket of that granularity), so a run does only new work.
Minutes and hours are computed from raw results; days from the hours (count, failures and
max exact; p50 and p95 the count-weighted median and the largest of the hours' figures,
an approximation that keeps a day's roll-up from reading a day of raw rows).
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from monitoring.models import CheckResult, Rollup

G = Rollup.Granularity
SETTLE = timedelta(seconds=150)
STEP = {G.MINUTE: timedelta(minutes=1), G.HOUR: timedelta(hours=1), G.DAY: timedelta(days=1)}
MAX_CATCH_UP = {G.MINUTE: timedelta(hours=2), G.HOUR: timedelta(days=8), G.DAY: timedelta(days=8)}


def floor(at: datetime, granularity: str) -> datetime:
    at = at.astimezone(UTC)
    if granularity == G.MINUTE:
        return at.replace(second=0, microsecond=0)
    if granularity == G.HOUR:
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return None
    index = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def _from_raw(granularity: str, start: datetime, end: datetime) -> list[Rollup]:
    buckets = defaultdict(lambda: [0, 0, []])
    rows = (CheckResult.objects.filter(at__gte=start, at__lt=end).order_by()
            .values_list("monitor_id", "at", "ok", "latency_ms").iterator(chunk_size=5000))
    for monitor_id, at, ok, latency in rows:
        entry = buckets[(monitor_id, floor(at, granularity))]
        entry[0] += 1
        entry[1] += 0 if ok else 1
        if ok and latency is not None:  # latency of failures (timeouts) would drown the figure
            entry[2].append(latency)
    out = []
    for (monitor_id, bucket), (count, failures, latencies) in buckets.items():
        latencies.sort()
        out.append(Rollup(monitor_id=monitor_id, granularity=granularity, bucket=bucket, count=count,
                          failures=failures, latency_p50=percentile(latencies, 0.5),
                          latency_p95=percentile(latencies, 0.95), latency_max=latencies[-1] if latencies else None))
    return out


def _days_from_hours(start: datetime, end: datetime) -> list[Rollup]:
    buckets = defaultdict(list)
    for hour in Rollup.objects.filter(granularity=G.HOUR, bucket__gte=start, bucket__lt=end).order_by():
        buckets[(hour.monitor_id, floor(hour.bucket, G.DAY))].append(hour)
    out = []
    for (monitor_id, day), hours in buckets.items():
        with_latency = sorted((h for h in hours if h.latency_p50 is not None), key=lambda h: h.latency_p50)
        p50 = None
        if with_latency:
            half, seen = sum(h.count for h in with_latency) / 2, 0
            for h in with_latency:
                seen += h.count
                if seen >= half:
                    p50 = h.latency_p50
                    break
        out.append(Rollup(monitor_id=monitor_id, granularity=G.DAY, bucket=day, count=sum(h.count for h in hours),
                          failures=sum(h.failures for h in hours), latency_p50=p50,
                          latency_p95=max((h.latency_p95 for h in with_latency), default=None),
                          latency_max=max((h.latency_max for h in with_latency), default=None)))
    return out


def roll_up(granularity: str, now=None) -> int:
    """Roll every finished, not yet rolled bucket of this granularity. Returns rows written."""
    now = now or timezone.now()
    end = floor(now - SETTLE, granularity)  # buckets before this are over and settled
    last = Rollup.objects.filter(granularity=granularity).aggregate(last=Max("bucket"))["last"]
    start = last + STEP[granularity] if last else end - MAX_CATCH_UP[granularity]
    start = max(start, end - MAX_CATCH_UP[granularity])
    if start >= end:
        return 0
    rows = _days_from_hours(start, end) if granularity == G.DAY else _from_raw(granularity, start, end)
    with transaction.atomic():
        Rollup.objects.bulk_create(rows, batch_size=1000, update_conflicts=True,
                                   unique_fields=["monitor", "granularity", "bucket"],
                                   update_fields=["count", "failures", "latency_p50", "latency_p95", "latency_max"])
    return len(rows)


def expire(now=None) -> dict:
    """Delete raw results past MONITORING_RAW_RETENTION_DAYS and roll-ups past theirs, in
    chunks so a big delete never holds locks for long."""
    now = now or timezone.now()
    deleted = {"results": _delete_chunks(CheckResult.objects.filter(
        at__lt=now - timedelta(days=settings.MONITORING_RAW_RETENTION_DAYS)))}
    for granularity, days in settings.MONITORING_ROLLUP_RETENTION_DAYS.items():
        deleted[granularity] = _delete_chunks(Rollup.objects.filter(granularity=granularity,
                                                                    bucket__lt=now - timedelta(days=days)))
    return deleted


def _delete_chunks(qs, size: int = 5000) -> int:
    total = 0
    while True:
        ids = list(qs.values_list("pk", flat=True)[:size])
        if not ids:
            return total
        total += qs.model.objects.filter(pk__in=ids).delete()[0]


def housekeeping(now=None) -> dict:
    now = now or timezone.now()
    written = {g: roll_up(g, now) for g in (G.MINUTE, G.HOUR, G.DAY)}
    return {"rolled": written, "expired": expire(now)}
