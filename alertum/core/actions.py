"""Write path for configuration: teams, memberships, services, maintenance windows and
API tokens. Every change is audited (who, what, from where, via which door)."""

from django.db import transaction
from django.utils import timezone

from alertum.core import audit
from alertum.core.errors import Conflict, Forbidden, Invalid
from alertum.core.models import ApiToken, Door, MaintenanceWindow, Role, User
from alertum.core.permissions import has_team_role, is_admin


def save_config(obj, *, actor, source: str, ip_address: str | None = None, before: dict | None = None,
                fields: list[str] | None = None, m2m: dict | None = None):
    """Save a configuration object and audit what changed. `before` is a
    `audit.snapshot` taken before the edit (None when creating); `m2m` maps
    relation name -> list of objects to set after saving."""
    fields = fields or [f.name for f in obj._meta.concrete_fields if f.name != "id"]
    creating = obj.pk is None
    with transaction.atomic():
        obj.full_clean()
        obj.save()
        changes = audit.model_changes(obj, fields, None if creating else before)
        for name, values in (m2m or {}).items():
            manager = getattr(obj, name)
            old = sorted(manager.values_list("pk", flat=True))
            manager.set(values)
            new = sorted(v.pk for v in values)
            if old != new:
                changes[name] = [old, new]
        if creating or changes:
            label = obj._meta.model_name
            audit.record(f"{label}.{'created' if creating else 'updated'}", obj, actor=actor, source=source,
                         ip_address=ip_address, changes=changes)
    return obj


def delete_config(obj, *, actor, source: str, ip_address: str | None = None) -> None:
    """Delete and audit. Refuses (409) while other rows still link to the object through a
    many-to-many relation (an incident's services, a window's services): deleting would
    silently rewrite their history, and core cannot know what those rows mean."""
    with transaction.atomic():
        for relation in obj._meta.related_objects:
            if relation.many_to_many and relation.related_model is not type(obj):
                count = getattr(obj, relation.get_accessor_name()).count()
                if count:
                    kind = relation.related_model._meta.verbose_name_plural
                    raise Conflict(f"{obj} is still linked to {count} {kind}; unlink them first")
        label, pk, text = obj._meta.model_name, obj.pk, str(obj)
        obj.delete()
        audit.record(f"{label}.deleted", None, actor=actor, source=source, ip_address=ip_address,
                     object_type=obj._meta.label_lower, object_repr=text, changes={"id": pk})


# --- API tokens ------------------------------------------------------------------------------

def create_api_token(user: User, *, name: str, scope: str, actor, source: str,
                     ip_address: str | None = None) -> tuple[ApiToken, str]:
    """Create a token; returns (token, raw value). The raw value is never stored."""
    name = (name or "").strip()
    if not name:
        raise Invalid("name is required", field="name")
    if scope not in ApiToken.Scope.values:
        raise Invalid(f"scope must be one of {', '.join(ApiToken.Scope.values)}", field="scope")
    if actor is not None and actor.pk != user.pk and not is_admin(actor):
        raise Forbidden("you may create tokens only for yourself")
    with transaction.atomic():
        if ApiToken.objects.filter(user=user, name=name).exists():
            raise Conflict(f"you already have a token named {name!r}", field="name")
        raw, prefix, digest = ApiToken.generate()
        token = ApiToken.objects.create(user=user, name=name, scope=scope, prefix=prefix, token_hash=digest)
        audit.record("apitoken.created", token, actor=actor, source=source, ip_address=ip_address,
                     changes={"user": user.pk, "scope": scope})
    return token, raw


def revoke_api_token(token: ApiToken, *, actor, source: str, ip_address: str | None = None) -> ApiToken:
    if actor is not None and actor.pk != token.user_id and not is_admin(actor):
        raise Forbidden("you may revoke only your own tokens")
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            return token
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record("apitoken.revoked", token, actor=actor, source=source, ip_address=ip_address)
    return token


def touch_api_token(token: ApiToken) -> None:
    """Record use, at most once a minute per token (a write per request would serialise
    every API call on one row)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


# --- maintenance windows -----------------------------------------------------------------

def can_manage_maintenance(user, services) -> bool:
    return is_admin(user) or (bool(services) and all(has_team_role(user, s.owner_team_id, Role.RESPONDER)
                                                     for s in services))


def schedule_maintenance(*, title: str, starts_at, ends_at, services, actor, source: str, description: str = "",
                         ip_address: str | None = None) -> MaintenanceWindow:
    services = list(services)
    if not services:
        raise Invalid("name at least one affected service", field="services")
    if ends_at <= starts_at:
        raise Invalid("ends_at must be after starts_at", field="ends_at")
    if actor is not None and not can_manage_maintenance(actor, services):
        raise Forbidden("you need the responder role in every affected service's team")
    window = MaintenanceWindow(title=(title or "").strip(), description=description, starts_at=starts_at,
                               ends_at=ends_at, created_by=actor if actor and actor.pk else None)
    if not window.title:
        raise Invalid("title is required", field="title")
    return save_config(window, actor=actor, source=source, ip_address=ip_address, m2m={"services": services},
                       fields=["title", "description", "starts_at", "ends_at", "state"])


def set_maintenance_state(window: MaintenanceWindow, state: str, *, actor, source: str,
                          ip_address: str | None = None) -> MaintenanceWindow:
    """Move a window along scheduled -> in progress -> verifying -> completed (or cancel)."""
    allowed = {
        MaintenanceWindow.State.SCHEDULED: {"in_progress", "cancelled"},
        MaintenanceWindow.State.IN_PROGRESS: {"verifying", "completed"},
        MaintenanceWindow.State.VERIFYING: {"completed", "in_progress"},
        MaintenanceWindow.State.COMPLETED: set(),
        MaintenanceWindow.State.CANCELLED: set(),
    }
    if state not in MaintenanceWindow.State.values:
        raise Invalid(f"state must be one of {', '.join(MaintenanceWindow.State.values)}", field="state")
    with transaction.atomic():
        window = MaintenanceWindow.objects.select_for_update().get(pk=window.pk)
        if actor is not None and not can_manage_maintenance(actor, list(window.services.all())):
            raise Forbidden("you need the responder role in every affected service's team")
        if window.state == state:
            return window
        if state not in allowed[window.state]:
            raise Conflict(f"a {window.state} maintenance window cannot become {state}")
        old = window.state
        now = timezone.now()
        window.state = state
        if state == "in_progress" and window.started_at is None:
            window.started_at = now
        if state in ("completed", "cancelled"):
            window.completed_at = now
        window.save(update_fields=["state", "started_at", "completed_at"])
        audit.record("maintenancewindow.state", window, actor=actor, source=source, ip_address=ip_address,
                     changes={"state": [old, state]})
    return window


def advance_maintenance(now=None) -> int:
    """The beat tick: start windows whose start has come, complete those whose end has
    passed. Claims rows with SKIP LOCKED so concurrent ticks share the work."""
    now = now or timezone.now()
    moved = 0
    steps = (
        (MaintenanceWindow.State.SCHEDULED, {"starts_at__lte": now, "ends_at__gt": now}, "in_progress"),
        (MaintenanceWindow.State.SCHEDULED, {"ends_at__lte": now}, "completed"),
        (MaintenanceWindow.State.IN_PROGRESS, {"ends_at__lte": now}, "completed"),
        (MaintenanceWindow.State.VERIFYING, {"ends_at__lte": now}, "completed"),
    )
    for state, filters, target in steps:
        with transaction.atomic():
            ids = list(MaintenanceWindow.objects.select_for_update(skip_locked=True)
                       .filter(state=state, **filters).values_list("pk", flat=True)[:500])
            for window in MaintenanceWindow.objects.filter(pk__in=ids):
                set_maintenance_state(window, target, actor=None, source=Door.BEAT)
                moved += 1
    return moved


def active_maintenance_for(service_ids, now=None):
    """Windows running now for any of the services (intake and monitoring read this)."""
    now = now or timezone.now()
    return MaintenanceWindow.objects.filter(services__in=service_ids, state__in=["in_progress", "verifying"]) \
        .distinct() | MaintenanceWindow.objects.filter(services__in=service_ids, state="scheduled",
                                                      starts_at__lte=now, ends_at__gt=now).distinct()
