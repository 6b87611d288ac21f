"""Fixtures for the escalation and paging tests (imported by those test modules; the
schedules helper owns tests/oncall/conftest.py).

`receiver` is a real HTTP server on 127.0.0.1 (from tests/core/notify) standing in for
Slack and for personal webhooks; each person's contact method points at its own path
there, so a test reads who was paged from the requests it received.
"""

import pytest

from alertum.core.notify.webhook import generate_secret
from oncall.engine import escalate_due, send_due_pages
from oncall.models import (
    ContactMethod,
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    NotificationRule,
    ServicePolicy,
    SeverityVariant,
    TeamChannel,
)
from tests.core.notify.conftest import LocalHTTPServer


@pytest.fixture
def receiver():
    server = LocalHTTPServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture(autouse=True)
def _no_kicks(settings):
    # Tests drive the engine's ticks themselves, under the controlled clock; the kicks
    # (celery tasks at due times) are only a latency optimisation over those ticks.
    settings.ONCALL_KICKS = False
    settings.ONCALL_BASE_URL = "https://alertum.example"


def paths(server) -> list[str]:
    return [r.path for r in server.requests]


def run_engine() -> None:
    """One beat: fire due levels, then send due pages."""
    escalate_due()
    send_due_pages()


@pytest.fixture
def contact(receiver):
    """`contact(user, "slack", delay=0, urgency="high")`: a contact method at the receiver
    (path /<username>/<kind>) with a notification rule."""

    def make(user, kind="slack", *, delay=0, urgency="high", address=None):
        method, _ = ContactMethod.objects.get_or_create(
            user=user, kind=kind, address=address or f"{receiver.url}/{user.username}/{kind}",
            defaults={"secret": generate_secret() if kind == "webhook" else ""})
        NotificationRule.objects.create(user=user, contact_method=method, urgency=urgency, delay_minutes=delay)
        return method

    return make


@pytest.fixture
def make_policy(teams):
    """`make_policy([(delay, [targets…]), …], repeat=0, slug=…)`; a target is a User,
    a TeamChannel or a Schedule."""

    def make(levels, *, team="payments", slug="payments-default", name=None, repeat=0, service=None, **extra):
        policy = EscalationPolicy.objects.create(team=teams[team], name=name or slug.replace("-", " ").title(),
                                                 slug=slug, repeat_count=repeat, **extra)
        for position, (delay, targets) in enumerate(levels, start=1):
            level = EscalationLevel.objects.create(policy=policy, position=position, delay_minutes=delay)
            for target in targets:
                kind = {"User": "user", "TeamChannel": "channel", "Schedule": "schedule"}[type(target).__name__]
                EscalationTarget.objects.create(level=level, kind=kind, **{kind: target})
        if service is not None:
            ServicePolicy.objects.update_or_create(service=service, defaults={"policy": policy})
        return policy

    return make


@pytest.fixture
def slack_channel(teams, receiver):
    return TeamChannel.objects.create(team=teams["payments"], name="#payments-oncall", kind="slack",
                                      address=f"{receiver.url}/slack/payments")


@pytest.fixture
def variant():
    def make(policy, severity, **values):
        return SeverityVariant.objects.create(policy=policy, severity=severity, **values)

    return make
