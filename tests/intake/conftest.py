"""Integrations with known keys, readers of what a request left behind, and the real
Prometheus Alertmanager (Debian's package) run on loopback against the live server."""

import json
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from incidents.models import Integration, RawEvent

SAMPLES = Path(__file__).parent / "samples"  # copied from shared/reference/samples: real senders' bodies
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def make_integration(services):
    """`make_integration("pagerduty", rate_limit_per_minute=2)` -> (integration, raw key).
    Keys are 32 characters, the length PagerDuty clients expect."""

    def make(kind: str, service: str = "checkout", **fields) -> tuple[Integration, str]:
        raw = secrets.token_hex(16)
        # A random id: rate counters are kept per integration id and minute (in Redis under
        # CI, across runs), and sequential ids repeat between tests and runs.
        fields.setdefault("pk", 10**9 + secrets.randbelow(10**9))
        integration = Integration.objects.create(name=f"{kind}-{raw[:6]}", service=services[service], kind=kind,
                                                 key_prefix=raw[:8], key_hash=Integration.hash_key(raw), **fields)
        return integration, raw

    return make


@pytest.fixture
def nothing_stored():
    """Call after a refused request: no raw event, and so nothing downstream."""

    def check():
        assert RawEvent.objects.count() == 0

    return check


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RealAlertmanager:
    """prometheus-alertmanager on 127.0.0.1 only (HA gossip off), with the given receivers."""

    def __init__(self, folder: Path, receivers_yaml: str, routes_yaml: str = ""):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        (folder / "data").mkdir()
        self.config = folder / "am.yml"
        self.config.write_text(
            "route:\n"
            "  receiver: portal\n"
            "  group_by: [alertname, job]\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            f"{routes_yaml}"
            "receivers:\n"
            f"{receivers_yaml}"
        )
        self.log = folder / "alertmanager.log"
        self.process = None

    def start(self):
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(ALERTMANAGER), f"--config.file={self.config}", f"--storage.path={self.folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                 f"--web.external-url={self.url}"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Alertmanager did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def push(self, *alerts: dict) -> None:
        response = requests.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=5)
        assert response.status_code == 200, response.text


@pytest.fixture
def real_alertmanager(tmp_path):
    """`real_alertmanager(receivers_yaml, routes_yaml="")` -> a started RealAlertmanager,
    stopped at the end of the test. Skips where Debian's package is not installed."""
    if not ALERTMANAGER.exists():
        pytest.skip(f"{ALERTMANAGER} is absent: apt-get install prometheus-alertmanager (./portal test does it "
                    "when run as root)")
    started = []

    def start(receivers_yaml: str, routes_yaml: str = "") -> RealAlertmanager:
        am = RealAlertmanager(tmp_path, receivers_yaml, routes_yaml).start()
        started.append(am)
        return am

    yield start
    for am in started:
        am.stop()


def wait_for(predicate, what: str, timeout: float = 30):
    """Poll until predicate() is truthy (returns it), failing with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
