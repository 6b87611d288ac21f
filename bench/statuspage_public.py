"""The public status page and summary.json beside a trivial Django view, all served by
gunicorn (2 sync workers) on PostgreSQL with Redis as the shared cache, as in
production, measured by wrk in the same run; the uncached render rate (a second
gunicorn with STATUSPAGES_CACHE_SECONDS=0); the time from publishing an update to its
appearance on the page and in summary.json; the page's weight.

Goals (issue 6): cached responses at >= 80% of the trivial view's rate with p99 <= 30 ms;
publish-to-visible <= 2 s; page <= 100 KB with no third-party requests.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_sp BENCH_REDIS_URL=redis://127.0.0.1:6379/15 \\
        python bench/statuspage_public.py [--seconds 10] [--connections 16]     (needs wrk)
"""

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import time
import urllib.request

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_sp")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

from _harness import REDIS_URL, machine, setup_django, start_gunicorn, stop  # noqa: E402
from intake_accept import wrk  # noqa: E402

PORT, UNCACHED_PORT = 18501, 18502


def seed():
    """A page as a mid-sized company has one: 2 groups, 10 components, 90 days of status
    history, 20 past incidents, one open incident and one upcoming maintenance."""
    import time_machine
    from django.utils import timezone

    from alertum.core.models import Service, Team
    from statuspages import actions

    team = Team.objects.create(name="Payments", slug="payments")
    service = Service.objects.create(name="Checkout", slug="checkout", owner_team=team, tier=1)
    now = timezone.now()
    with time_machine.travel(now - dt.timedelta(days=95), tick=False) as clock:
        page = actions.create_page(team=team, name="Bench", slug="bench", actor=None, source="cli",
                                   time_zone="Europe/Amsterdam", description="Status of the Bench services.")
        components = []
        for g, names in (("Platform", ["API", "Web app", "Mobile app", "Webhooks", "Search"]),
                         ("Payments", ["Checkout", "Card payments", "Invoices", "Payouts", "Fraud checks"])):
            group = actions.save_component(page, actor=None, source="cli", name=g, is_group=True)
            for name in names:
                components.append(actions.save_component(
                    page, actor=None, source="cli", name=name, group=group, description=f"The {name.lower()}",
                    services=[service] if name == "Checkout" else []))
        for day in range(5, 95, 4):
            clock.move_to(now - dt.timedelta(days=95 - day))
            c = components[day % len(components)]
            incident = actions.create_public_incident(
                page, name=f"Errors on {c.name}", body=f"We are investigating errors on {c.name}.",
                component_statuses={c.code: "partial_outage" if day % 3 else "major_outage"}, actor=None,
                source="cli", deliver_notifications=False)
            clock.shift(3600 * (1 + day % 5))
            actions.post_incident_update(incident, status="resolved", body="This incident has been resolved.",
                                         actor=None, source="cli", deliver_notifications=False)
    actions.create_public_incident(page, name="Slow card payments", body="Card payments are slower than usual.",
                                   component_statuses={components[6].code: "degraded_performance"}, actor=None,
                                   source="cli", deliver_notifications=False)
    start = now + dt.timedelta(days=2)
    actions.schedule_public_maintenance(page, name="Database upgrade", starts_at=start,
                                        ends_at=start + dt.timedelta(hours=2), components=[components[5]], actor=None,
                                        source="cli", deliver_notifications=False)
    return page, components


def fetch(url) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def publish_latency(base, page, component, rounds=10):
    """Seconds from an update's commit to its text showing on the page and in summary.json."""
    from statuspages import actions

    incident = actions.create_public_incident(page, name="Latency probe", body="probe 0", actor=None, source="cli",
                                              deliver_notifications=False)
    fetch(f"{base}/status/bench/")
    results = []
    for i in range(1, rounds + 1):
        text = f"Latency probe update number {i}"
        status = "major_outage" if i % 2 else "operational"
        actions.post_incident_update(incident, status="identified", body=text, actor=None, source="cli",
                                     component_statuses={component.code: status}, deliver_notifications=False)
        committed = time.perf_counter()
        seen = {}
        while len(seen) < 2 and time.perf_counter() - committed < 10:
            if "page" not in seen and text.encode() in fetch(f"{base}/status/bench/"):
                seen["page"] = time.perf_counter() - committed
            if "json" not in seen and text.encode() in fetch(f"{base}/status/bench/api/v2/summary.json"):
                seen["json"] = time.perf_counter() - committed
            time.sleep(0.02)
        results.append(seen)
        time.sleep(0.3)
    actions.post_incident_update(incident, status="resolved", body="done", actor=None, source="cli",
                                 deliver_notifications=False)
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("this benchmark needs wrk (apt-get install wrk)")
    setup_django(fresh=True)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    page, components = seed()
    base = f"http://127.0.0.1:{PORT}"
    env = {"STATUSPAGES_BASE_URL": base}
    server = start_gunicorn(PORT, workers=2, **env)
    uncached = start_gunicorn(UNCACHED_PORT, workers=2, STATUSPAGES_CACHE_SECONDS="0", **env)
    try:
        body = fetch(f"{base}/status/bench/")
        summary = fetch(f"{base}/status/bench/api/v2/summary.json")
        urls = re.findall(rb'(?:src|href)="([^"]+)"', body)
        third_party = [u for u in urls if re.match(rb"(https?:)?//", u)]
        for path in ("/livez", "/status/bench/", "/status/bench/api/v2/summary.json"):  # warm-up
            wrk(f"{base}{path}", 2, args.connections)
        trivial = wrk(f"{base}/livez", args.seconds, args.connections)
        cached_page = wrk(f"{base}/status/bench/", args.seconds, args.connections)
        cached_json = wrk(f"{base}/status/bench/api/v2/summary.json", args.seconds, args.connections)
        wrk(f"http://127.0.0.1:{UNCACHED_PORT}/status/bench/", 2, 4)
        render_page = wrk(f"http://127.0.0.1:{UNCACHED_PORT}/status/bench/", args.seconds, 4)
        render_json = wrk(f"http://127.0.0.1:{UNCACHED_PORT}/status/bench/api/v2/summary.json", args.seconds, 4)
        latency = publish_latency(base, page, components[0])
    finally:
        stop(server)
        stop(uncached)
    print(f"machine: {machine()}")
    print(f"gunicorn 2 sync workers, PostgreSQL (pooled), Redis cache; wrk -t2 -c{args.connections} "
          f"-d{args.seconds}s on the same machine (uncached: -c4)")
    print(f"page: {len(components)} components in 2 groups, 90-day bars, 23 incidents, 1 maintenance")
    rows = (("trivial view /livez", trivial), ("status page (cached)", cached_page),
            ("summary.json (cached)", cached_json), ("status page (uncached)", render_page),
            ("summary.json (uncached)", render_json))
    for name, r in rows:
        lat = r["latency"]
        print(f"  {name:26s} {r['rate']:8.0f} req/s  p50 {lat['50']:.2f} ms  p90 {lat['90']:.2f} ms  "
              f"p99 {lat['99']:.2f} ms  non-2xx {r['non2xx']}")
    for name, r in (("status page", cached_page), ("summary.json", cached_json)):
        print(f"{name} cached at {r['rate'] / trivial['rate']:.0%} of the trivial view (goal >= 80%); "
              f"p99 {r['latency']['99']:.1f} ms (goal <= 30 ms)")
    page_times = [r["page"] for r in latency if "page" in r]
    json_times = [r["json"] for r in latency if "json" in r]
    missed = sum(len(r) < 2 for r in latency)
    print(f"publish -> visible over {len(latency)} updates: page median {statistics.median(page_times):.2f} s, "
          f"max {max(page_times):.2f} s; summary.json median {statistics.median(json_times):.2f} s, "
          f"max {max(json_times):.2f} s (goal <= 2 s){'; NOT SEEN within 10 s: ' + str(missed) if missed else ''}")
    print(f"page weight {len(body) / 1024:.1f} KB (goal <= 100 KB), summary.json {len(summary) / 1024:.1f} KB; "
          f"third-party references in the page: {len(third_party)}")


if __name__ == "__main__":
    main()
