"""Who is asking: tokens (scopes, revocation), sessions (CSRF), nobody at all; and the
OpenAPI schema and docs page."""

import pytest
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from alertum.core import actions as core_actions
from alertum.core.models import ApiToken, Door
from tests.api.conftest import timeline_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents/"


@pytest.mark.parametrize("method, path", [
    ("get", URL), ("post", URL), ("get", "/api/v1/services/"), ("get", "/api/v1/tokens/"),
    ("get", "/api/v1/teams/"), ("get", "/api/v1/maintenance-windows/"),
])
def test_no_credentials_is_401_with_a_bearer_challenge(anonymous, method, path):
    response = getattr(anonymous, method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_no_credentials_cannot_act(anonymous, incident):
    response = anonymous.post(f"{URL}{incident.pk}/acknowledge/")
    assert response.status_code == 401
    assert timeline_of(incident) == [(1, "incident.declared")]


def test_write_token_reads_and_acts(token_for, incident):
    client, _ = token_for("alice", scope="write")
    assert client.get(URL).json()["count"] == 1
    response = client.post(f"{URL}{incident.pk}/acknowledge/")
    assert response.status_code == 200
    assert incident.timeline.order_by("seq").last().actor.username == "alice"


def test_read_scope_token_reads_but_gets_403_on_writes(token_for, incident):
    client, _ = token_for("alice", scope="read")
    assert client.get(f"{URL}{incident.pk}/").status_code == 200
    assert client.get(f"{URL}{incident.pk}/timeline/").status_code == 200
    for path, body in (("acknowledge/", {}), ("comments/", {"body": "hi"})):
        response = client.post(f"{URL}{incident.pk}/{path}", body, format="json")
        assert response.status_code == 403
        assert response.json() == {"detail": "this token has read scope only"}
    assert client.patch(f"{URL}{incident.pk}/", {"title": "X"}, format="json").status_code == 403
    assert timeline_of(incident) == [(1, "incident.declared")]


def test_revoked_token_is_401(token_for, cast, incident):
    client, raw = token_for("alice")
    core_actions.revoke_api_token(ApiToken.lookup(raw), actor=cast["alice"], source=Door.WEB)
    response = client.get(URL)
    assert response.status_code == 401 and response.json() == {"detail": "invalid or revoked token"}


@pytest.mark.parametrize("header", ["Bearer alt_nope_nope", "Bearer", "Bearer a b", "Token alt_x_y"])
def test_unknown_or_malformed_token_is_401(header, incident):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(URL).status_code == 401


def test_token_of_a_deactivated_user_is_401(token_for, cast):
    client, _ = token_for("alice")
    cast["alice"].is_active = False
    cast["alice"].save()
    assert client.get(URL).status_code == 401


def test_token_use_is_recorded(token_for):
    client, raw = token_for("alice")
    assert ApiToken.lookup(raw).last_used_at is None
    client.get(URL)
    assert ApiToken.lookup(raw).last_used_at is not None


def test_token_authenticated_writes_need_no_csrf_token(token_for, incident):
    client, raw = token_for("alice")
    strict = APIClient(enforce_csrf_checks=True)
    strict.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert strict.post(f"{URL}{incident.pk}/acknowledge/").status_code == 200


def test_session_writes_need_the_csrf_token(cast, incident):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(cast["alice"])
    assert client.get(URL).status_code == 200  # reading needs none
    response = client.post(f"{URL}{incident.pk}/acknowledge/")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert timeline_of(incident) == [(1, "incident.declared")]

    secret = get_random_string(32)
    client.cookies["csrftoken"] = secret
    response = client.post(f"{URL}{incident.pk}/acknowledge/", HTTP_X_CSRFTOKEN=secret)
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"


def test_nobody_in_no_team_cannot_see_or_act_on_incidents(as_user, incident):
    client = as_user("nobody")
    assert client.get(f"{URL}{incident.pk}/").status_code == 404
    assert client.post(f"{URL}{incident.pk}/acknowledge/").status_code == 404
    assert timeline_of(incident) == [(1, "incident.declared")]


def test_schema_describes_the_api(as_user):
    response = as_user("alice").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/incidents/", "/api/v1/incidents/{id}/", "/api/v1/incidents/{id}/acknowledge/",
                 "/api/v1/incidents/{id}/assign-role/", "/api/v1/incidents/{id}/checklist/{item_id}/",
                 "/api/v1/incidents/{id}/evidence/", "/api/v1/incidents/{id}/timeline/", "/api/v1/services/{slug}/",
                 "/api/v1/teams/{slug}/members/", "/api/v1/maintenance-windows/{id}/state/", "/api/v1/tokens/{id}/"):
        assert path in schema["paths"], path
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "http", "scheme": "bearer",
        "description": "A personal API token (`alt_…`) from POST /api/v1/tokens/ or the admin."}
    list_params = {p["name"] for p in schema["paths"]["/api/v1/incidents/"]["get"]["parameters"]}
    assert {"status", "severity", "service", "team", "mine", "q", "page", "page_size"} <= list_params


def test_docs_page_is_served(as_user):
    response = as_user("alice").get("/api/docs/")
    assert response.status_code == 200 and b"swagger" in response.content.lower()


def test_schema_needs_a_signed_in_caller(client):
    assert client.get("/api/schema/").status_code in (401, 403)
