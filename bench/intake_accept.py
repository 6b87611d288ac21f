"""Accept rate of the PagerDuty Events v2 door beside a trivial Django view, both served
by gunicorn (2 sync workers) on PostgreSQL with pooled connections and Redis as broker,
as in production, measured by wrk in the same run.

Goal (issue 3): at least 40% of the trivial view's rate, p99 accept latency <= 50 ms.
Also checks that every 2xx answer left exactly one stored raw event.

    python bench/intake_accept.py [--seconds 15] [--connections 16]   (needs wrk: apt-get install wrk)
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile

from _harness import REDIS_URL, machine, setup_django, start_gunicorn, stop

PORT = 8303


def wrk(url, seconds, connections, script=None):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    lat = {p: _ms(v) for p, v in re.findall(r"\s+(50|75|90|99)%\s+([\d.]+\w+)", out)}
    return {"rate": rate, "total": total, "non2xx": int(non2xx.group(1)) if non2xx else 0, "latency": lat,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def _ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
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

    server = start_gunicorn(PORT, workers=2)
    try:
        wrk(f"http://127.0.0.1:{PORT}/livez", 3, args.connections)  # warm-up
        wrk(f"http://127.0.0.1:{PORT}/integrations/pagerduty/v2/enqueue", 3, args.connections, script.name)
        before = RawEvent.objects.count()
        trivial = wrk(f"http://127.0.0.1:{PORT}/livez", args.seconds, args.connections)
        events = wrk(f"http://127.0.0.1:{PORT}/integrations/pagerduty/v2/enqueue", args.seconds, args.connections,
                     script.name)
        stored = RawEvent.objects.count() - before
    finally:
        stop(server)
        os.unlink(script.name)
    print(f"machine: {machine()}")
    print(f"gunicorn 2 sync workers, PostgreSQL (pooled), Redis broker; wrk -t2 -c{args.connections} "
          f"-d{args.seconds}s on the same machine")
    for name, r in (("trivial view /livez", trivial), ("Events v2 /v2/enqueue", events)):
        lat = r["latency"]
        print(f"  {name:24s} {r['rate']:8.0f} req/s  p50 {lat['50']:.2f} ms  p90 {lat['90']:.2f} ms  "
              f"p99 {lat['99']:.2f} ms  non-2xx {r['non2xx']}")
    ratio = events["rate"] / trivial["rate"]
    accepted = events["total"] - events["non2xx"]
    print(f"events door at {ratio:.0%} of the trivial view (goal >= 40%); p99 {events['latency']['99']:.1f} ms "
          f"(goal <= 50 ms)")
    # wrk stops counting with requests still in flight, and does not count requests it
    # gave up on (socket timeouts) which the server may still complete and store.
    slack = args.connections + events["socket_errors"]
    verdict = "nothing lost" if 0 <= stored - accepted <= slack else "MISMATCH"
    print(f"wrk counted {accepted} accepted events; {stored} raw events stored: {verdict}")


if __name__ == "__main__":
    main()
