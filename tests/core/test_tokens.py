"""API tokens: shown once, stored as SHA-256 only, found by lookup until revoked, audited."""

import hashlib

import pytest

from alertum.core.actions import create_api_token, revoke_api_token
from alertum.core.errors import Conflict, Forbidden, Invalid
from alertum.core.models import ApiToken, AuditEntry, Door

pytestmark = pytest.mark.django_db


def make_token(cast, user="alice", actor="alice", **kwargs):
    kwargs = {"name": "laptop", "scope": ApiToken.Scope.READ, **kwargs}
    return create_api_token(cast[user], actor=cast[actor], source=Door.WEB, ip_address="198.51.100.9", **kwargs)


def test_create_returns_raw_value_and_stores_only_its_sha256(cast):
    token, raw = make_token(cast)
    assert raw.startswith(f"alt_{token.prefix}_") and len(raw) > 40
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert not any(raw in str(value) for value in stored.values())
    assert not hasattr(ApiToken.objects.get(pk=token.pk), "raw")


def test_each_token_is_different(cast):
    (first, raw_first), (second, raw_second) = make_token(cast), make_token(cast, name="ci")
    assert raw_first != raw_second and first.token_hash != second.token_hash


def test_lookup_finds_the_token_by_its_raw_value(cast):
    token, raw = make_token(cast)
    found = ApiToken.lookup(raw)
    assert found == token and found.user == cast["alice"]


def test_lookup_fails_for_a_wrong_or_prefix_only_value(cast):
    token, raw = make_token(cast)
    assert ApiToken.lookup(raw + "x") is None
    assert ApiToken.lookup(f"alt_{token.prefix}_") is None
    assert ApiToken.lookup(token.token_hash) is None


def test_lookup_fails_after_revoke(cast):
    token, raw = make_token(cast)
    revoke_api_token(token, actor=cast["alice"], source=Door.WEB)
    assert ApiToken.lookup(raw) is None
    token.refresh_from_db()
    assert token.revoked_at is not None and not token.is_active


def test_create_and_revoke_are_audited_without_secrets(cast):
    token, raw = make_token(cast, scope=ApiToken.Scope.WRITE)
    revoke_api_token(token, actor=cast["root"], source=Door.ADMIN, ip_address="203.0.113.1")

    created, revoked = AuditEntry.objects.order_by("seq")
    assert (created.action, created.actor, created.source, created.ip_address) == (
        "apitoken.created", cast["alice"], "web", "198.51.100.9")
    assert created.changes == {"user": cast["alice"].pk, "scope": "write"}
    assert (revoked.action, revoked.actor, revoked.source, revoked.ip_address) == (
        "apitoken.revoked", cast["root"], "admin", "203.0.113.1")
    assert created.object_id == revoked.object_id == str(token.pk)
    for entry in (created, revoked):
        text = f"{entry.changes} {entry.object_repr}"
        assert raw not in text and token.token_hash not in text


def test_second_revoke_changes_nothing(cast):
    token, _raw = make_token(cast)
    first = revoke_api_token(token, actor=cast["alice"], source=Door.WEB)
    second = revoke_api_token(token, actor=cast["alice"], source=Door.WEB)
    assert second.revoked_at == first.revoked_at
    assert AuditEntry.objects.filter(action="apitoken.revoked").count() == 1


def test_user_cannot_create_a_token_for_someone_else(cast):
    with pytest.raises(Forbidden, match="only for yourself"):
        make_token(cast, user="bob", actor="alice")
    assert not ApiToken.objects.exists() and not AuditEntry.objects.exists()


def test_global_admin_can_create_a_token_for_a_user(cast):
    token, raw = make_token(cast, user="bob", actor="root")
    assert token.user == cast["bob"] and ApiToken.lookup(raw) == token


def test_user_cannot_revoke_someone_elses_token(cast):
    token, raw = make_token(cast)
    with pytest.raises(Forbidden, match="only your own"):
        revoke_api_token(token, actor=cast["bob"], source=Door.WEB)
    assert ApiToken.lookup(raw) == token


def test_token_names_are_unique_per_user(cast):
    make_token(cast)
    with pytest.raises(Conflict, match="already have a token named 'laptop'"):
        make_token(cast)
    other, _raw = make_token(cast, user="bob", actor="bob")
    assert other.name == "laptop"
    assert ApiToken.objects.count() == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "  "}, "name is required"),
    ({"scope": "admin"}, "scope must be one of read, write"),
])
def test_bad_token_input_is_refused_and_creates_nothing(cast, kwargs, message):
    with pytest.raises(Invalid, match=message):
        make_token(cast, **kwargs)
    assert not ApiToken.objects.exists()
