"""Overview page with 90 days of rolled-up uptime for 1,000 monitors: median render time.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_mon .venv/bin/python bench/monitoring_overview.py

Goal (issue 4): <= 200 ms median. Renders through Django's test client (the full view,
queries and template, no network), signed in as a global admin.
"""

import os
import random
import statistics
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_mon")
import _harness  # noqa: E402

MONITORS = int(os.environ.get("MONITORS", 1000))
RUNS = int(os.environ.get("RUNS", 30))


def main():
    _harness.setup_django(fresh=True)
    from django.test import Client
    from django.utils import timezone

    from alertum.core.models import Service, Team, User
    from monitoring.models import Monitor, Rollup, StatusChange

    team = Team.objects.create(name="Bench", slug="bench")
    services = [Service.objects.create(name=f"Service {i}", slug=f"s{i}", owner_team=team) for i in range(20)]
    now = timezone.now()
    rng = random.Random(1)
    monitors = Monitor.objects.bulk_create([
        Monitor(service=services[i % 20], name=f"monitor {i}", kind="http", config={"url": "http://127.0.0.1/"},
                state=rng.choice(["up"] * 18 + ["down", "late"]), last_checked_at=now,
                created_at=now - timedelta(days=120)) for i in range(MONITORS)])
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [Rollup(monitor=m, granularity="day", bucket=day0 - timedelta(days=d), count=1440,
                   failures=rng.choice([0] * 9 + [rng.randint(1, 60)]), latency_p50=50, latency_p95=120,
                   latency_max=900) for m in monitors for d in range(90)]
    Rollup.objects.bulk_create(rows, batch_size=5000)
    StatusChange.objects.bulk_create([StatusChange(monitor=m, at=now - timedelta(days=100), from_state="new",
                                                   to_state="up") for m in monitors], batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would after a load this size
    root = User.objects.create_superuser("root", "root@example.test", "x")
    client = Client()
    client.force_login(root)
    assert client.get("/monitors/").status_code == 200  # warm
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get("/monitors/")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and b"monitor 999" in response.content
    # Cold: the past days' sums are cached for 10 minutes; each of these renders sums them.
    from django.core.cache import cache

    cold = []
    for _ in range(10):
        cache.clear()
        started = time.perf_counter()
        client.get("/monitors/")
        cold.append((time.perf_counter() - started) * 1000)
    print(f"machine: {_harness.machine()}")
    print(f"overview, {MONITORS} monitors x 90 days of day roll-ups ({len(rows)} rows): "
          f"median {statistics.median(times):.1f} ms, p95 {_harness.pct(times, 95):.1f} ms over {RUNS} renders; "
          f"with the past days' sums not cached: median {statistics.median(cold):.1f} ms over {len(cold)}")


if __name__ == "__main__":
    main()
