"""Fixtures for the intake management doors: a team admin of Payments, integrations made
through the actions (with their raw keys), and alerts raised through the pipeline."""

import itertools
import json

import pytest
from rest_framework.test import APIClient

from alertum.core.models import Door, Membership, Role, User
from incidents.intake import actions, pipeline
from incidents.intake.events import AlertEvent
from incidents.models import RawEvent
from tests.conftest import login

_seq = itertools.count(1)


@pytest.fixture
def adam(cast, teams):
    """Admin of Payments (owner of checkout). The shared cast has no team admin."""
    user = User.objects.create_user(username="adam", password="x-x-x-x-x-1", first_name="Adam",
                                    time_zone="Europe/Amsterdam")
    Membership.objects.create(user=user, team=teams["payments"], role=Role.ADMIN)
    cast["adam"] = user
    return user


@pytest.fixture
def web(client, cast, adam):
    """web("alice") -> the Django test client signed in as alice."""

    def sign_in(name):
        client.logout()
        return login(client, cast[name])

    return sign_in


@pytest.fixture
def api(cast, adam):
    """api("alice") -> an APIClient signed in as alice."""

    def make(name):
        c = APIClient()
        c.force_login(cast[name])
        return c

    return make


@pytest.fixture
def make_integration(services, cast):
    """make_integration(kind=..., service=...) -> (integration, raw key), created by the system."""

    def make(kind="alertmanager", service="checkout", name=None, **kwargs):
        return actions.create_integration(service=services[service], name=name or f"{kind}-{next(_seq)}", kind=kind,
                                          actor=None, source=Door.CLI, **kwargs)

    return make


@pytest.fixture
def integration(make_integration):
    return make_integration()[0]


@pytest.fixture
def raw_event(integration):
    """raw_event(state=..., body=...) -> a stored raw event of the integration."""

    def make(state=RawEvent.State.PENDING, body=None, error="", **kwargs):
        return RawEvent.objects.create(integration=integration, endpoint="alertmanager", state=state, error=error,
                                       body=body if body is not None else json.dumps({"version": "4", "alerts": []}),
                                       **kwargs)

    return make


@pytest.fixture
def fire(integration):
    """fire(key, labels=..., severity=..., body=...) -> the alert, through the pipeline as
    the worker would apply it, with the raw event it came from."""

    def fire(key="web-1", action="trigger", body=None, via=None, **fields):
        source = via or integration
        raw = RawEvent.objects.create(integration=source, endpoint="alertmanager",
                                      body=body if body is not None else json.dumps({"fingerprint": key}))
        raw = RawEvent.objects.select_related("integration__service").get(pk=raw.pk)
        fields.setdefault("summary", f"High latency on {key}")
        fields.setdefault("labels", {"alertname": "HighLatency", "instance": key})
        alert = pipeline.apply_alert_event(raw, AlertEvent(action=action, dedup_key=key, **fields))
        RawEvent.objects.filter(pk=raw.pk).update(state=RawEvent.State.PROCESSED)
        return alert

    return fire
