"""The README's first command, for real: `manage.py up` on a fresh var dir starts web,
worker and beat on SQLite with demo data and a printed login that works."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def portal(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "PYTEST_VERSION", "SECRET_KEY", "DJANGO_SETTINGS_MODULE",
                        "ALERTUM_BASE_URL")}
    env["ALERTUM_VAR_DIR"] = str(tmp_path)
    base = f"http://127.0.0.1:{port}"
    # No ALERTUM_BASE_URL: `up` derives it from --port, so the demo monitors watch this portal.
    log = open(tmp_path / "up.log", "w+")
    proc = subprocess.Popen([sys.executable, "manage.py", "up", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:  # not listening yet, or still busy migrating and seeding
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "up.log").read_text()
    else:
        pytest.fail("portal did not come up:\n" + (tmp_path / "up.log").read_text())
    yield base, tmp_path, proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


def test_up_serves_demo_data_with_the_printed_login_and_runs_worker_and_beat(portal):
    base, var, proc = portal
    output = (var / "up.log").read_text()
    match = re.search(r"Sign in as (\S+) / (\S+)", output)
    assert match, output
    username, password = match.groups()

    session = requests.Session()
    login_page = session.get(base + "/login/")
    assert login_page.status_code == 200
    token = session.cookies["csrftoken"]
    response = session.post(base + "/login/", headers={"Referer": base + "/login/"},
                            data={"username": username, "password": password, "csrfmiddlewaretoken": token})
    assert response.status_code == 200 and response.url.rstrip("/") == base
    assert "Checkout failing for card payments" in session.get(base + "/incidents/").text

    # The demo on-call schedules put someone on call now: the dashboard widget names them.
    widget = response.text.split('id="on-call-now-widget"', 1)[1].split("</section>", 1)[0]
    on_call = re.findall(r'<td class="oncall-now"><strong>([^<]+)</strong>', widget)
    assert "Payments primary" in widget and "Platform primary" in widget, widget
    assert "nobody (gap)" not in widget and {"Kim Park", "Sam Rivera"} & set(on_call), widget
    monitors = session.get(base + "/monitors/")
    assert monitors.status_code == 200
    assert "Nightly backup" in monitors.text and "Portal health" in monitors.text

    # Worker and beat: move the demo maintenance window's start into the past; the beat
    # tick sends advance_maintenance to the worker, which starts it.
    db = sqlite3.connect(var / "alertum.sqlite3", timeout=20)
    now = datetime.now(UTC)
    db.execute("UPDATE core_maintenancewindow SET starts_at = ?, ends_at = ?",
               ((now - timedelta(minutes=1)).isoformat(sep=" "), (now + timedelta(hours=1)).isoformat(sep=" ")))
    db.commit()
    deadline = time.monotonic() + 180
    state = None
    while time.monotonic() < deadline:
        state = db.execute("SELECT state FROM core_maintenancewindow").fetchone()[0]
        if state == "in_progress":
            break
        assert proc.poll() is None, (var / "up.log").read_text()
        time.sleep(1)
    assert state == "in_progress", (var / "up.log").read_text()[-3000:]
    # The portal watches itself at the address it listens on, not at the default port.
    watched = db.execute("SELECT config FROM monitoring_monitor WHERE name = 'Portal health'").fetchone()[0]
    db.close()
    assert f"{base}/healthz" in watched
