"""Permission-scoped reads of heartbeats, their ping logs and ping keys.

Like every monitor, any team member may see a heartbeat's state and schedule. Its ping
URLs and ping bodies are for the owning team only (and global admins): the URL is the
credential that keeps a job "up", and bodies carry the job's output.
"""

from django.db.models import QuerySet

from alertum.core.errors import NotFound
from alertum.core.models import Role, Team
from alertum.core.permissions import has_team_role, is_admin, is_member_anywhere, teams_with_role
from monitoring.heartbeats.models import Heartbeat, Ping, PingKey

PING_LOG_SIZE = 50


def heartbeats_visible_to(user) -> QuerySet[Heartbeat]:
    qs = Heartbeat.objects.select_related("monitor", "monitor__service", "monitor__service__owner_team")
    if is_admin(user) or is_member_anywhere(user):
        return qs
    return qs.none()


def get_heartbeat_for_user(user, pk) -> Heartbeat:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound(f"heartbeat {pk} does not exist") from None
    heartbeat = heartbeats_visible_to(user).filter(pk=pk).first()
    if heartbeat is None:
        raise NotFound(f"heartbeat {pk} does not exist")
    return heartbeat


def may_see_secrets(user, heartbeat: Heartbeat) -> bool:
    """Ping URLs and ping bodies: members of the owning team, any role."""
    return has_team_role(user, heartbeat.monitor.service.owner_team_id, Role.VIEWER)


def ping_log(heartbeat: Heartbeat, limit: int = PING_LOG_SIZE) -> list[Ping]:
    return list(Ping.objects.filter(heartbeat=heartbeat).order_by("-n")[:limit])


def ping_keys_visible_to(user) -> QuerySet[PingKey]:
    qs = PingKey.objects.select_related("team", "default_service", "created_by")
    if is_admin(user):
        return qs
    return qs.filter(team_id__in=teams_with_role(user, Role.VIEWER))


def teams_for_keys(user) -> QuerySet[Team]:
    """Teams whose ping keys the user may make."""
    if is_admin(user):
        return Team.objects.all()
    return Team.objects.filter(pk__in=teams_with_role(user, Role.COMMANDER))
