"""HTTP monitors at a 60 s interval against a local server, run by one engine process:
how late each check starts (start - due, p99), CPU used, memory peak.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_mon .venv/bin/python bench/monitoring_checks.py [N ...]

Each N (default 10000) gets a fresh set of monitors spread over the minute as
`actions.first_due` spreads them, then `engine.tick()` runs back to back for DURATION
seconds (as the beat would call it) in this one process, with the target server in
another process. The goal: p99 start lag <= 2 s; the largest N meeting it is the figure.
"""

import os
import resource
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_mon")
import _harness  # noqa: E402

DURATION = float(os.environ.get("DURATION", 150))
PORT = int(os.environ.get("BENCH_TARGET_PORT", 18150))

SERVER = textwrap.dedent(f"""
    import asyncio
    BODY = b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok"
    async def handle(reader, writer):
        try:
            await reader.readuntil(b"\\r\\n\\r\\n")
            writer.write(BODY)
            await writer.drain()
        except Exception:
            pass
        writer.close()
    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", {PORT}, backlog=4096)
        async with server:
            await server.serve_forever()
    asyncio.run(main())
""")


def run(n: int) -> dict:
    from django.db import connection
    from django.db.models import F
    from django.utils import timezone

    from alertum.core.models import Service, Team
    from monitoring import actions, engine
    from monitoring.models import CheckResult, Monitor

    CheckResult.objects.all().delete()
    Monitor.objects.all().delete()
    team, _ = Team.objects.get_or_create(name="Bench", slug="bench")
    service, _ = Service.objects.get_or_create(name="Bench", slug="bench", defaults={"owner_team": team})
    start = timezone.now() + timedelta(seconds=5)
    monitors = Monitor.objects.bulk_create([
        # Steady state: monitors that have been up for a while (a new monitor's first check
        # takes the state-change path once: StatusChange, broadcast — measured separately).
        Monitor(service=service, name=f"m{i}", kind="http", interval_seconds=60, timeout_seconds=10, state="up",
                config=actions.clean_config("http", {"url": f"http://127.0.0.1:{PORT}/health"}))
        for i in range(n)], batch_size=2000)
    for m in monitors:
        m.next_check_at = actions.first_due(m, start)
    Monitor.objects.bulk_update(monitors, ["next_check_at"], batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_monitor")
    # Setting up 10,000 rows takes a while on a loaded machine: move the whole schedule so
    # the first monitor is due 2 s after the engine starts, not before.
    Monitor.objects.update(next_check_at=F("next_check_at") + (timezone.now() + timedelta(seconds=2) - start))
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    while time.monotonic() - began < DURATION:
        engine.tick(budget_seconds=5)
    engine.run_until_idle(timeout=15)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    lags = [(at - due).total_seconds() for at, due in CheckResult.objects.values_list("at", "due_at")]
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    expected = n * (DURATION / 60)
    return {"monitors": n, "checks": len(lags), "expected_checks": int(expected),
            "failed": CheckResult.objects.filter(ok=False).count(),
            "lag_p50_s": _harness.pct(lags, 50), "lag_p99_s": _harness.pct(lags, 99), "lag_max_s": max(lags),
            "cpu_seconds": round(cpu, 1), "cpu_share_of_one_core": round(cpu / DURATION, 2),
            "max_rss_mb": round(usage1.ru_maxrss / 1024, 1)}


def main():
    _harness.setup_django(fresh=True)
    server = subprocess.Popen([sys.executable, "-c", SERVER])
    time.sleep(1)
    try:
        sizes = [int(a) for a in sys.argv[1:]] or [10000]
        print(f"machine: {_harness.machine()}; {DURATION:.0f} s per size; checks on "
              f"{os.environ.get('MONITORING_CHECK_THREADS', 64)} threads")
        for n in sizes:
            result = run(n)
            verdict = "meets" if result["lag_p99_s"] <= 2 else "MISSES"
            print(result, f"-> {verdict} the 2 s p99 goal")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
