"""Shared set-up for benchmarks: a PostgreSQL bench database, servers started as in
production (gunicorn for HTTP, daphne for /ws/), signed-in session cookies, and
percentile helpers. Benchmarks talk only to 127.0.0.1 and stop by themselves."""

import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/alertum_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
PYTHON = sys.executable


def server_env(**extra) -> dict:
    env = {**os.environ, "DATABASE_URL": PG_URL, "REDIS_URL": REDIS_URL,
           "SECRET_KEY": "bench-only-secret-key-" + "x" * 30,
           "SECURE_COOKIES": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver", "PYTHONUNBUFFERED": "1",
           # Its own collectstatic target: a bench's --clear must not pull files from under a test run.
           "STATIC_ROOT": os.environ.get("BENCH_STATIC_ROOT", str(ROOT / "var" / "bench-static"))}
    env.pop("PYTEST_VERSION", None)
    env.update(extra)
    return env


def setup_django(fresh: bool = True) -> None:
    """Point this process at the bench database (recreated when `fresh`) and migrate it."""
    os.environ.update(server_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alertum.settings")
    if fresh:
        dbname = PG_URL.rsplit("/", 1)[1]
        admin_url = PG_URL.rsplit("/", 1)[0] + "/postgres"
        import psycopg

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbname}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # production serves the hashed copies


def wait_http(url: str, timeout: float = 90) -> None:  # slow starts when the machine is loaded
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start_gunicorn(port: int, workers: int | None = 2, **env) -> subprocess.Popen:
    """gunicorn with deploy/gunicorn.conf.py; `workers=None` keeps the file's own count."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
         *(["--workers", str(workers)] if workers else []), "alertum.wsgi"],
        cwd=ROOT, env=server_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc


def start_daphne(port: int, **env) -> subprocess.Popen:
    proc = subprocess.Popen([PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "alertum.asgi:application"],
                            cwd=ROOT, env=server_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def session_cookie(user) -> str:
    """A signed-in session for `user`, as the Cookie header value."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def pct(values, p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values_ms) -> str:
    return (f"n={len(values_ms)} p50={statistics.median(values_ms):.1f} ms p90={pct(values_ms, 90):.1f} ms "
            f"p99={pct(values_ms, 99):.1f} ms max={max(values_ms):.1f} ms")


def machine() -> str:
    import platform

    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except FileNotFoundError:
        return []


def database_backends() -> list[int]:
    """PostgreSQL backend pids connected to the bench database (CPU accounting)."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()
    return [row[0] for row in rows]


def start_worker(concurrency: int = 2, name: str = "bench", **env) -> subprocess.Popen:
    """A celery worker as in production (prefork), in its own process group so that a
    benchmark can kill it and its children at once."""
    return subprocess.Popen([PYTHON, "-m", "celery", "-A", "alertum", "worker", "-l", "warning", "-c", str(concurrency),
                             "-Q", "celery", "-n", f"{name}@%h", "--without-gossip", "--without-mingle"],
                            cwd=ROOT, env=server_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def kill_group(proc: subprocess.Popen, sig) -> None:
    os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


def wrk(url, seconds, connections, script=None):
    """One wrk run (-t2, --latency): rate, total, non-2xx, socket errors, latency percentiles in ms."""
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
