"""Accept rate of the PagerDuty Events v2 door beside a trivial Django view, both served
by gunicorn as configured for production (deploy/gunicorn.conf.py) on PostgreSQL with
pooled connections and Redis as broker, measured by wrk in the same run: rounds that
alternate the two, so that other load on the machine falls on both alike.

Goal (issue 3): at least 40% of the trivial view's rate, p99 accept latency <= 50 ms.
Also checks that every 2xx answer left exactly one stored raw event.

    python bench/intake_accept.py [--seconds 10] [--rounds 3] [--connections 16] [--workers N]
    (needs wrk: apt-get install wrk)
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile

from _harness import (
    REDIS_URL,
    ROOT,
    children,
    cpu_seconds,
    database_backends,
    machine,
    setup_django,
    start_gunicorn,
    stop,
    wrk,
)

PORT = 18003


def measured(url, seconds, connections, server, script=None):
    """A wrk run plus the CPU each party used per request: gunicorn's workers, the bench
    database's PostgreSQL backends, and wrk itself (the machine's other load is not in
    these, so they compare across runs better than the rates do)."""
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers, backends = children(server.pid), database_backends()
    before = {pid: cpu_seconds(pid) for pid in workers + backends}
    result = wrk(url, seconds, connections, script)
    backends = set(backends) | set(database_backends())
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    per = 1000 / max(1, result["total"])
    result["cpu"] = {
        "gunicorn": sum(_used(pid, before) for pid in workers) * per,
        "postgres": sum(_used(pid, before) for pid in backends) * per,
        "wrk": (after_children.ru_utime + after_children.ru_stime - before_children.ru_utime
                - before_children.ru_stime) * per,
    }
    return result


def _used(pid, before) -> float:
    now = cpu_seconds(pid)
    return now - before.get(pid, 0) if now else 0.0  # a backend that ended took its count with it


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10, help="per run")
    parser.add_argument("--rounds", type=int, default=3, help="trivial and events runs, alternating")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the conf file's)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("this benchmark needs wrk (apt-get install wrk)")

    setup_django(fresh=True)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    from alertum.core.models import Service, Team
    from incidents.models import Integration, RawEvent

    team = Team.objects.create(name="Payments", slug="payments")
    service = Service.objects.create(name="Checkout", slug="checkout", owner_team=team, tier=1)
    key = "b" * 32
    Integration.objects.create(name="bench", service=service, kind="pagerduty", key_prefix=key[:8],
                               key_hash=Integration.hash_key(key), rate_limit_per_minute=10_000_000)
    body = json.dumps({"routing_key": key, "event_action": "trigger", "dedup_key": "disk-full-web-1",
                       "payload": {"summary": "Disk 95% full on web-1", "source": "web-1", "severity": "critical",
                                   "custom_details": {"free_bytes": 1024}}})
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                 f"wrk.body = {json.dumps(body)}\n")
    script.close()

    trivial_url = f"http://127.0.0.1:{PORT}/livez"
    events_url = f"http://127.0.0.1:{PORT}/integrations/pagerduty/v2/enqueue"
    server = start_gunicorn(PORT, workers=args.workers, GUNICORN_MAX_REQUESTS="0")  # no recycling mid-run
    rounds = []
    try:
        wrk(trivial_url, 3, args.connections)  # warm-up
        wrk(events_url, 3, args.connections, script.name)
        before = RawEvent.objects.count()
        for _ in range(args.rounds):
            trivial = measured(trivial_url, args.seconds, args.connections, server)
            events = measured(events_url, args.seconds, args.connections, server, script.name)
            rounds.append((trivial, events))
        stored = RawEvent.objects.count() - before
        conf = subprocess.run([sys.executable, "-c", "import runpy; c = runpy.run_path('deploy/gunicorn.conf.py'); "
                               "print(c['worker_class'], c['workers'], c['threads'])"], capture_output=True,
                              text=True, cwd=ROOT).stdout.split()
        workers = len(children(server.pid))
    finally:
        stop(server)
        os.unlink(script.name)
    print(f"machine: {machine()}; load average before the run's end: {os.getloadavg()[0]:.1f}")
    print(f"gunicorn {workers} {conf[0]} workers (threads {conf[2]}), PostgreSQL (pooled), Redis broker; "
          f"wrk -t2 -c{args.connections}, {args.rounds} rounds of {args.seconds}s each, alternating, same machine")
    for number, pair in enumerate(rounds, 1):
        for name, r in zip(("trivial view /livez", "Events v2 /v2/enqueue"), pair, strict=True):
            lat, cpu = r["latency"], r["cpu"]
            print(f"  round {number} {name:22s} {r['rate']:7.0f} req/s  p50 {lat['50']:6.2f} ms  "
                  f"p99 {lat['99']:7.2f} ms  non-2xx {r['non2xx']}  CPU/request: gunicorn {cpu['gunicorn']:.2f} ms, "
                  f"postgres {cpu['postgres']:.2f} ms, wrk {cpu['wrk']:.2f} ms")
    trivial_rate = sum(t["rate"] for t, _ in rounds) / len(rounds)
    events_rate = sum(e["rate"] for _, e in rounds) / len(rounds)
    p99s = sorted(e["latency"]["99"] for _, e in rounds)
    ratios = [e["rate"] / t["rate"] for t, e in rounds]
    print(f"mean rates: trivial {trivial_rate:.0f} req/s, events {events_rate:.0f} req/s: events door at "
          f"{events_rate / trivial_rate:.0%} of the trivial view (per round {', '.join(f'{x:.0%}' for x in ratios)}; "
          f"goal >= 40%); events p99 per round {', '.join(f'{x:.1f}' for x in p99s)} ms (goal <= 50 ms)")
    accepted = sum(e["total"] - e["non2xx"] for _, e in rounds)
    # wrk stops counting with requests still in flight, and does not count requests it
    # gave up on (socket timeouts) which the server may still complete and store; the
    # warm-up's last requests may land after the count before the first round.
    slack = (args.rounds + 1) * args.connections + sum(e["socket_errors"] for _, e in rounds)
    verdict = "nothing lost" if 0 <= stored - accepted <= slack else "MISMATCH"
    print(f"wrk counted {accepted} accepted events; {stored} raw events stored: {verdict}")


if __name__ == "__main__":
    main()
