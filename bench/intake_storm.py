"""Alert storm: 20,000 PagerDuty Events v2 triggers over 200 dedup keys in 10 groups,
accepted by gunicorn and processed by celery workers on PostgreSQL + Redis.

Checks: exactly 10 incidents and 200 alerts, each alert counted 100 times, 200
alert.attached timeline entries, every raw event processed once. Figures: accept rate,
events processed per second end to end, and the time from the last accept to the last
incident update. With --kill, the worker is killed (SIGKILL, whole process group)
midway and restarted: every accepted event must still be processed exactly once.

    python bench/intake_storm.py [--events 20000] [--kill]
"""

import argparse
import json
import signal
import time

import redis
from _harness import (
    REDIS_URL,
    children,
    cpu_seconds,
    database_backends,
    machine,
    setup_django,
    start_gunicorn,
    start_worker,
    stop,
)
from _load import run

PORT = 18004
KEY = "s" * 32


def make_request(index):
    alert = index % 200
    body = {"routing_key": KEY, "event_action": "trigger", "dedup_key": f"alert-{alert}",
            "payload": {"summary": f"Storm alert {alert}", "source": f"host-{alert}", "severity": "error",
                        "group": f"group-{alert % 10}"}}
    return "POST", "/integrations/pagerduty/v2/enqueue", json.dumps(body).encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--kill", action="store_true", help="kill the worker midway and restart it")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--backlog", action="store_true",
                        help="accept everything first, then start the worker: processing rate on its own")
    args = parser.parse_args()

    setup_django(fresh=True)
    redis.Redis.from_url(REDIS_URL).flushdb()
    from django.db.models import Max, Sum

    from alertum.core.models import Service, Team
    from incidents.models import Alert, GroupingRule, Incident, Integration, RawEvent, TimelineEntry
    from incidents.tasks import drain_raw_events

    team = Team.objects.create(name="Payments", slug="payments")
    service = Service.objects.create(name="Checkout", slug="checkout", owner_team=team, tier=2)
    GroupingRule.objects.create(service=service, group_by=["group"], window_seconds=86400)
    Integration.objects.create(name="storm", service=service, kind="pagerduty", key_prefix=KEY[:8],
                               key_hash=Integration.hash_key(KEY), rate_limit_per_minute=10_000_000)

    server = start_gunicorn(PORT, workers=2)
    worker = None if args.backlog else start_worker(args.workers)
    killed_at = None
    try:
        if args.kill:
            import threading

            def killer():
                nonlocal worker, killed_at
                while RawEvent.objects.filter(state="processed").count() < args.events // 3:
                    time.sleep(0.05)
                worker_pgid = worker.pid
                import os

                os.killpg(worker_pgid, signal.SIGKILL)
                worker.wait()
                killed_at = RawEvent.objects.filter(state="processed").count()
                worker = start_worker(args.workers, name="bench2")

            thread = threading.Thread(target=killer)
            thread.start()
        started = time.time()
        results, elapsed = run("127.0.0.1", PORT, make_request, args.events, concurrency=16)
        last_accept = max(r[3] for r in results)
        statuses = {}
        for r in results:
            statuses[r[1]] = statuses.get(r[1], 0) + 1
        if args.kill:
            thread.join()
        if args.backlog:
            backlog_started = time.time()
            backends_before = {pid: cpu_seconds(pid) for pid in database_backends()}
            worker = start_worker(args.workers)
            drain_raw_events.delay()
        # The beat's sweep, as in production: a drain every 5 s until nothing is pending.
        deadline = time.time() + 600
        last_sweep = 0.0
        while RawEvent.objects.exclude(state="processed").exists() and time.time() < deadline:
            if time.time() - last_sweep > 5:
                drain_raw_events.delay()
                last_sweep = time.time()
            time.sleep(0.05)
        done = time.time()
        if args.backlog:
            # CPU the worker (its pool processes) and the database spent on the backlog:
            # unlike the rate, hardly changed by other load on the machine.
            worker_cpu = sum(cpu_seconds(pid) for pid in [worker.pid, *children(worker.pid)])
            database_cpu = sum(cpu_seconds(pid) - backends_before.get(pid, 0) for pid in database_backends()
                               if cpu_seconds(pid))
    finally:
        stop(server)
        try:
            import os

            if worker is not None:
                os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        except Exception:
            pass

    last_processed = RawEvent.objects.aggregate(m=Max("processed_at"))["m"].timestamp()
    last_incident = Incident.objects.aggregate(m=Max("updated_at"))["m"].timestamp()
    counts = Alert.objects.aggregate(total=Sum("count"))["total"]
    per_alert = set(Alert.objects.values_list("count", flat=True))
    attached = TimelineEntry.objects.filter(kind="alert.attached").count()
    processed = RawEvent.objects.filter(state="processed").count()
    print(f"machine: {machine()}")
    print(f"gunicorn 2 sync workers + celery worker (-c {args.workers}) + PostgreSQL + Redis, one machine"
          + ("; worker SIGKILLed after ~1/3 and restarted" if args.kill else ""))
    print(f"accepted: {statuses} in {elapsed:.1f}s = {args.events / elapsed:.0f} events/s (16 connections)")
    if killed_at is not None:
        print(f"worker killed with {killed_at} raw events processed; restarted")
    print(f"raw events processed: {processed} of {args.events}; not processed: {args.events - processed}")
    print(f"incidents: {Incident.objects.count()} (expect 10), alerts: {Alert.objects.count()} (expect 200), "
          f"sum of counts: {counts} (expect {args.events}), per-alert counts: {sorted(per_alert)} "
          f"(expect [{args.events // 200}]), alert.attached entries: {attached} (expect 200)")
    print(f"end to end: {args.events / (last_processed - started):.0f} events/s from first accept to last processed")
    if args.backlog:
        print(f"processing alone: {args.events / (last_processed - backlog_started):.0f} events/s "
              f"(backlog of {args.events}, worker start included); CPU per event: worker "
              f"{worker_cpu / args.events * 1000:.2f} ms (start-up included), "
              f"PostgreSQL {database_cpu / args.events * 1000:.2f} ms")
    print(f"last accept -> last incident update: {max(0.0, last_incident - last_accept):.2f}s; "
          f"last accept -> last raw event processed: {max(0.0, last_processed - last_accept):.2f}s "
          f"(waited {done - last_accept:.1f}s)")
    ok = (Incident.objects.count() == 10 and Alert.objects.count() == 200 and counts == args.events
          and attached == 200 and processed == args.events)
    print("RESULT: " + ("exactly once, all correct" if ok else "WRONG"))


if __name__ == "__main__":
    main()
