"""Permission-scoped reads for escalation: policies, a preview of who would be paged
when, the ownership matrix, and an incident's escalation with its pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Prefetch, Q
from django.utils import timezone

from alertum.core.models import Role, Service, User
from alertum.core.permissions import has_team_role, is_admin, is_member_anywhere, teams_with_role
from oncall.engine import person_steps, snapshot
from oncall.models import (
    ContactMethod,
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    Page,
    ServicePolicy,
    TeamChannel,
    Urgency,
)


def visible_policies(user):
    """Every member of a team reads every policy (they decide who gets woken up, which
    everyone on call may check); people in no team see none."""
    if not is_member_anywhere(user):
        return EscalationPolicy.objects.none()
    targets = EscalationTarget.objects.select_related("user", "schedule", "channel")
    levels = EscalationLevel.objects.prefetch_related(Prefetch("targets", queryset=targets))
    return (EscalationPolicy.objects.select_related("team")
            .prefetch_related(Prefetch("levels", queryset=levels), "variants", "services__service")
            .order_by("team__name", "name"))


def policies_to_configure(user):
    qs = EscalationPolicy.objects.select_related("team").order_by("team__name", "name")
    return qs if is_admin(user) else qs.filter(team_id__in=teams_with_role(user, Role.ADMIN))


def visible_channels(user):
    qs = TeamChannel.objects.select_related("team").order_by("team__name", "name")
    return qs if is_admin(user) else qs.filter(team__memberships__user=user).distinct()


def may_see_channel_address(user, channel: TeamChannel) -> bool:
    """A channel's address (a webhook URL) is a credential: the team's admins see it."""
    return has_team_role(user, channel.team_id, Role.ADMIN)


# --- preview ------------------------------------------------------------------------------------

@dataclass
class PreviewPerson:
    user: User
    via: str
    steps: list[tuple[dt.datetime, str]]  # (when, method label)


@dataclass
class PreviewLevel:
    number: int
    at: dt.datetime
    repeat: int
    people: list[PreviewPerson] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Preview:
    severity: str
    mode: str
    urgency: str
    levels: list[PreviewLevel]
    digest_at: dt.datetime | None = None


def preview(policy: EscalationPolicy, severity: str, start: dt.datetime | None = None) -> Preview:
    """Who would be paged when, if an incident of this severity triggered at `start`
    (default now) and nobody acknowledged: each level (and repeat) with its time, the
    people (schedules resolved at that time) and their notification steps, the channels."""
    from oncall.engine import next_digest_at

    start = start or timezone.now()
    snap = snapshot(policy, severity)
    kinds = dict(ContactMethod.Kind.choices)
    result = Preview(severity=severity, mode=snap["mode"], urgency=snap["urgency"], levels=[])
    if snap["mode"] == "digest":
        result.digest_at = next_digest_at(start, snap["digest_interval_minutes"])
    at = start
    for repeat in range(snap["repeat_count"] + 1):
        for index, level in enumerate(snap["levels"]):
            if index or repeat:
                at = at + dt.timedelta(minutes=level["delay_minutes"] if index else snap["repeat_after_minutes"])
            else:
                at = at + dt.timedelta(minutes=level["delay_minutes"])
            row = PreviewLevel(number=level["number"], at=at, repeat=repeat)
            for target in level["targets"]:
                people = []
                if target["kind"] == EscalationTarget.Kind.USER:
                    user = User.objects.filter(pk=target["id"], is_active=True).first()
                    people = [(user, "directly")] if user else []
                elif target["kind"] == EscalationTarget.Kind.SCHEDULE:
                    from oncall.engine import _on_call

                    people = [(u, f"on call in {target['name']}") for u in _on_call(target["id"], at)]
                    if not people:
                        row.warnings.append(f"Nobody on call in {target['name']} then.")
                else:
                    row.channels.append(target["name"])
                for user, via in people:
                    steps = [(at + dt.timedelta(minutes=delay), kinds.get(kind, kind))
                             for delay, kind, _address in person_steps(user, snap["urgency"])]
                    if not steps:
                        row.warnings.append(f"{user} has no contact methods.")
                    row.people.append(PreviewPerson(user=user, via=via, steps=steps))
            result.levels.append(row)
    return result


# --- ownership matrix ----------------------------------------------------------------------------

@dataclass
class OwnershipRow:
    service: Service
    policy: EscalationPolicy | None
    primary: list[str]
    secondary: list[str]

    @property
    def complete(self) -> bool:
        return bool(self.primary and self.secondary)

    @property
    def problem(self) -> str:
        if self.policy is None:
            return "no escalation policy"
        if not self.primary:
            return "no primary responder"
        if not self.secondary:
            return "no secondary responder"
        return ""


def _responders(level: EscalationLevel | None) -> list[str]:
    """Schedules and people of a level (channels are not responders: nobody acknowledges
    for a channel)."""
    if level is None:
        return []
    return [f"{t.subject} (schedule)" if t.kind == EscalationTarget.Kind.SCHEDULE else str(t.subject)
            for t in level.targets.all() if t.kind != EscalationTarget.Kind.CHANNEL]


def ownership(user) -> list[OwnershipRow]:
    """Each service's primary and secondary responders: the schedules or people of the
    first two levels of its default policy."""
    if not is_member_anywhere(user):
        return []
    targets = EscalationTarget.objects.select_related("user", "schedule", "channel")
    levels = EscalationLevel.objects.prefetch_related(Prefetch("targets", queryset=targets)).order_by("position")
    defaults = {sp.service_id: sp.policy for sp in ServicePolicy.objects.select_related("policy").prefetch_related(
        Prefetch("policy__levels", queryset=levels))}
    rows = []
    for service in Service.objects.select_related("owner_team").order_by("name"):
        policy = defaults.get(service.pk)
        policy_levels = list(policy.levels.all()) if policy else []
        rows.append(OwnershipRow(service=service, policy=policy,
                                 primary=_responders(policy_levels[0] if policy_levels else None),
                                 secondary=_responders(policy_levels[1] if len(policy_levels) > 1 else None)))
    return rows


# --- an incident's escalation -----------------------------------------------------------------------

def escalation_of(incident) -> Escalation | None:
    return (Escalation.objects.filter(incident=incident).select_related("policy")
            .order_by("-started_at", "-id").first())


def pages_of(incident):
    return (Page.objects.filter(incident=incident).select_related("recipient", "channel")
            .order_by("created_at", "id"))


def pages_for(user, since: dt.datetime):
    """Pages to one person since a time (the fatigue report counts these)."""
    return Page.objects.filter(recipient=user, created_at__gte=since).exclude(
        Q(state=Page.State.CANCELLED) | Q(purpose=Page.Purpose.RESOLVED))


__all__ = ["Urgency", "escalation_of", "ownership", "pages_for", "pages_of", "preview", "visible_policies"]
