"""A TLS certificate inside its warning window is a warning, not a failure: the monitor
stays up, the pages show a badge and a low-severity alert `monitor-<id>-tls` opens once,
and closes when a check sees a renewed certificate. An expired or unverifiable
certificate is still a failure. Real HTTPS servers on 127.0.0.1 with certificates made
by the test; the engine runs the checks under a controlled clock."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from incidents.models import Alert
from monitoring import actions, engine, queries
from monitoring.actions import LIVE_GROUP
from monitoring.models import Monitor

pytestmark = pytest.mark.django_db(transaction=True)


def run_due(clock, seconds=60):
    clock.shift(seconds)
    return engine.run_until_idle()


def tls_alert(monitor):
    return Alert.objects.filter(dedup_key=f"monitor-{monitor.pk}-tls").first()


def fresh(monitor):
    return Monitor.objects.get(pk=monitor.pk)


@pytest.fixture
def https_monitor(make_monitor, clock, https_server_factory):
    """A monitor of a server whose certificate expires in 5 days (warning at 14)."""

    def make(days_valid=5, **config):
        server = https_server_factory(days_valid=days_valid)
        monitor = make_monitor(config={"url": server.route("/", body="secure"), "verify_tls": False, **config},
                               name="Storefront TLS", failure_threshold=1)
        return monitor, server

    return make


def test_expiring_certificate_is_up_with_a_warning_alert_and_a_badge(https_monitor, clock, client, cast):
    monitor, _ = https_monitor(days_valid=5)
    assert run_due(clock) == 1
    monitor = fresh(monitor)
    assert monitor.state == "up"  # a passing check: up for uptime
    assert monitor.certificate_expires_at is not None
    result = monitor.results.get()
    assert result.ok and "the TLS certificate expires in 5 days" in result.message
    alert = tls_alert(monitor)
    assert alert.status == Alert.Status.FIRING and alert.severity == "warning"
    assert alert.labels["alertname"] == "CertificateExpiring" and alert.labels["monitor"] == str(monitor.pk)
    assert "the TLS certificate expires in 5 days" in alert.summary
    assert not Alert.objects.filter(dedup_key=f"monitor-{monitor.pk}").exists()  # no down alert

    client.force_login(cast["victor"])
    overview = client.get("/monitors/").content.decode()
    assert 'data-warning="tls"' in overview and "certificate expires in 5 days" in overview
    assert "up: 1" in overview
    detail = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert "certificate expires in 5 days" in detail and "renew it" in detail
    api = client.get(f"/api/v1/monitors/{monitor.pk}/").json()
    assert api["certificate_expires_at"] is not None and api["state"] == "up"


def test_the_warning_is_raised_once_per_certificate_and_checks_stay_quiet(https_monitor, clock):
    monitor, _ = https_monitor(days_valid=5)
    run_due(clock)
    version = queries.overview_version()
    for _ in range(3):
        assert run_due(clock) == 1
    assert tls_alert(monitor).count == 1  # not raised again by every check
    assert queries.overview_version() == version  # nothing the overview shows changed
    assert fresh(monitor).results.count() == 4


def test_a_renewed_certificate_resolves_the_warning(https_monitor, clock, https_server_factory, client, cast):
    monitor, server = https_monitor(days_valid=5)
    run_due(clock)
    assert tls_alert(monitor).status == Alert.Status.FIRING
    port = server.port
    https_server_factory.stop(server)
    renewed = https_server_factory(days_valid=90, port=port)  # the same URL, a new certificate
    renewed.route("/", body="secure")
    assert run_due(clock) == 1
    monitor = fresh(monitor)
    assert tls_alert(monitor).status == Alert.Status.RESOLVED
    assert monitor.certificate_expires_at is None and monitor.state == "up"
    client.force_login(cast["victor"])
    assert 'data-warning="tls"' not in client.get("/monitors/").content.decode()


def test_a_connection_failure_says_nothing_about_the_certificate(https_monitor, clock, https_server_factory):
    monitor, server = https_monitor(days_valid=5)
    run_due(clock)
    https_server_factory.stop(server)  # nothing listens: no certificate seen
    run_due(clock)
    monitor = fresh(monitor)
    assert monitor.state == "down" and monitor.certificate_expires_at is not None
    assert tls_alert(monitor).status == Alert.Status.FIRING


def test_an_expired_certificate_is_a_failure(https_monitor, clock):
    monitor, _ = https_monitor(days_valid=-1)
    run_due(clock)
    monitor = fresh(monitor)
    assert monitor.state == "down"
    down = Alert.objects.get(dedup_key=f"monitor-{monitor.pk}")
    assert down.status == Alert.Status.FIRING and down.severity == "critical"
    assert "the TLS certificate expired on" in down.summary


def test_an_unverifiable_certificate_is_a_failure_without_a_warning(https_monitor, clock):
    monitor, _ = https_monitor(days_valid=5, verify_tls=True)  # self-signed: does not verify
    run_due(clock)
    monitor = fresh(monitor)
    assert monitor.state == "down" and "CERTIFICATE_VERIFY_FAILED" in monitor.results.get().message
    assert monitor.certificate_expires_at is None and tls_alert(monitor) is None


def test_warning_off_raises_nothing(https_monitor, clock):
    monitor, _ = https_monitor(days_valid=5, tls_expiry_days=0)
    run_due(clock)
    monitor = fresh(monitor)
    assert monitor.state == "up" and monitor.certificate_expires_at is None and tls_alert(monitor) is None


@pytest.mark.parametrize("how", ["pause", "reconfigure"])
def test_pausing_or_reconfiguring_resolves_the_warning(https_monitor, clock, cast, how):
    monitor, _ = https_monitor(days_valid=5)
    run_due(clock)
    if how == "pause":
        actions.pause_monitor(monitor, actor=cast["alice"], source="web")
    else:
        actions.update_monitor(monitor, config={**monitor.config, "tls_expiry_days": 3}, actor=cast["alice"],
                               source="web")
    assert tls_alert(monitor).status == Alert.Status.RESOLVED
    assert fresh(monitor).certificate_expires_at is None


def test_the_warning_is_announced_to_the_live_overview(https_monitor, clock, cast, settings):
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}  # a fresh layer for this test
    monitor, _ = https_monitor(days_valid=5, tls_expiry_days=3)  # outside the window: no warning
    run_due(clock)
    actions.update_monitor(monitor, config={**monitor.config, "tls_expiry_days": 14}, actor=cast["alice"],
                           source="web")
    version = queries.overview_version()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(LIVE_GROUP, channel)
    run_due(clock)  # up before, up after: only the warning changed
    assert fresh(monitor).state == "up" and tls_alert(monitor).status == Alert.Status.FIRING
    assert queries.overview_version() != version
    event = async_to_sync(asyncio.wait_for)(layer.receive(channel), 5)
    assert event == {"type": "monitor.changed", "id": monitor.pk}
