"""Clients for the REST API tests: signed in by session (as the browser's fetch would)
or by a personal token, plus small readers of what a request left behind."""

import pytest
from rest_framework.test import APIClient

from alertum.core import actions as core_actions
from alertum.core.models import Door, Membership, Role, User
from incidents.models import TimelineEntry


@pytest.fixture
def as_user(cast):
    """`as_user("alice")`: an APIClient signed in with alice's session."""

    def make(name: str) -> APIClient:
        client = APIClient()
        client.force_login(cast[name])
        return client

    return make


@pytest.fixture
def token_for(cast):
    """`token_for("alice", scope="write")` -> (client using that Bearer token, raw token)."""

    def make(name: str, scope: str = "write", token_name: str | None = None) -> tuple[APIClient, str]:
        _, raw = core_actions.create_api_token(cast[name], name=token_name or f"{name}-{scope}", scope=scope,
                                               actor=cast[name], source=Door.WEB)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client, raw

    return make


@pytest.fixture
def anonymous():
    return APIClient()


def timeline_of(incident) -> list[tuple[int, str]]:
    return list(TimelineEntry.objects.filter(incident=incident).order_by("seq").values_list("seq", "kind"))


@pytest.fixture
def media(settings, tmp_path):
    """Uploaded evidence goes to a throw-away folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def adam(cast, teams):
    """A team admin of Payments (the shared cast has none)."""
    user = User.objects.create_user(username="adam", password="x-x-x-x-x-1", first_name="Adam")
    Membership.objects.create(user=user, team=teams["payments"], role=Role.ADMIN)
    cast["adam"] = user
    return user
