"""Serve the real ASGI app (daphne: HTTP and WebSockets) against the test database,
for Playwright with Debian's chromium."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, connections

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _database_url() -> str:
    """The test database, as the DATABASE_URL the server process reads."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaphneServer:
    """daphne in a subprocess on a fixed port, so a test can restart it under open pages."""

    def __init__(self, env: dict, log_path: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_path
        self.process = None

    def start(self):
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "alertum.asgi:application"],
                cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"daphne did not start:\n{self.log_path.read_text(errors='replace')}")
            time.sleep(0.2)

    def stop(self):
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def chromium_path():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the browser test needs it")
    return str(CHROMIUM)


@pytest.fixture
def asgi_server(transactional_db, tmp_path):
    """A running daphne serving alertum.asgi against the test database.

    The test's rows are committed (transactional_db), so the server sees them; the
    server's own channel layer carries the events of the actions it runs.
    """
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "ALERTUM_TESTING": "1",
        "ALERTUM_VAR_DIR": str(settings.VAR_DIR),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    server = DaphneServer(env, tmp_path / "daphne.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        print(server.log_path.read_text(errors="replace"))  # shown by pytest only when the test fails


@pytest.fixture
def off_the_loop():
    """Run ORM code while Playwright's sync API is active: its event loop is marked
    running on this thread, so Django refuses ORM calls here. A worker thread (with its
    own connection, closed afterwards) is fine."""
    executor = ThreadPoolExecutor(max_workers=1)

    def run(fn, *args, **kwargs):
        def call():
            try:
                return fn(*args, **kwargs)
            finally:
                connections.close_all()

        return executor.submit(call).result(timeout=60)

    yield run
    executor.shutdown()
