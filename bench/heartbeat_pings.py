"""Heartbeat ping rate beside a trivial Django view, both served by gunicorn as configured
for production (deploy/gunicorn.conf.py) on PostgreSQL, measured by wrk in the same run:
rounds that alternate the trivial view and the two ping forms, so that other load on the
machine falls on all alike.

Goal (issue 4): at least 40% of the trivial view's rate, p99 <= 20 ms, every ping recorded
(the Ping rows counted afterwards match wrk's 2xx answers).

Pings go to 1,000 heartbeats that are up (the usual case: a job pinging on time), spread
at random over their UUID URLs; a second run sends POSTs with a 200-byte body to the slug
form with a ping key.

    python bench/heartbeat_pings.py [--seconds 10] [--rounds 3] [--connections 16] [--heartbeats 1000]
    (needs wrk: apt-get install wrk; BENCH_DATABASE_URL / BENCH_REDIS_URL pick the databases)
"""

import argparse
import json
import os
import shutil
import tempfile

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_hb")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

from _harness import REDIS_URL, children, machine, setup_django, start_gunicorn, stop, wrk  # noqa: E402

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
    parser.add_argument("--seconds", type=int, default=10, help="per run")
    parser.add_argument("--rounds", type=int, default=3)
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

    server = start_gunicorn(PORT, workers=None, GUNICORN_MAX_REQUESTS="0")  # the conf's count; no recycling
    base = f"http://127.0.0.1:{PORT}"
    doors = (("uuid", uuid_script), ("slug", slug_script))
    rounds, stored = [], {"uuid": 0, "slug": 0}
    try:
        wrk(f"{base}/livez", 3, args.connections)  # warm-up
        wrk(f"{base}/", 3, args.connections, uuid_script)
        wrk(f"{base}/", 3, args.connections, slug_script)
        for _ in range(args.rounds):  # alternating, so that other load on the machine falls on all alike
            results = {"trivial": wrk(f"{base}/livez", args.seconds, args.connections)}
            for name, script in doors:
                before = Ping.objects.count()
                results[name] = wrk(f"{base}/", args.seconds, args.connections, script)
                stored[name] += Ping.objects.count() - before
            rounds.append(results)
        workers = len(children(server.pid))
    finally:
        stop(server)
        os.unlink(uuid_script)
        os.unlink(slug_script)
    states = dict(Heartbeat.objects.values_list("status").annotate(n=Count("id")))
    print(f"machine: {machine()}")
    print(f"gunicorn {workers} sync workers (deploy/gunicorn.conf.py), PostgreSQL; {args.heartbeats} heartbeats, "
          f"up; wrk -t2 -c{args.connections}, {args.rounds} rounds of {args.seconds}s each (trivial, uuid, slug "
          "alternating), same machine")
    labels = {"trivial": "trivial view /livez", "uuid": "GET /ping/<uuid>", "slug": "POST /ping/<key>/<slug>"}
    for number, results in enumerate(rounds, 1):
        for name, r in results.items():
            lat = r["latency"]
            print(f"  round {number} {labels[name]:24s} {r['rate']:7.0f} req/s  p50 {lat['50']:6.2f} ms  "
                  f"p90 {lat['90']:6.2f} ms  p99 {lat['99']:7.2f} ms  non-2xx {r['non2xx']}")
    trivial_rate = sum(r["trivial"]["rate"] for r in rounds) / len(rounds)
    for name, _ in doors:
        rate = sum(r[name]["rate"] for r in rounds) / len(rounds)
        ratios = ", ".join(f"{r[name]['rate'] / r['trivial']['rate']:.0%}" for r in rounds)
        p99s = ", ".join(f"{r[name]['latency']['99']:.1f}" for r in rounds)
        answered = sum(r[name]["total"] - r[name]["non2xx"] for r in rounds)
        # wrk stops counting with requests still in flight; those may still be stored.
        slack = args.rounds * args.connections + sum(r[name]["socket_errors"] for r in rounds)
        verdict = "every ping recorded" if 0 <= stored[name] - answered <= slack else "MISMATCH"
        print(f"{name} pings: {rate:.0f} req/s against /livez {trivial_rate:.0f}: {rate / trivial_rate:.0%} "
              f"(per round {ratios}; goal >= 40%); p99 per round {p99s} ms (goal <= 20 ms); wrk counted {answered} OK "
              f"answers, {stored[name]} pings stored: {verdict}")
    print(f"heartbeat states after the run: {states}")


if __name__ == "__main__":
    main()
