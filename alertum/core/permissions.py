"""Who may do what, per team. One place, used by every door.

- Global admins (`is_superuser`) may do everything.
- A membership gives a role in one team: viewer < responder < commander < admin.
- Any member of any team may read normal incidents; restricted ones only their team.
"""

from alertum.core.models import ROLE_RANK, Membership, Role


def is_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_superuser)


def team_roles(user) -> dict[int, str]:
    """{team_id: role} for the user, cached on the user object for the request."""
    if not (user and user.is_authenticated):
        return {}
    cached = getattr(user, "_alertum_team_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        user._alertum_team_roles = cached
    return cached


def has_team_role(user, team_id: int | None, minimum: str) -> bool:
    if is_admin(user):
        return True
    if team_id is None:
        return False
    role = team_roles(user).get(team_id)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]


def is_member_anywhere(user) -> bool:
    return is_admin(user) or bool(team_roles(user))


def teams_with_role(user, minimum: str) -> list[int]:
    return [tid for tid, role in team_roles(user).items() if ROLE_RANK[role] >= ROLE_RANK[minimum]]


__all__ = ["Role", "is_admin", "team_roles", "has_team_role", "is_member_anywhere", "teams_with_role"]
