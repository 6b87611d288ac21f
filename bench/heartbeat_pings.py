"""Heartbeat ping rate beside a trivial Django view, both served by gunicorn (2 sync
workers) on PostgreSQL with pooled connections, as in production, measured by wrk in the
same run.

Goal (issue 4): at least 40% of the trivial view's rate, p99 <= 20 ms, every ping recorded
(the Ping rows counted afterwards match wrk's 2xx answers).

Pings go to 1,000 heartbeats that are up (the usual case: a job pinging on time), spread
at random over their UUID URLs; a second run sends POSTs with a 200-byte body to the slug
form with a ping key.

    python bench/heartbeat_pings.py [--seconds 15] [--connections 16] [--heartbeats 1000]
    (needs wrk: apt-get install wrk; BENCH_DATABASE_URL / BENCH_REDIS_URL pick the databases)
"""

import argparse
import json
import os
import shutil
import tempfile

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_hb")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

from _harness import REDIS_URL, machine, setup_django, start_gunicorn, stop, wrk  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", 18200))


def lua_paths(paths, method="GET", body=None) -> str:
    """A wrk script picking a random path per request."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write("paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n")
    script.write(f'wrk.method = "{method}"\n')
    if body is not None:
        script.write('wrk.headers["Content-Type"] = "text/plain"\n')
        script.write(f"wrk.body = {json.dumps(body)}\n")
    script.write("math.randomseed(os.time())\n"
                 "request = function()\n  return wrk.format(nil, paths[math.random(#paths)])\nend\n")
    script.close()
    return script.name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--heartbeats", type=int, default=1000)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("this benchmark needs wrk (apt-get install wrk)")

    setup_django(fresh=True)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    from django.db.models import Count
    from django.test import Client

    from alertum.core.models import Door, Service, Team
    from monitoring.heartbeats import actions
    from monitoring.heartbeats.models import Heartbeat, Ping

    team = Team.objects.create(name="Payments", slug="payments")
    service = Service.objects.create(name="Checkout", slug="checkout", owner_team=team, tier=1)
    _, key = actions.create_ping_key(team, name="bench", actor=None, source=Door.CLI)
    beats = [actions.create_heartbeat(service=service, name=f"job {i}", actor=None, source=Door.CLI,
                                      slug=f"job-{i}", period_seconds=86400, grace_seconds=3600)
             for i in range(args.heartbeats)]
    client = Client()
    for beat in beats:  # first pings: new -> up, so the run measures pings on time
        assert client.get(f"/ping/{beat.uuid}").status_code == 200
    uuid_script = lua_paths([f"/ping/{b.uuid}" for b in beats])
    slug_script = lua_paths([f"/ping/{key}/{b.slug}" for b in beats], method="POST",
                            body="backup finished: 1234 files, 5.6 GB, 0 errors\n" * 4)

    server = start_gunicorn(PORT, workers=2)
    try:
        wrk(f"http://127.0.0.1:{PORT}/livez", 3, args.connections)  # warm-up
        wrk(f"http://127.0.0.1:{PORT}/", 3, args.connections, uuid_script)
        trivial = wrk(f"http://127.0.0.1:{PORT}/livez", args.seconds, args.connections)
        before = Ping.objects.count()
        by_uuid = wrk(f"http://127.0.0.1:{PORT}/", args.seconds, args.connections, uuid_script)
        stored_uuid = Ping.objects.count() - before
        before = Ping.objects.count()
        by_slug = wrk(f"http://127.0.0.1:{PORT}/", args.seconds, args.connections, slug_script)
        stored_slug = Ping.objects.count() - before
    finally:
        stop(server)
        os.unlink(uuid_script)
        os.unlink(slug_script)
    states = dict(Heartbeat.objects.values_list("status").annotate(n=Count("id")))
    print(f"machine: {machine()}")
    print(f"gunicorn 2 sync workers, PostgreSQL (pooled); {args.heartbeats} heartbeats, up; wrk -t2 "
          f"-c{args.connections} -d{args.seconds}s on the same machine")
    for name, r in (("trivial view /livez", trivial), ("GET /ping/<uuid>", by_uuid),
                    ("POST /ping/<key>/<slug>", by_slug)):
        lat = r["latency"]
        print(f"  {name:24s} {r['rate']:8.0f} req/s  p50 {lat['50']:.2f} ms  p90 {lat['90']:.2f} ms  "
              f"p99 {lat['99']:.2f} ms  non-2xx {r['non2xx']}")
    for name, r, stored in (("uuid", by_uuid, stored_uuid), ("slug", by_slug, stored_slug)):
        ratio = r["rate"] / trivial["rate"]
        answered = r["total"] - r["non2xx"]
        # wrk stops counting with requests still in flight; those may still be stored.
        slack = args.connections + r["socket_errors"]
        verdict = "every ping recorded" if 0 <= stored - answered <= slack else "MISMATCH"
        print(f"{name} pings at {ratio:.0%} of the trivial view (goal >= 40%); p99 {r['latency']['99']:.1f} ms "
              f"(goal <= 20 ms); wrk counted {answered} OK answers, {stored} pings stored: {verdict}")
    print(f"heartbeat states after the run: {states}")


if __name__ == "__main__":
    main()
