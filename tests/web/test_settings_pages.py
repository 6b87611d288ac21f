"""Personal settings: time zone and API tokens (shown once, listed, revoked), all audited."""

import pytest

from alertum.core.models import ApiToken, AuditEntry

pytestmark = pytest.mark.django_db


def test_profile_sets_the_time_zone_and_audits_it(as_user, cast):
    client = as_user("bob")
    page = client.get("/settings/")
    assert page.status_code == 200 and b"Europe/Amsterdam" in page.content
    response = client.post("/settings/", {"time_zone": "America/New_York"})
    assert response.status_code == 302
    cast["bob"].refresh_from_db()
    assert cast["bob"].time_zone == "America/New_York"
    entry = AuditEntry.objects.get(action="user.updated")
    assert entry.changes == {"time_zone": ["UTC", "America/New_York"]} and entry.source == "web"


def test_unknown_time_zone_is_422_and_changes_nothing(as_user, cast):
    response = as_user("bob").post("/settings/", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 422 and b"Select a valid choice" in response.content
    cast["bob"].refresh_from_db()
    assert cast["bob"].time_zone == "UTC" and not AuditEntry.objects.filter(action="user.updated").exists()


def test_api_token_is_shown_once_then_listed_by_prefix(as_user, cast):
    client = as_user("alice")
    response = client.post("/settings/tokens/", {"name": "grafana", "scope": "read"})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    raw = response.context["raw_token"]
    token = ApiToken.objects.get(user=cast["alice"])
    assert raw.encode() in response.content and ApiToken.lookup(raw) == token
    listing = client.get("/settings/tokens/")
    assert raw.encode() not in listing.content
    assert f"alt_{token.prefix}_".encode() in listing.content and b"grafana" in listing.content


def test_duplicate_token_name_is_409(as_user):
    client = as_user("alice")
    client.post("/settings/tokens/", {"name": "grafana", "scope": "read"})
    response = client.post("/settings/tokens/", {"name": "grafana", "scope": "write"})
    assert response.status_code == 409 and b"already have a token named" in response.content
    assert ApiToken.objects.count() == 1


def test_token_without_name_is_422(as_user):
    response = as_user("alice").post("/settings/tokens/", {"name": "", "scope": "read"})
    assert response.status_code == 422 and b"This field is required" in response.content
    assert not ApiToken.objects.exists()


def test_revoke_own_token(as_user, cast):
    client = as_user("alice")
    client.post("/settings/tokens/", {"name": "ci", "scope": "write"})
    token = ApiToken.objects.get()
    assert client.post(f"/settings/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert b"revoked" in client.get("/settings/tokens/").content


def test_cannot_revoke_someone_elses_token(as_user, cast):
    as_user("alice").post("/settings/tokens/", {"name": "ci", "scope": "write"})
    token = ApiToken.objects.get()
    response = as_user("bob").post(f"/settings/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
