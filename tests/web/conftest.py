import pytest

from tests.conftest import login


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads go to a throw-away folder, never var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def as_user(client, cast):
    """as_user("alice") -> the test client signed in as alice."""

    def sign_in(name):
        client.logout()
        return login(client, cast[name])

    return sign_in


def htmx(**extra):
    """Headers of an htmx request."""
    return {"HTTP_HX_REQUEST": "true", **extra}
