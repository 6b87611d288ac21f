"""The shared cast and factories.

Cast (team "Payments" owns service checkout, tier 1; team "Platform" owns search, tier 3):
- alice, bob: responders in Payments
- carol: incident commander (role) in Payments
- victor: viewer in Payments
- oscar: responder in Platform only
- root: global admin (superuser)
- nobody: signed in, member of no team
"""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from alertum.core.models import Door, Membership, Role, Service, Team, User
from incidents import actions

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def clock():
    """A controlled clock: `clock.move_to(datetime)` / `clock.shift(seconds)`."""
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), tick=False) as traveller:
        yield traveller


def _user(username, **extra):
    return User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.test", **extra)


@pytest.fixture
def teams(db):
    payments = Team.objects.create(name="Payments", slug="payments")
    platform = Team.objects.create(name="Platform", slug="platform")
    return {"payments": payments, "platform": platform}


@pytest.fixture
def cast(teams):
    people = {
        "alice": _user("alice", first_name="Alice", time_zone="Europe/Amsterdam"),
        "bob": _user("bob", first_name="Bob"),
        "carol": _user("carol", first_name="Carol"),
        "victor": _user("victor", first_name="Victor"),
        "oscar": _user("oscar", first_name="Oscar"),
        "root": User.objects.create_superuser("root", "root@example.test", PASSWORD),
        "nobody": _user("nobody"),
    }
    for name, team, role in (("alice", "payments", Role.RESPONDER), ("bob", "payments", Role.RESPONDER),
                             ("carol", "payments", Role.COMMANDER), ("victor", "payments", Role.VIEWER),
                             ("oscar", "platform", Role.RESPONDER)):
        Membership.objects.create(user=people[name], team=teams[team], role=role)
    return people


@pytest.fixture
def services(teams):
    checkout = Service.objects.create(name="Checkout", slug="checkout", owner_team=teams["payments"], tier=1)
    search = Service.objects.create(name="Search", slug="search", owner_team=teams["platform"], tier=3)
    return {"checkout": checkout, "search": search}


@pytest.fixture
def make_incident(cast, teams, services):
    def make(title="Checkout errors", team="payments", actor="alice", **kwargs):
        kwargs.setdefault("services", [services["checkout"]] if team == "payments" else [services["search"]])
        return actions.declare_incident(title=title, team=teams[team], actor=cast[actor] if actor else None,
                                        source=Door.WEB, **kwargs)

    return make


@pytest.fixture
def incident(make_incident):
    return make_incident()


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The shared cache (Redis under CI) outlives a test's rolled-back rows: each test
    starts with an empty one, so nothing cached from another test's data shows."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_intake_lookups():
    """Integration lookups are cached per process for a few seconds; a test must not see
    the integrations of the one before it."""
    from incidents.intake.accept import forget_integrations

    forget_integrations()
    yield
    forget_integrations()
