"""A status page for the cast: "Acme" owned by Payments, with a group (Platform) holding
API and Web, and a top-level Checkout component linked to the checkout service.
carol is made an admin of Payments (configures pages); alice and bob, responders, tell
customers; victor only looks."""

import pytest

from alertum.core.models import Door, Membership, Role
from statuspages import actions, cache
from tests.core.notify.conftest import http_server, smtp_factory, smtp_server  # noqa: F401  (real local servers)


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache as django_cache

    django_cache.clear()
    cache.forget_local()
    cache._domains.update(map=None, at=0.0)
    yield
    django_cache.clear()
    cache.forget_local()


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.STATUSPAGES_BASE_URL = "http://status.test"


@pytest.fixture
def admin(cast, teams):
    Membership.objects.filter(user=cast["carol"], team=teams["payments"]).update(role=Role.ADMIN)
    return cast["carol"]


@pytest.fixture
def page(admin, teams):
    return actions.create_page(team=teams["payments"], name="Acme", slug="acme", actor=admin, source=Door.WEB,
                               time_zone="Europe/Amsterdam")


@pytest.fixture
def components(page, admin, services):
    group = actions.save_component(page, actor=admin, source=Door.WEB, name="Platform", is_group=True)
    api = actions.save_component(page, actor=admin, source=Door.WEB, name="API", group=group,
                                 description="Public REST API")
    web = actions.save_component(page, actor=admin, source=Door.WEB, name="Web", group=group)
    checkout = actions.save_component(page, actor=admin, source=Door.WEB, name="Checkout",
                                      services=[services["checkout"]])
    return {"group": group, "api": api, "web": web, "checkout": checkout}


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """`with commit(): action(...)` runs what the action registered on commit (the cache
    bump, the delivery kick) as a real commit would; the test's own transaction never
    commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
