"""Incident list with 10,000 incidents: server time and query count per page size.

Goal (issue 2): median server time <= 100 ms, and a query count that does not grow with
the page size. Served by gunicorn (2 sync workers) on PostgreSQL with pooled
connections, as in production; requests are sequential from this process (one client),
so the time is the server's own time plus loopback.

    python bench/incident_list.py [--incidents 10000] [--requests 200]
"""

import argparse
import http.client
import random
import statistics
import time

from _harness import machine, pct, session_cookie, setup_django, start_gunicorn, stop, summary


def seed(count: int):
    from django.utils import timezone

    from alertum.core.models import Door, Membership, Role, Service, Team, User
    from incidents.models import Impact, Incident, IncidentCounter, Severity, Status

    teams = [Team.objects.create(name=f"Team {i}", slug=f"team-{i}") for i in range(5)]
    user = User.objects.create_user("bench", password="x" * 20)
    for team in teams:
        Membership.objects.create(user=user, team=team, role=Role.RESPONDER)
    services = [Service.objects.create(name=f"Service {i}", slug=f"service-{i}", owner_team=teams[i % 5],
                                       tier=1 + i % 4) for i in range(20)]
    rng = random.Random(7)
    now = timezone.now()
    # Bench data is bulk-inserted: the product writes through actions, but 10,000
    # declarations through them would make set-up, not the list, the thing measured.
    rows = [Incident(number=n, title=f"Incident {n}: {rng.choice(['errors', 'latency', 'outage'])} on checkout",
                     slug=f"incident-{n}", status=rng.choice(list(Status)), severity=rng.choice(list(Severity)),
                     team=rng.choice(teams), impact=rng.choice(list(Impact)), assignee=user if n % 3 else None,
                     commander=user if n % 5 == 0 else None, source=Door.API, created_at=now, updated_at=now)
            for n in range(1, count + 1)]
    Incident.objects.bulk_create(rows, batch_size=2000)
    IncidentCounter.objects.update_or_create(pk=1, defaults={"last_number": count})
    through = Incident.services.through
    through.objects.bulk_create([through(incident_id=i.pk, service_id=rng.choice(services).pk)
                                 for i in Incident.objects.only("pk")], batch_size=5000)
    return user


def query_counts(user, paths):
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    counts = {}
    for path in paths:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        counts[path] = len(ctx.captured_queries)
    return counts


def timed_gets(port, cookie, paths, requests):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = {p: [] for p in paths}
    for i in range(requests):
        path = paths[i % len(paths)]
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
        times[path].append((time.perf_counter() - started) * 1000)
        assert response.status == 200, (path, response.status)
    conn.close()
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    setup_django(fresh=True)
    started = time.perf_counter()
    user = seed(args.incidents)
    print(f"machine: {machine()}")
    print(f"seeded {args.incidents} incidents in {time.perf_counter() - started:.1f}s (PostgreSQL)")

    pages = ["/incidents/?per_page=25", "/incidents/?per_page=50", "/incidents/?per_page=100"]
    apis = ["/api/v1/incidents/?page_size=25", "/api/v1/incidents/?page_size=50", "/api/v1/incidents/?page_size=100"]
    filtered = ["/incidents/?status=open&severity=P1", "/incidents/?team=team-3&page=40",
                "/api/v1/incidents/?status=open&severity=P1,P2"]
    print("queries per request (must not grow with page size):")
    for path, count in query_counts(user, pages + apis + filtered).items():
        print(f"  {count:3d}  {path}")

    cookie = session_cookie(user)
    server = start_gunicorn(8301, workers=2)
    try:
        timed_gets(8301, cookie, pages + apis, 30)  # warm-up: pool, imports, plan cache
        results = timed_gets(8301, cookie, pages + apis + filtered, args.requests)
    finally:
        stop(server)
    print("server time through gunicorn (2 sync workers), sequential requests:")
    for path, values in results.items():
        print(f"  {path:55s} {summary(values)}")
    page_median = statistics.median([v for p in pages for v in results[p]])
    print(f"incident list page median: {page_median:.1f} ms (goal <= 100 ms); "
          f"p99 {pct([v for p in pages for v in results[p]], 99):.1f} ms")


if __name__ == "__main__":
    main()
