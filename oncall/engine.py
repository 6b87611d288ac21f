"""The escalation engine: start an escalation when an incident triggers, fire its levels
when they fall due, write one Page row per notification, send each page exactly once,
and stop on acknowledge or resolve.

All state is in the database (GoAlert's way). Work is claimed, never assigned:
- `escalate_due` (beat tick, and a kick at each level's due time) claims escalations with
  `next_escalation_at <= now` using SELECT … FOR UPDATE SKIP LOCKED, one per transaction;
- `send_page` claims a page (pending → sending, with a lease) in its own short
  transaction, calls the transport outside any transaction, then records the outcome;
- `sweep_pages` (beat tick) re-sends pending pages whose kick was lost and sending pages
  whose worker died (lease expired).

Lock order: escalation, then page, then the incident (`incidents.actions.lock_incident`,
taken last because appending to the timeline needs it). Creating an escalation locks the
incident first and checks for a running one under that lock.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from alertum.core import notify
from alertum.core.models import Door, User
from incidents import actions as incident_actions
from incidents.models import Incident, Status, TimelineEntry
from oncall.links import absolute, link_url
from oncall.models import (
    ContactMethod,
    Escalation,
    EscalationPolicy,
    EscalationTarget,
    NotificationRule,
    Page,
    ServicePolicy,
    SeverityVariant,
    TeamChannel,
    Urgency,
)

log = logging.getLogger("alertum.oncall")
Kind = TimelineEntry.Kind
BEAT = Door.BEAT
# Seconds to wait before the next attempt of a page that failed transiently (by attempt).
BACKOFF = (5, 15, 30, 60, 120, 300, 600, 900)


# --- choosing and snapshotting the policy ----------------------------------------------------

def choose_policy(incident: Incident) -> tuple[EscalationPolicy | None, str]:
    """The routing rule's policy wins; else the default policy of the incident's most
    critical service that has one."""
    rule = incident.routing_rule
    if rule is not None and rule.escalation_policy_slug:
        policy = EscalationPolicy.objects.filter(slug=rule.escalation_policy_slug).first()
        if policy is not None:
            return policy, f"routing rule “{rule.name}”"
        log.warning("routing rule %s names unknown escalation policy %r", rule.pk, rule.escalation_policy_slug)
    assigned = (ServicePolicy.objects.filter(service__in=incident.services.all()).select_related("policy", "service")
                .order_by("service__tier", "service__name").first())
    if assigned is not None:
        return assigned.policy, f"service {assigned.service.name}"
    return None, ""


def snapshot(policy: EscalationPolicy, severity: str) -> dict:
    """The policy as it is now, with the severity's variant applied: the escalation runs
    from this copy, so later edits to the policy do not change it."""
    variant = SeverityVariant.objects.filter(policy=policy, severity=severity).first()
    levels = []
    for index, level in enumerate(policy.levels.prefetch_related("targets__user", "targets__schedule",
                                                                 "targets__channel")):
        delay = level.delay_minutes
        if variant is not None and variant.escalate_after_minutes is not None and index > 0:
            delay = variant.escalate_after_minutes
        targets = [{"kind": t.kind, "id": t.subject.pk, "name": str(t.subject)} for t in level.targets.all()]
        levels.append({"number": index + 1, "delay_minutes": delay, "targets": targets})
    repeat_count = policy.repeat_count
    if variant is not None and variant.repeat_count is not None:
        repeat_count = variant.repeat_count
    return {
        "policy": {"id": policy.pk, "name": policy.name, "slug": policy.slug, "team": policy.team.name},
        "levels": levels,
        "repeat_count": repeat_count,
        "repeat_after_minutes": policy.repeat_after_minutes,
        "notify_on_resolve": policy.notify_on_resolve,
        "digest_interval_minutes": policy.digest_interval_minutes,
        "mode": variant.mode if variant else SeverityVariant.Mode.PAGE,
        "urgency": variant.urgency if variant else Urgency.HIGH,
    }


def next_digest_at(after: dt.datetime, minutes: int) -> dt.datetime:
    """The next digest boundary (a multiple of the interval since the epoch): every
    digest-mode incident of a policy in one interval goes out in one message."""
    step = minutes * 60
    ts = int(after.timestamp())
    return dt.datetime.fromtimestamp((ts // step + 1) * step, tz=dt.UTC)


def _minutes(delta: dt.timedelta) -> str:
    total = max(0, round(delta.total_seconds() / 60))
    hours, minutes = divmod(total, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _note(incident: Incident, summary: str, **data) -> None:
    incident_actions.append_entry(incident, Kind.NOTE, actor=None, source=BEAT,
                                  data={"summary": summary, "escalation": True, **data})


# --- start and stop ----------------------------------------------------------------------------

def start_escalation(incident_id: int, *, reason: str = "triggered") -> Escalation | None:
    """Start escalating a triggered incident (idempotent: a running escalation is kept).

    Locks the incident. Without a policy, records that nobody is paged (and an escalation
    row in state no_policy, so the catch-up tick does not retry it). Honours
    `incident.notify_after`: level 1 waits for it. Kicks the engine at the first due time.
    """
    now = timezone.now()
    with transaction.atomic():
        incident = incident_actions.lock_incident(incident_id)
        if incident.status != Status.TRIGGERED:
            return None
        running = Escalation.objects.filter(incident=incident, state=Escalation.State.ACTIVE).first()
        if running is not None:
            return running
        policy, chosen_by = choose_policy(incident)
        if policy is None:
            escalation = Escalation.objects.create(incident=incident, severity=incident.severity,
                                                   state=Escalation.State.NO_POLICY, started_at=now, stopped_at=now,
                                                   stop_reason="no escalation policy")
            _note(incident, "Nobody paged: no escalation policy applies (give the service a default policy, or "
                            "name one in a routing rule).")
            return escalation
        snap = snapshot(policy, incident.severity)
        start = max(now, incident.notify_after) if incident.notify_after else now
        escalation = Escalation(incident=incident, policy=policy, chosen_by=chosen_by, snapshot=snap,
                                severity=incident.severity, urgency=snap["urgency"], mode=snap["mode"], started_at=now)
        if not snap["levels"]:
            escalation.state, escalation.stopped_at = Escalation.State.EXHAUSTED, now
            escalation.stop_reason = "the policy has no levels"
            escalation.save()
            _note(incident, f"Nobody paged: escalation policy “{policy.name}” has no levels.")
            return escalation
        if escalation.mode == SeverityVariant.Mode.DIGEST:
            escalation.next_escalation_at = next_digest_at(start, snap["digest_interval_minutes"])
        else:
            escalation.next_escalation_at = start + dt.timedelta(minutes=snap["levels"][0]["delay_minutes"])
        escalation.save()
        held = start > now
        parts = [f"Escalation policy “{policy.name}” (chosen by {chosen_by}) {reason}."]
        if escalation.mode == SeverityVariant.Mode.DIGEST:
            parts.append(f"{incident.severity} goes into the digest in {_minutes(escalation.next_escalation_at - now)}"
                         " instead of paging.")
        elif held:
            wait = _minutes(escalation.next_escalation_at - now)
            parts.append(f"Paging held until business hours: level 1 in {wait}.")
        elif escalation.next_escalation_at > now:
            parts.append(f"Level 1 in {_minutes(escalation.next_escalation_at - now)}.")
        _note(incident, " ".join(parts), policy=policy.slug, next_at=escalation.next_escalation_at.isoformat(),
              held_until=start.isoformat() if held else None)
        _kick_escalation_on_commit(escalation.pk, escalation.next_escalation_at)
    return escalation


def stop_escalation(incident_id: int, *, state: str, reason: str, actor: User | None = None,
                    source: str = BEAT) -> Escalation | None:
    """Stop the incident's running (or exhausted) escalation: no more levels, pending pages
    cancelled. On resolve, optionally tell everyone who was paged. Locks the escalation,
    its pending pages, then the incident."""
    now = timezone.now()
    with transaction.atomic():
        escalation = (Escalation.objects.select_for_update()
                      .filter(incident_id=incident_id)
                      .exclude(state=Escalation.State.NO_POLICY).order_by("-started_at", "-id").first())
        if escalation is None:
            return None
        was_stopped = escalation.state in (Escalation.State.ACKNOWLEDGED, Escalation.State.RESOLVED)
        if escalation.state == state or (was_stopped and state == Escalation.State.ACKNOWLEDGED):
            return escalation
        cancelled = Page.objects.filter(escalation=escalation, purpose=Page.Purpose.PAGE,
                                        state=Page.State.PENDING).update(state=Page.State.CANCELLED,
                                                                         last_error=f"stopped: {reason}")
        escalation.state = state
        escalation.next_escalation_at = None
        escalation.stopped_at = escalation.stopped_at if was_stopped else now
        escalation.stop_reason = reason
        escalation.save(update_fields=["state", "next_escalation_at", "stopped_at", "stop_reason"])
        incident = incident_actions.lock_incident(incident_id)
        notices = []
        if state == Escalation.State.RESOLVED and escalation.snapshot.get("notify_on_resolve"):
            notices = _resolved_notices(escalation, incident, now)
        if not was_stopped or notices:
            summary = f"Escalation stopped: {reason}."
            if cancelled:
                summary += f" {cancelled} pending notification{'s' if cancelled != 1 else ''} cancelled."
            if notices:
                summary += f" Telling the {len(notices)} paged: it is resolved."
            _note(incident, summary, cancelled=cancelled)
        _kick_pages_on_commit(notices)
    return escalation


def _resolved_notices(escalation: Escalation, incident: Incident, now) -> list[Page]:
    """One 'resolved' notice per person and channel that was actually paged, by the
    method their last page went out on."""
    latest: dict[str, Page] = {}
    for page in Page.objects.filter(escalation=escalation, purpose=Page.Purpose.PAGE,
                                    state=Page.State.SENT).order_by("sent_at", "id"):
        latest[page.target_key] = page
    notices = [Page(escalation=escalation, incident=incident, purpose=Page.Purpose.RESOLVED, target_key=key,
                    recipient_id=page.recipient_id, channel_id=page.channel_id, kind=page.kind, address=page.address,
                    via="resolved notice", urgency=Urgency.LOW, due_at=now, next_attempt_at=now)
               for key, page in latest.items()]
    return Page.objects.bulk_create(notices)


# --- firing levels -------------------------------------------------------------------------------

@dataclass
class Firing:
    """What one level firing produced, for the timeline line."""

    paged: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)


def escalate_due(limit: int = 500) -> int:
    """Beat tick: fire every escalation whose next level is due. One transaction per
    escalation, claimed with SKIP LOCKED, so several workers share the work."""
    fired = 0
    for _ in range(limit):
        with transaction.atomic():
            escalation = (Escalation.objects.select_for_update(skip_locked=True)
                          .filter(next_escalation_at__lte=timezone.now()).order_by("next_escalation_at").first())
            if escalation is None:
                break
            _fire(escalation)
            fired += 1
    return fired


def escalate_one(escalation_id: int) -> bool:
    """The kick at a level's due time: fire it if it is still due and nobody else has it."""
    with transaction.atomic():
        escalation = (Escalation.objects.select_for_update(skip_locked=True)
                      .filter(pk=escalation_id, next_escalation_at__lte=timezone.now()).first())
        if escalation is None:
            return False
        _fire(escalation)
        return True


def _fire(escalation: Escalation) -> None:
    now = timezone.now()
    due = escalation.next_escalation_at
    incident = incident_actions.lock_incident(escalation.incident_id)
    if incident.status != Status.TRIGGERED:
        # The acknowledge/resolve signal was lost (the process died after its commit):
        # the incident row is the truth.
        state = Escalation.State.RESOLVED if incident.status == Status.RESOLVED else Escalation.State.ACKNOWLEDGED
        escalation.state, escalation.next_escalation_at, escalation.stopped_at = state, None, now
        escalation.stop_reason = f"incident is {incident.status}"
        escalation.save(update_fields=["state", "next_escalation_at", "stopped_at", "stop_reason"])
        return
    snap = escalation.snapshot
    levels = snap["levels"]
    if escalation.mode == SeverityVariant.Mode.DIGEST:
        firing = _page_level(escalation, incident, levels[0], repeat=0, now=now, purpose=Page.Purpose.DIGEST)
        escalation.state, escalation.next_escalation_at = Escalation.State.DIGEST, None
        escalation.save(update_fields=["state", "next_escalation_at"])
        _note(incident, "Put into the digest for " + (", ".join(firing.paged) or "nobody") + ".",
              **_firing_data(firing, 1, 0))
        _kick_pages_on_commit(firing.pages)
        return
    index, repeat = escalation.next_level, escalation.repeat
    level = levels[index]
    firing = _page_level(escalation, incident, level, repeat=repeat, now=now, purpose=Page.Purpose.PAGE)
    # Advance from the due time, not from now, so a late tick does not push the rest back.
    if index + 1 < len(levels):
        escalation.next_level = index + 1
        escalation.next_escalation_at = due + dt.timedelta(minutes=levels[index + 1]["delay_minutes"])
    elif repeat < snap.get("repeat_count", 0):
        escalation.next_level, escalation.repeat = 0, repeat + 1
        escalation.next_escalation_at = due + dt.timedelta(minutes=snap.get("repeat_after_minutes", 15))
    else:
        escalation.state, escalation.next_escalation_at = Escalation.State.EXHAUSTED, None
    escalation.save(update_fields=["next_level", "repeat", "state", "next_escalation_at"])
    what = f"Level {level['number']}" + (f" (repeat {repeat})" if repeat else "")
    summary = f"{what} of “{snap['policy']['name']}”: paging " + (", ".join(firing.paged) or "nobody") + "."
    if firing.merged:
        summary += " Already being notified (merged): " + ", ".join(firing.merged) + "."
    if firing.missing:
        summary += " " + " ".join(firing.missing)
    if escalation.next_escalation_at:
        summary += f" Next level in {_minutes(escalation.next_escalation_at - now)} unless acknowledged."
    _note(incident, summary, **_firing_data(firing, level["number"], repeat))
    _kick_pages_on_commit(firing.pages)
    if escalation.next_escalation_at:
        _kick_escalation_on_commit(escalation.pk, escalation.next_escalation_at)


def _firing_data(firing: Firing, level: int, repeat: int) -> dict:
    return {"level": level, "repeat": repeat, "paged": firing.paged, "merged": firing.merged,
            "pages": [p.pk for p in firing.pages]}


def _page_level(escalation, incident, level: dict, *, repeat: int, now, purpose: str) -> Firing:
    """Resolve the level's targets now (schedules: whoever is on call now) and write the
    pages. Users reached twice in one level (directly and through a schedule) get one chain."""
    firing = Firing()
    people: dict[int, tuple[User, str]] = {}
    channels: list[TeamChannel] = []
    for target in level["targets"]:
        if target["kind"] == EscalationTarget.Kind.USER:
            user = User.objects.filter(pk=target["id"], is_active=True).first()
            if user is None:
                firing.missing.append(f"{target['name']} is no longer an active user.")
            else:
                people.setdefault(user.pk, (user, f"level {level['number']}"))
        elif target["kind"] == EscalationTarget.Kind.SCHEDULE:
            on_call = _on_call(target["id"], now)
            if not on_call:
                firing.missing.append(f"Nobody is on call in schedule {target['name']}.")
            for user in on_call:
                people.setdefault(user.pk, (user, f"level {level['number']} · on call in {target['name']}"))
        else:
            channel = TeamChannel.objects.filter(pk=target["id"], active=True).first()
            if channel is None:
                firing.missing.append(f"Channel {target['name']} is gone or inactive.")
            else:
                channels.append(channel)
    for user, via in people.values():
        _page_person(escalation, incident, user, via, level["number"], repeat, now, purpose, firing)
    for channel in channels:
        page = Page(escalation=escalation, incident=incident, purpose=purpose, level=level["number"], repeat=repeat,
                    target_key=f"channel:{channel.pk}", channel=channel, kind=channel.kind, address=channel.address,
                    via=f"level {level['number']} · channel {channel.name}", urgency=escalation.urgency,
                    due_at=now, next_attempt_at=now)
        firing.pages.append(page)
        firing.paged.append(f"{channel.name} ({channel.get_kind_display()})")
    firing.pages = Page.objects.bulk_create(firing.pages)
    return firing


def _on_call(schedule_id: int, at) -> list[User]:
    from oncall.schedules.models import Schedule
    from oncall.schedules.queries import on_call_at

    schedule = Schedule.objects.filter(pk=schedule_id).first()
    return list(on_call_at(schedule, at)) if schedule is not None else []


def person_steps(user: User, urgency: str) -> list[tuple[int, str, str]]:
    """(delay minutes, kind, address) for each step of the person's rules at this
    urgency; a low-urgency page to someone with no low-urgency rules follows the high
    list; someone with no rules at all gets an e-mail at once."""
    rules = list(NotificationRule.objects.filter(user=user, urgency=urgency).select_related("contact_method")
                 .order_by("delay_minutes", "id"))
    if not rules and urgency == Urgency.LOW:
        rules = list(NotificationRule.objects.filter(user=user, urgency=Urgency.HIGH)
                     .select_related("contact_method").order_by("delay_minutes", "id"))
    if rules:
        return [(r.delay_minutes, r.contact_method.kind, r.contact_method.address) for r in rules]
    if user.email:
        return [(0, ContactMethod.Kind.EMAIL, user.email)]
    return []


def _page_person(escalation, incident, user, via, level, repeat, now, purpose, firing: Firing) -> None:
    name = str(user)
    if purpose == Page.Purpose.DIGEST:
        # A digest is a summary to read later: e-mail when the person has one.
        email = (ContactMethod.objects.filter(user=user, kind=ContactMethod.Kind.EMAIL)
                 .values_list("address", flat=True).first() or user.email)
        steps = [(0, ContactMethod.Kind.EMAIL, email)] if email else person_steps(user, Urgency.LOW)[:1]
    else:
        # Someone whose notification chain in this incident is still running is not
        # restarted: the new level merges into the chain they are already on.
        if Page.objects.filter(escalation=escalation, purpose=Page.Purpose.PAGE, recipient=user,
                               state__in=[Page.State.PENDING, Page.State.SENDING]).exists():
            firing.merged.append(name)
            return
        steps = person_steps(user, escalation.urgency)
    if not steps:
        firing.missing.append(f"{name} has no contact methods.")
        return
    for step, (delay, kind, address) in enumerate(steps):
        due = now + dt.timedelta(minutes=delay)
        firing.pages.append(Page(escalation=escalation, incident=incident, purpose=purpose, level=level, repeat=repeat,
                                 target_key=f"user:{user.pk}", step=step, recipient=user, kind=kind, address=address,
                                 via=via, urgency=escalation.urgency, due_at=due, next_attempt_at=due))
    methods = ", ".join(dict.fromkeys(_kind_label(k) for _, k, _ in steps))
    firing.paged.append(f"{name} ({methods})")


def _kind_label(kind: str) -> str:
    return dict(ContactMethod.Kind.choices).get(kind, kind)


# --- sending ----------------------------------------------------------------------------------

def send_page(page_id: int) -> str | None:
    """Claim one page and send it; returns the outcome (sent, failed, retry) or None when
    the page was not ours to send (someone else has it, it is done, or not yet due)."""
    claimed = _claim(page_id)
    if claimed is None:
        return None
    page, batch = claimed
    message = build_message(page, batch)
    result = notify.send(page.kind, _target(page), message)
    return _record(page, batch, result)


def send_due_pages(limit: int = 1000) -> int:
    """Send every page that is due now: pending past its time, or sending past its lease
    (the worker that claimed it died). The sweeper tick; also what tests drive."""
    now = timezone.now()
    ids = list(Page.objects.filter(Q(state=Page.State.PENDING, next_attempt_at__lte=now)
                                   | Q(state=Page.State.SENDING, lease_until__lt=now))
               .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    return sum(1 for pk in ids if send_page(pk) is not None)


def _claim(page_id: int) -> tuple[Page, list[Page]] | None:
    now = timezone.now()
    lease = dt.timedelta(seconds=settings.ONCALL_PAGE_LEASE)
    with transaction.atomic():
        page = (Page.objects.select_for_update(skip_locked=True)
                .filter(Q(state=Page.State.PENDING, next_attempt_at__lte=now)
                        | Q(state=Page.State.SENDING, lease_until__lt=now), pk=page_id).first())
        if page is None:
            return None
        stopped = Escalation.objects.filter(pk=page.escalation_id, state__in=[
            Escalation.State.ACKNOWLEDGED, Escalation.State.RESOLVED]).exists()
        if page.purpose == Page.Purpose.PAGE and stopped:
            page.state, page.last_error = Page.State.CANCELLED, "stopped before it was sent"
            page.save(update_fields=["state", "last_error"])
            return None
        batch = [page]
        if page.purpose == Page.Purpose.DIGEST:
            # One digest message per destination: take every other due digest page for it.
            batch += list(Page.objects.select_for_update(skip_locked=True).filter(
                purpose=Page.Purpose.DIGEST, state=Page.State.PENDING, next_attempt_at__lte=now, kind=page.kind,
                address=page.address).exclude(pk=page.pk).order_by("id")[:200])
        for row in batch:
            row.state, row.lease_until, row.attempts = Page.State.SENDING, now + lease, row.attempts + 1
        Page.objects.bulk_update(batch, ["state", "lease_until", "attempts"])
    return page, batch


def _target(page: Page):
    if page.kind == "webhook":
        secret = ""
        if page.channel_id:
            secret = TeamChannel.objects.filter(pk=page.channel_id).values_list("secret", flat=True).first() or ""
        elif page.recipient_id:
            secret = (ContactMethod.objects.filter(user_id=page.recipient_id, kind="webhook", address=page.address)
                      .values_list("secret", flat=True).first() or "")
        return notify.WebhookEndpoint(url=page.address, secret=secret)
    return page.address


def build_message(page: Page, batch: list[Page] | None = None) -> notify.Message:
    incident = Incident.objects.select_related("team").get(pk=page.incident_id)
    services = ", ".join(incident.services.values_list("name", flat=True))
    open_url = absolute(reverse("incidents:workspace", args=[incident.pk]))
    fields = {"Team": incident.team.name, "Status": incident.get_status_display()}
    if services:
        fields["Service"] = services
    if page.purpose == Page.Purpose.DIGEST:
        incidents = Incident.objects.filter(pk__in={p.incident_id for p in batch or [page]}).order_by("number")
        lines = [f"{i.reference} [{i.severity}] {i.title} — {i.get_status_display()}: "
                 f"{absolute(reverse('incidents:workspace', args=[i.pk]))}" for i in incidents]
        return notify.Message(title=f"Digest: {len(lines)} low-severity incident{'s' if len(lines) != 1 else ''}",
                              text="\n".join(lines), event="incident.digest", key=page.key,
                              urls={"Open Alertum": absolute(reverse("incidents:list"))})
    if page.purpose == Page.Purpose.RESOLVED:
        return notify.Message(title=f"Resolved: {incident.title}", severity=incident.severity,
                              reference=incident.reference, event="incident.resolved", key=page.key,
                              text=f"{incident.reference} is resolved. Nothing more to do.",
                              urls={"Open incident": open_url}, fields=fields)
    return notify.Message(
        title=incident.title, severity=incident.severity, reference=incident.reference, event="incident.triggered",
        key=page.key, fields={**fields, "Paged": page.via},
        text=(incident.description[:500] or f"{incident.reference} needs a responder.")
        + f"\nYou are paged: {page.via}.",
        urls={"Acknowledge": link_url(incident.pk, "acknowledge", page.pk),
              "Resolve": link_url(incident.pk, "resolve", page.pk), "Open incident": open_url})


def _record(page: Page, batch: list[Page], result: notify.Result) -> str:
    now = timezone.now()
    outcome = "sent" if result.delivered else "failed"
    with transaction.atomic():
        rows = list(Page.objects.select_for_update().filter(pk__in=[p.pk for p in batch]).order_by("id"))
        retry_at = None
        for row in rows:
            if row.state == Page.State.SENT:
                continue  # another worker re-sent it after our lease ran out and recorded first
            if result.delivered:
                row.state, row.sent_at, row.provider_id, row.last_error = (Page.State.SENT, now,
                                                                           result.provider_id[:200], "")
            elif result.permanent or row.attempts >= settings.ONCALL_PAGE_MAX_ATTEMPTS:
                row.state, row.last_error = Page.State.FAILED, result.error[:500]
            else:
                wait = max(BACKOFF[min(row.attempts, len(BACKOFF)) - 1], result.retry_after or 0)
                retry_at = now + dt.timedelta(seconds=wait)
                row.state, row.next_attempt_at, row.last_error = Page.State.PENDING, retry_at, result.error[:500]
                outcome = "retry"
            row.lease_until = None
        Page.objects.bulk_update(rows, ["state", "sent_at", "provider_id", "last_error", "next_attempt_at",
                                        "lease_until"])
        for row in rows:
            incident = incident_actions.lock_incident(row.incident_id)
            incident_actions.append_entry(incident, Kind.NOTIFICATION, actor=None, source=BEAT,
                                          data=_outcome_data(row, result, retry_at))
        if retry_at is not None:
            _kick_pages_on_commit([r for r in rows if r.state == Page.State.PENDING])
    return outcome


def _outcome_data(page: Page, result: notify.Result, retry_at) -> dict:
    who = str(page.recipient) if page.recipient_id else (page.channel.name if page.channel_id else page.address)
    how = _kind_label(page.kind)
    what = {Page.Purpose.PAGE: "Paged", Page.Purpose.DIGEST: "Digest to",
            Page.Purpose.RESOLVED: "Resolved notice to"}[page.purpose]
    if page.state == Page.State.SENT:
        summary = f"{what} {who} by {how} ({page.via}): sent."
    elif page.state == Page.State.PENDING:
        summary = (f"{what} {who} by {how} ({page.via}) failed, will retry in "
                   f"{_minutes(retry_at - timezone.now()) if retry_at else 'a moment'}: {result.error}")
    else:
        summary = f"{what} {who} by {how} ({page.via}) failed: {result.error}"
    return {"summary": summary, "page": page.pk, "state": page.state, "kind": page.kind, "purpose": page.purpose,
            "recipient": page.recipient_id, "channel": page.channel_id, "level": page.level, "repeat": page.repeat,
            "step": page.step, "attempt": page.attempts, "error": result.error[:300],
            "permanent": bool(result.permanent) if not result.delivered else None}


# --- catch-up and kicks --------------------------------------------------------------------------

def start_missed(window_hours: int = 24, limit: int = 200) -> int:
    """Start escalations for triggered incidents whose trigger signal was lost (the
    declaring process died between its commit and the listener)."""
    since = timezone.now() - dt.timedelta(hours=window_hours)
    ids = list(Incident.objects.filter(status=Status.TRIGGERED, created_at__gte=since, escalations=None)
               .values_list("pk", flat=True)[:limit])
    return sum(1 for pk in ids if start_escalation(pk, reason="started late (catch-up)") is not None)


def _kick_escalation_on_commit(escalation_id: int, when) -> None:
    if not settings.ONCALL_KICKS:
        return

    def kick():
        from oncall.tasks import escalate

        escalate.apply_async(args=[escalation_id], eta=when if when > timezone.now() else None)

    transaction.on_commit(kick)


def _kick_pages_on_commit(pages: list[Page]) -> None:
    """Send each page at its due time (the sweeper is the safety net for lost kicks)."""
    if not pages or not settings.ONCALL_KICKS:
        return
    by_due: dict = {}
    for page in pages:
        by_due.setdefault(page.next_attempt_at, []).append(page.pk)

    def kick():
        from oncall.tasks import send_pages

        now = timezone.now()
        for due, ids in by_due.items():
            send_pages.apply_async(args=[ids], eta=due if due > now else None)

    transaction.on_commit(kick)
