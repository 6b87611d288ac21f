"""Real worker processes on PostgreSQL: two of them racing over the same due escalations
and pages page each target exactly once; a worker killed mid-send loses no page (the
sweeper re-sends it once its lease has run out).

Each worker is a separate Python process running the engine's tick and sweeper against
the test database (what a celery worker on the `paging` queue runs). The receiver is a
real HTTP server on 127.0.0.1; every page is a signed webhook whose `webhook-id` is the
page's unique key, so the test counts deliveries per page."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection

from alertum.core.models import Door
from alertum.core.notify.webhook import generate_secret
from incidents import actions as incident_actions
from oncall import engine
from oncall.models import Page, TeamChannel
from tests.oncall import escalation_factories as factories

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (DATABASE_URL): SKIP LOCKED across "
                                                        "processes"),
    pytest.mark.django_db(transaction=True),
]

receiver, make_policy, _no_kicks = factories.receiver, factories.make_policy, factories._no_kicks

WORKER = """
import sys, time
import django
django.setup()
from django.db import connection
from oncall import engine
deadline = time.monotonic() + float(sys.argv[1])
idle = 0
while time.monotonic() < deadline and idle < 3:
    fired = engine.escalate_due()
    sent = engine.send_due_pages()
    idle = idle + 1 if not (fired or sent) else 0
    if not (fired or sent):
        time.sleep(0.2)
connection.close()
"""


def _worker(seconds: float, **env) -> subprocess.Popen:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = url.replace("@", f":{db['PASSWORD']}@", 1)
    child_env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "alertum.settings",
                 "ALERTUM_TESTING": "1", "ONCALL_KICKS": "0", "ALERTUM_BASE_URL": "https://alertum.example",
                 "DB_POOL_MIN": "1", "DB_POOL_MAX": "2", **env}
    child_env.pop("PYTEST_VERSION", None)
    return subprocess.Popen([sys.executable, "-c", WORKER, str(seconds)], env=child_env, cwd=settings.BASE_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


@pytest.fixture
def webhook_channels(teams, receiver):
    return [TeamChannel.objects.create(team=teams["payments"], name=f"hook-{n}", kind="webhook",
                                       address=f"{receiver.url}/hook/{n}", secret=generate_secret())
            for n in range(3)]


def _declare(make_incident, count):
    incidents = [make_incident(title=f"Race {n}", severity="P1", severity_reason="test") for n in range(count)]
    for incident in incidents:  # what the trigger signal does after the commit
        engine.start_escalation(incident.pk)
    return incidents


def test_two_workers_racing_page_every_target_exactly_once(make_incident, make_policy, services, webhook_channels,
                                                           receiver):
    # Three levels, no delays: every level is due at once, so both workers find work.
    make_policy([(0, [webhook_channels[0]]), (0, [webhook_channels[1]]), (0, [webhook_channels[2]])],
                service=services["checkout"])
    incidents = _declare(make_incident, 40)

    workers = [_worker(60), _worker(60)]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()[-2000:]

    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 3 * len(incidents), list(Page.objects.exclude(state=Page.State.SENT)
                                                 .values_list("id", "state", "last_error", "attempts"))
    assert set(ids.values()) == {1}, [k for k, v in ids.items() if v > 1]
    assert Page.objects.filter(state=Page.State.SENT).count() == 3 * len(incidents)
    assert Page.objects.exclude(state=Page.State.SENT).count() == 0


def test_a_worker_killed_mid_send_loses_no_page(make_incident, make_policy, services, webhook_channels, receiver):
    make_policy([(0, [webhook_channels[0]])], service=services["checkout"])
    [incident] = _declare(make_incident, 1)
    receiver.reply(200, b"ok", delay=30)  # the first delivery hangs: the worker is mid-send

    worker = _worker(60, ONCALL_PAGE_LEASE="2")
    deadline = time.monotonic() + 30
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.requests, "the worker never started sending"
    page = Page.objects.get(incident=incident)
    assert page.state == Page.State.SENDING
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)

    # Past the lease, the sweeper finds the page stuck in sending and sends it again.
    time.sleep(2.5)
    sweeper = _worker(30)
    _, err = sweeper.communicate(timeout=60)
    assert sweeper.returncode == 0, err.decode()[-2000:]

    page.refresh_from_db()
    assert page.state == Page.State.SENT and page.attempts == 2
    # The same webhook-id both times: a receiver that saw the first one drops the repeat.
    assert [r.headers["webhook-id"] for r in receiver.requests] == [f"msg_{page.key}"] * 2
    summaries = [e.data["summary"] for e in incident.timeline.filter(kind="notification")]
    assert summaries == ["Paged hook-0 by Webhook (level 1 · channel hook-0): sent."]
    incident_actions.acknowledge_incident(incident, actor=None, source=Door.SYSTEM)
