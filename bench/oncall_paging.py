"""Paging under a storm: 1,000 incidents whose escalations all fall due at the same
instant, each with a 3-level policy (levels at +0, +1 min, +2 min), paged by celery
workers on the `paging` queue with beat running, on PostgreSQL + Redis.

Every level pages a signed webhook on a local HTTP receiver, which records each arrival
with its `webhook-id` (the page's unique key). Figures: per page, arrival time minus
due time (p50/p99/max); duplicates (a key received twice) and missed pages (a page row
never received) — both must be zero.

All incidents are declared with `notify_after` = one shared instant a little ahead, so
the 1,000 level-1 pages (and then the level-2 and level-3 ones) are due at exactly the
same time: the worst case for the engine.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_esc BENCH_REDIS_URL=redis://127.0.0.1:6379/12 \
        python bench/oncall_paging.py [--incidents 1000] [--workers 4]
"""

import argparse
import datetime as dt
import os
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_esc")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

import redis  # noqa: E402
from _harness import (  # noqa: E402
    PYTHON,
    REDIS_URL,
    ROOT,
    children,
    cpu_seconds,
    database_backends,
    machine,
    pct,
    server_env,
    setup_django,
    stop,
)

PORT = 18400
LEVEL_MINUTES = 1


class Receiver:
    """Records (webhook-id, arrival unix time) for every POST; answers 200 at once."""

    def __init__(self, port: int):
        self.arrivals: list[tuple[str, float]] = []
        lock = threading.Lock()
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: without this, Nagle holds the body until the
            # client's delayed ACK (40 ms) on a kept-alive connection.
            disable_nagle_algorithm = True

            def do_POST(self):
                now = time.time()
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    arrivals.append((self.headers.get("webhook-id", ""), now))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # the paging workers send concurrently

        self.httpd = Server(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def start_paging_worker(workers: int, name: str, threads: int | None = None) -> subprocess.Popen:
    extra = {"ONCALL_SEND_THREADS": str(threads)} if threads else {}
    return subprocess.Popen([PYTHON, "-m", "celery", "-A", "alertum", "worker", "-l", "warning", "-c", str(workers),
                             "-Q", "paging,celery", "-n", f"{name}@%h", "--without-gossip", "--without-mingle"],
                            cwd=ROOT, env=server_env(ALERTUM_BASE_URL="https://alertum.example", **extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def start_beat() -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "celery", "-A", "alertum", "beat", "-l", "warning",
                             "-s", "/tmp/bench_esc_celerybeat"], cwd=ROOT, env=server_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def cpu_groups(worker_pid: int) -> dict[str, float]:
    """CPU seconds so far: the celery workers (parent and children), PostgreSQL backends of
    the bench database, Redis, and this process (the receiver)."""
    workers = [worker_pid, *children(worker_pid)]
    redis_pids = subprocess.run(["pidof", "redis-server"], capture_output=True, text=True).stdout.split()
    return {"workers": sum(cpu_seconds(pid) for pid in workers),
            "postgres": sum(cpu_seconds(pid) for pid in database_backends()),
            "redis": sum(cpu_seconds(int(pid)) for pid in redis_pids),
            "receiver": cpu_seconds(os.getpid())}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="celery worker processes (prefork)")
    parser.add_argument("--lead", type=float, default=20, help="seconds from the last declare to the shared due time")
    parser.add_argument("--threads", type=int, default=None, help="ONCALL_SEND_THREADS per worker process")
    args = parser.parse_args()

    setup_django(fresh=True)
    redis.Redis.from_url(REDIS_URL).flushdb()
    from django.conf import settings
    from django.utils import timezone

    from alertum.core.models import Door, Service, Team
    from alertum.core.notify.webhook import generate_secret
    from incidents import actions as incident_actions
    from oncall.models import EscalationLevel, EscalationPolicy, EscalationTarget, Page, ServicePolicy, TeamChannel

    settings.ONCALL_KICKS = True
    team = Team.objects.create(name="Payments", slug="payments")
    service = Service.objects.create(name="Checkout", slug="checkout", owner_team=team, tier=1)
    policy = EscalationPolicy.objects.create(team=team, name="Storm", slug="storm")
    for position in (1, 2, 3):
        channel = TeamChannel.objects.create(team=team, name=f"hook-{position}", kind="webhook",
                                             address=f"http://127.0.0.1:{PORT}/level/{position}",
                                             secret=generate_secret())
        level = EscalationLevel.objects.create(policy=policy, position=position,
                                               delay_minutes=0 if position == 1 else LEVEL_MINUTES)
        EscalationTarget.objects.create(level=level, kind="channel", channel=channel)
    ServicePolicy.objects.create(service=service, policy=policy)

    receiver = Receiver(PORT)
    worker = start_paging_worker(args.workers, "bench-paging", args.threads)
    beat = start_beat()
    time.sleep(3)  # let the worker connect before the kicks arrive

    # Declare through the action (the trigger signal starts each escalation and kicks the
    # engine), all held until one shared instant so every level-1 page is due at once.
    started = time.monotonic()
    estimate = dt.timedelta(seconds=args.lead + args.incidents * 0.1)
    due = (timezone.now() + estimate).replace(microsecond=0)
    for n in range(args.incidents):
        incident_actions.declare_incident(title=f"Storm {n}", team=team, actor=None, source=Door.INTAKE,
                                          services=[service], severity="P1", severity_reason="bench",
                                          notify_after=due)
    declared_in = time.monotonic() - started
    if timezone.now() >= due:
        print(f"warning: declaring took {declared_in:.1f} s and ran past the shared due time; raise --lead")
    expected = 3 * args.incidents
    # CPU seconds used from just before each level is fired (ONCALL_FIRE_AHEAD_SECONDS
    # ahead of its due instant) to 8 s after it is due, by process group: where a storm's
    # time goes.
    cpu_by_level = []
    ahead = settings.ONCALL_FIRE_AHEAD_SECONDS
    for level in range(3):
        level_due = due.timestamp() + level * LEVEL_MINUTES * 60
        time.sleep(max(0.0, level_due - ahead - 0.5 - time.time()))
        before = cpu_groups(worker.pid)
        time.sleep(max(0.0, level_due + 8 - time.time()))
        after = cpu_groups(worker.pid)
        cpu_by_level.append({name: after[name] - before.get(name, 0.0) for name in after})
    deadline = due + dt.timedelta(minutes=2 * LEVEL_MINUTES, seconds=90)
    while timezone.now() < deadline and len(receiver.arrivals) < expected:
        time.sleep(0.5)
    time.sleep(3)  # anything late or duplicated shows up now
    for proc in (beat, worker):
        stop(proc)

    pages = {p.key: p for p in Page.objects.all()}
    seen = Counter(key.removeprefix("msg_") for key, _ in receiver.arrivals)
    first_arrival: dict[str, float] = {}
    for key, at in receiver.arrivals:
        first_arrival.setdefault(key.removeprefix("msg_"), at)
    latencies = sorted(first_arrival[k] - p.due_at.timestamp() for k, p in pages.items() if k in first_arrival)
    fired_after: dict[int, list[float]] = {}
    for p in pages.values():  # a page row is written when its level fires
        fired_after.setdefault(p.level, []).append(p.created_at.timestamp() - p.due_at.timestamp())
    duplicates = sum(c - 1 for c in seen.values() if c > 1)
    missed = [k for k in pages if k not in seen]
    by_level: dict[int, list[float]] = {}
    for k, p in pages.items():
        if k in first_arrival:
            by_level.setdefault(p.level, []).append(first_arrival[k] - p.due_at.timestamp())

    print(f"machine: {machine()}; {args.workers} paging worker processes; PostgreSQL + Redis; "
          f"{args.incidents} incidents declared in {declared_in:.1f} s, all due at one instant")
    print(f"pages: {len(pages)} rows (expected {expected}), received {len(first_arrival)}, "
          f"duplicates {duplicates}, missed {len(missed)}")
    if latencies:
        print(f"sent after due: p50 {pct(latencies, 50):.2f} s  p99 {pct(latencies, 99):.2f} s  "
              f"max {max(latencies):.2f} s")
        for level, values in sorted(by_level.items()):
            fired = fired_after.get(level, [])
            cpu = cpu_by_level[level - 1] if level - 1 < len(cpu_by_level) else {}
            print(f"  level {level}: n={len(values)} p50 {pct(values, 50):.2f} s  p99 {pct(values, 99):.2f} s  "
                  f"max {max(values):.2f} s; fired p50 {pct(fired, 50):.2f} s p99 {pct(fired, 99):.2f} s; "
                  f"first arrival {min(values):.2f} s; CPU s " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    ok = len(pages) == expected and not duplicates and not missed and latencies and pct(latencies, 99) <= 2.0
    print("goal (p99 <= 2 s, zero duplicates, zero missed):", "met" if ok else "NOT met")
    receiver.httpd.shutdown()


if __name__ == "__main__":
    main()
