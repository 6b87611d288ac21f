"""The escalation engine: start an escalation when an incident triggers, fire its levels
when they fall due, write one Page row per notification, send each page exactly once,
and stop on acknowledge or resolve.

All state is in the database (GoAlert's way). Work is claimed, never assigned:
- `escalate_due` (beat tick, and a kick per due instant) claims escalations with
  `next_escalation_at <= now` using SELECT … FOR UPDATE SKIP LOCKED, 50 per transaction,
  then sends the pages it just made that are due now;
- `send_pages` claims up to 50 pages (pending → sending, with a lease) in one short
  transaction, sends them concurrently outside any transaction, then records the
  outcomes in one transaction;
- `sweep_pages` (beat tick) re-sends pending pages whose kick was lost and sending pages
  whose worker died (lease expired).

Lock order: escalation, then page, then the incident (`incidents.actions.lock_incident`,
taken last because appending to the timeline needs it; a batch locks its incidents in id
order). Creating an escalation locks the incident first and checks for a running one
under that lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from alertum.core import notify
from alertum.core.bulk import update_grouped
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
        _kick_escalations_on_commit([escalation.next_escalation_at])
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

# Due escalations are fired in batches: one transaction claims up to this many (SKIP
# LOCKED), locks their incidents, writes every page row and timeline note in a few
# statements. A full batch recruits another worker first (see _recruit), so a storm of
# a thousand levels due at one instant is shared by every paging worker.
ESCALATION_BATCH = 50


@dataclass
class Firing:
    """What one level firing produced, for the timeline line."""

    level: int = 0
    repeat: int = 0
    paged: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)


class _Lookups:
    """Targets resolved once per batch: a storm pages the same few people, schedules and
    channels for many incidents at the same instant."""

    def __init__(self, now):
        self.now = now
        self._cache: dict[tuple, object] = {}

    def _get(self, key: tuple, load):
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def user(self, pk: int) -> User | None:
        return self._get(("user", pk), lambda: User.objects.filter(pk=pk, is_active=True).first())

    def channel(self, pk: int) -> TeamChannel | None:
        return self._get(("channel", pk), lambda: TeamChannel.objects.filter(pk=pk, active=True).first())

    def on_call(self, schedule_id: int, at) -> list[User]:
        return self._get(("schedule", schedule_id, at), lambda: _on_call(schedule_id, at))

    def steps(self, user: User, urgency: str) -> list[tuple[int, str, str]]:
        return self._get(("steps", user.pk, urgency), lambda: person_steps(user, urgency))

    def digest_steps(self, user: User) -> list[tuple[int, str, str]]:
        def load():
            # A digest is a summary to read later: e-mail when the person has one.
            email = (ContactMethod.objects.filter(user=user, kind=ContactMethod.Kind.EMAIL)
                     .values_list("address", flat=True).first() or user.email)
            return [(0, ContactMethod.Kind.EMAIL, email)] if email else person_steps(user, Urgency.LOW)[:1]

        return self._get(("digest", user.pk), load)


def escalate_due(limit: int = 5000, *, send: bool = True) -> int:
    """Fire every escalation whose next level is due, or due within
    ONCALL_FIRE_AHEAD_SECONDS, a batch per transaction, claimed with SKIP LOCKED so that
    several workers share the work. The beat tick and the kicks (that much ahead of the
    due times) both end here. A level fired ahead writes its pages with its due time; they
    are kicked for that time, and an acknowledgement before it cancels them.

    With `send`, the worker sends a batch's pages that are due now itself, right after
    the batch commits and before it claims the next one: firing and sending overlap, so
    the first pages of a storm go out within a batch's time instead of after the whole
    storm has fired. (Should it die in between, the sweeper sends them.)"""
    fired = 0
    while fired < limit:
        with transaction.atomic():
            batch = list(Escalation.objects.select_for_update(skip_locked=True)
                         .filter(next_escalation_at__lte=timezone.now() + _ahead())
                         .order_by("next_escalation_at", "pk")[:min(ESCALATION_BATCH, limit - fired)])
            if not batch:
                break
            if len(batch) == ESCALATION_BATCH:
                _recruit()
            pages = _fire_batch(batch, kick_due_pages=not send)
        fired += len(batch)
        if send:
            now = timezone.now()
            due = [page.pk for page in pages if page.next_attempt_at <= now]
            if due:
                send_page_ids(due)
    return fired


def _fire_batch(escalations: list[Escalation], *, kick_due_pages: bool = True) -> list[Page]:
    """Fire the next level of each (locked) escalation: lock the incidents, resolve the
    targets, then write all page rows, timeline notes and escalation rows at once.
    Returns the pages; those due later (or, with `kick_due_pages`, all) are kicked."""
    now = timezone.now()
    incidents = {i.pk: i for i in Incident.objects.select_for_update()
                 .filter(pk__in={e.incident_id for e in escalations}).order_by("pk")}
    lookups = _Lookups(now)
    # People whose notification chain in an incident is still running: a new level merges
    # into it instead of restarting it.
    running = set(Page.objects.filter(escalation__in=escalations, purpose=Page.Purpose.PAGE,
                                      state__in=[Page.State.PENDING, Page.State.SENDING])
                  .values_list("escalation_id", "recipient_id"))
    fired: list[tuple[Incident, Firing, str]] = []
    for escalation in escalations:
        incident = incidents[escalation.incident_id]
        due = escalation.next_escalation_at
        if incident.status != Status.TRIGGERED:
            # The acknowledge/resolve signal was lost (the process died after its commit):
            # the incident row is the truth.
            escalation.state = (Escalation.State.RESOLVED if incident.status == Status.RESOLVED
                                else Escalation.State.ACKNOWLEDGED)
            escalation.next_escalation_at, escalation.stopped_at = None, now
            escalation.stop_reason = f"incident is {incident.status}"
            continue
        snap = escalation.snapshot
        levels = snap["levels"]
        if escalation.mode == SeverityVariant.Mode.DIGEST:
            firing = _page_level(escalation, incident, levels[0], repeat=0, due=due, purpose=Page.Purpose.DIGEST,
                                 lookups=lookups, running=running)
            escalation.state, escalation.next_escalation_at = Escalation.State.DIGEST, None
            fired.append((incident, firing, "digest"))
            continue
        index, repeat = escalation.next_level, escalation.repeat
        level = levels[index]
        firing = _page_level(escalation, incident, level, repeat=repeat, due=due, purpose=Page.Purpose.PAGE,
                             lookups=lookups, running=running)
        # Advance from the due time, not from now, so a late tick does not push the rest back.
        if index + 1 < len(levels):
            escalation.next_level = index + 1
            escalation.next_escalation_at = due + dt.timedelta(minutes=levels[index + 1]["delay_minutes"])
        elif repeat < snap.get("repeat_count", 0):
            escalation.next_level, escalation.repeat = 0, repeat + 1
            escalation.next_escalation_at = due + dt.timedelta(minutes=snap.get("repeat_after_minutes", 15))
        else:
            escalation.state, escalation.next_escalation_at = Escalation.State.EXHAUSTED, None
        what = f"Level {level['number']}" + (f" (repeat {repeat})" if repeat else "")
        summary = f"{what} of “{snap['policy']['name']}”: paging " + (", ".join(firing.paged) or "nobody") + "."
        if firing.merged:
            summary += " Already being notified (merged): " + ", ".join(firing.merged) + "."
        if firing.missing:
            summary += " " + " ".join(firing.missing)
        if escalation.next_escalation_at:
            summary += (f" Next level in {_minutes(escalation.next_escalation_at - max(now, due))} "
                        "unless acknowledged.")
        fired.append((incident, firing, summary))

    pages = Page.objects.bulk_create([page for _, firing, _ in fired for page in firing.pages])
    notes = []
    for incident, firing, summary in fired:
        if summary == "digest":
            summary = "Put into the digest for " + (", ".join(firing.paged) or "nobody") + "."
        data = _firing_data(firing, firing.level, firing.repeat)
        notes.append((incident, Kind.NOTE, {"summary": summary, "escalation": True, **data}))
    incident_actions.append_entries(notes, actor=None, source=BEAT)
    update_grouped(escalations, ["next_level", "repeat", "state", "next_escalation_at", "stopped_at", "stop_reason"])
    _kick_pages_on_commit(pages if kick_due_pages else [page for page in pages if page.next_attempt_at > now])
    _kick_escalations_on_commit([e.next_escalation_at for e in escalations if e.next_escalation_at])
    return pages


def _firing_data(firing: Firing, level: int, repeat: int) -> dict:
    return {"level": level, "repeat": repeat, "paged": firing.paged, "merged": firing.merged,
            "pages": [p.pk for p in firing.pages]}


def _page_level(escalation, incident, level: dict, *, repeat: int, due, purpose: str, lookups: _Lookups,
                running: set) -> Firing:
    """Resolve the level's targets (schedules: whoever is on call now) and make its pages,
    unsaved. Users reached twice in one level (directly and through a schedule) get one
    chain."""
    firing = Firing(level=level["number"], repeat=repeat)
    people: dict[int, tuple[User, str]] = {}
    channels: list[TeamChannel] = []
    for target in level["targets"]:
        if target["kind"] == EscalationTarget.Kind.USER:
            user = lookups.user(target["id"])
            if user is None:
                firing.missing.append(f"{target['name']} is no longer an active user.")
            else:
                people.setdefault(user.pk, (user, f"level {level['number']}"))
        elif target["kind"] == EscalationTarget.Kind.SCHEDULE:
            on_call = lookups.on_call(target["id"], due)  # whoever is on call when the level is due
            if not on_call:
                firing.missing.append(f"Nobody is on call in schedule {target['name']}.")
            for user in on_call:
                people.setdefault(user.pk, (user, f"level {level['number']} · on call in {target['name']}"))
        else:
            channel = lookups.channel(target["id"])
            if channel is None:
                firing.missing.append(f"Channel {target['name']} is gone or inactive.")
            else:
                channels.append(channel)
    for user, via in people.values():
        _page_person(escalation, incident, user, via, due, purpose, firing, lookups, running)
    for channel in channels:
        firing.pages.append(Page(escalation=escalation, incident=incident, purpose=purpose, level=firing.level,
                                 repeat=repeat, target_key=f"channel:{channel.pk}", channel=channel, kind=channel.kind,
                                 address=channel.address, via=f"level {level['number']} · channel {channel.name}",
                                 urgency=escalation.urgency, due_at=due, next_attempt_at=due))
        firing.paged.append(f"{channel.name} ({channel.get_kind_display()})")
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


def _page_person(escalation, incident, user, via, due, purpose, firing: Firing, lookups: _Lookups,
                 running: set) -> None:
    name = str(user)
    if purpose == Page.Purpose.DIGEST:
        steps = lookups.digest_steps(user)
    else:
        if (escalation.pk, user.pk) in running:
            firing.merged.append(name)
            return
        steps = lookups.steps(user, escalation.urgency)
    if not steps:
        firing.missing.append(f"{name} has no contact methods.")
        return
    for step, (delay, kind, address) in enumerate(steps):
        # Due when the rules say, counted from the level's due time; a level fired late
        # still keeps the person's spacing between steps.
        at = due + dt.timedelta(minutes=delay)
        send_at = at if step == 0 else max(at, lookups.now + dt.timedelta(minutes=delay))
        firing.pages.append(Page(escalation=escalation, incident=incident, purpose=purpose, level=firing.level,
                                 repeat=firing.repeat, target_key=f"user:{user.pk}", step=step, recipient=user,
                                 kind=kind, address=address, via=via, urgency=escalation.urgency, due_at=at,
                                 next_attempt_at=send_at))
    methods = ", ".join(dict.fromkeys(_kind_label(k) for _, k, _ in steps))
    firing.paged.append(f"{name} ({methods})")


def _kind_label(kind: str) -> str:
    return dict(ContactMethod.Kind.choices).get(kind, kind)


# --- sending ----------------------------------------------------------------------------------

# Pages are claimed in batches (pending and due, or sending past a dead worker's lease;
# SKIP LOCKED), sent concurrently on a small thread pool (a chat or SMS API answers in
# 100-500 ms; one at a time a storm would queue for minutes), and recorded in one
# transaction. The throttle is counted in the claiming thread, where the database is.
PAGE_BATCH = 50
_POOL = {"pid": 0, "pool": None}
_POOL_LOCK = threading.Lock()


def _send_pool() -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if _POOL["pool"] is None or _POOL["pid"] != os.getpid():
            _POOL["pool"] = ThreadPoolExecutor(max_workers=settings.ONCALL_SEND_THREADS,
                                               thread_name_prefix="alertum-page")
            _POOL["pid"] = os.getpid()
        return _POOL["pool"]


def send_page(page_id: int) -> str | None:
    """Claim one page and send it; returns the outcome (sent, failed, retry) or None when
    the page was not ours to send (someone else has it, it is done, or not yet due)."""
    outcomes = send_pages(Q(pk=page_id))
    return outcomes[0] if outcomes else None


def send_page_ids(page_ids: list[int]) -> list[str]:
    """The kick: claim and send these pages, those still due and not taken by another."""
    return send_pages(Q(pk__in=page_ids), size=max(len(page_ids), 1))


def send_due_pages(limit: int = 1000) -> int:
    """Send every page that is due now: pending past its time, or sending past its lease
    (the worker that claimed it died). The sweeper tick; also what tests drive."""
    done = 0
    while done < limit:
        units, cancelled = _claim_batch(Q(), min(PAGE_BATCH, limit - done))
        if not units and not cancelled:
            break
        done += len(_send_units(units)) + cancelled
    return done


def send_pages(where: Q, size: int = PAGE_BATCH) -> list[str]:
    units, _ = _claim_batch(where, size)
    return _send_units(units)


def _due(now) -> Q:
    return Q(state=Page.State.PENDING, next_attempt_at__lte=now) | Q(state=Page.State.SENDING, lease_until__lt=now)


def _claim_batch(where: Q, size: int) -> tuple[list[list[Page]], int]:
    """Claim up to `size` due pages (pending → sending, with a lease): the units to send
    (one message each; a digest takes every other due digest page for its destination)
    and how many pages were cancelled because their escalation stopped."""
    now = timezone.now()
    lease = dt.timedelta(seconds=settings.ONCALL_PAGE_LEASE)
    with transaction.atomic():
        rows = list(Page.objects.select_for_update(skip_locked=True).filter(where).filter(_due(now))
                    .order_by("next_attempt_at", "id")[:size])
        if not rows:
            return [], 0
        stopped = set(Escalation.objects.filter(
            pk__in={r.escalation_id for r in rows},
            state__in=[Escalation.State.ACKNOWLEDGED, Escalation.State.RESOLVED]).values_list("pk", flat=True))
        cancelled, units, digests = [], [], {}
        taken = {r.pk for r in rows}
        for row in rows:
            if row.purpose == Page.Purpose.PAGE and row.escalation_id in stopped:
                row.state, row.last_error = Page.State.CANCELLED, "stopped before it was sent"
                cancelled.append(row)
            elif row.purpose == Page.Purpose.DIGEST:
                # One digest message per destination.
                key = (row.kind, row.address)
                if key in digests:
                    digests[key].append(row)
                    continue
                unit = digests[key] = [row]
                siblings = list(Page.objects.select_for_update(skip_locked=True).filter(
                    purpose=Page.Purpose.DIGEST, state=Page.State.PENDING, next_attempt_at__lte=now, kind=row.kind,
                    address=row.address).exclude(pk__in=taken).order_by("id")[:200])
                taken.update(p.pk for p in siblings)
                unit += siblings
                units.append(unit)
            else:
                units.append([row])
        claimed = [page for unit in units for page in unit]
        for row in claimed:
            row.state, row.lease_until, row.attempts = Page.State.SENDING, now + lease, row.attempts + 1
        Page.objects.filter(pk__in=[row.pk for row in claimed]).update(
            state=Page.State.SENDING, lease_until=now + lease, attempts=F("attempts") + 1)
        update_grouped(cancelled, ["state", "last_error"])
    return units, len(cancelled)


def _send_units(units: list[list[Page]]) -> list[str]:
    if not units:
        return []
    incidents = (Incident.objects.select_related("team").prefetch_related("services")
                 .in_bulk({page.incident_id for unit in units for page in unit}))
    secrets: dict = {}
    jobs = []
    for unit in units:
        page = unit[0]
        target = _target(page, secrets)
        message = build_message(page, unit, incidents=incidents)
        jobs.append((page.kind, target, message, notify.admit(page.kind, target)))
    if len(jobs) == 1:
        kind, target, message, refused = jobs[0]
        results = [refused or notify.send(kind, target, message, throttle=False)]
    else:
        pool = _send_pool()
        futures = [None if refused else pool.submit(notify.send, kind, target, message, throttle=False)
                   for kind, target, message, refused in jobs]
        results = [refused or future.result() for (_, _, _, refused), future in zip(jobs, futures, strict=True)]
    return _record(list(zip(units, results, strict=True)))


def _target(page: Page, secrets: dict):
    if page.kind == "webhook":
        key = (page.channel_id, page.recipient_id, page.address)
        if key not in secrets:
            secret = ""
            if page.channel_id:
                secret = TeamChannel.objects.filter(pk=page.channel_id).values_list("secret", flat=True).first() or ""
            elif page.recipient_id:
                secret = (ContactMethod.objects.filter(user_id=page.recipient_id, kind="webhook",
                                                       address=page.address)
                          .values_list("secret", flat=True).first() or "")
            secrets[key] = secret
        return notify.WebhookEndpoint(url=page.address, secret=secrets[key])
    return page.address


def build_message(page: Page, batch: list[Page] | None = None, *, incidents: dict | None = None) -> notify.Message:
    incident = (incidents or {}).get(page.incident_id) or (
        Incident.objects.select_related("team").prefetch_related("services").get(pk=page.incident_id))
    services = ", ".join(service.name for service in incident.services.all())
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


def _record(sent: list[tuple[list[Page], notify.Result]]) -> list[str]:
    """Record each unit's outcome on its pages and on the incidents' timelines, in one
    transaction; transient failures go back to pending with a backoff."""
    now = timezone.now()
    outcomes, entries, retrying = [], [], []
    with transaction.atomic():
        rows = {row.pk: row for row in Page.objects.select_for_update(of=("self",))
                .select_related("recipient", "channel")
                .filter(pk__in=[page.pk for unit, _ in sent for page in unit]).order_by("id")}
        for unit, result in sent:
            outcome = "sent" if result.delivered else "failed"
            for page in unit:
                row = rows[page.pk]
                if row.state == Page.State.SENT:
                    continue  # another worker re-sent it after our lease ran out and recorded first
                retry_at = None
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
                    retrying.append(row)
                row.lease_until = None
                entries.append((row, result, retry_at))
            outcomes.append(outcome)
        update_grouped(list(rows.values()), ["state", "sent_at", "provider_id", "last_error", "next_attempt_at",
                                             "lease_until"])
        incidents = {i.pk: i for i in Incident.objects.select_for_update()
                     .filter(pk__in={row.incident_id for row, _, _ in entries}).order_by("pk")}
        incident_actions.append_entries(
            [(incidents[row.incident_id], Kind.NOTIFICATION, _outcome_data(row, result, retry_at))
             for row, result, retry_at in entries], actor=None, source=BEAT)
        _kick_pages_on_commit(retrying)
    return outcomes


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


def _ahead() -> dt.timedelta:
    """How long before its due time a level is fired (ONCALL_FIRE_AHEAD_SECONDS)."""
    return dt.timedelta(seconds=max(settings.ONCALL_FIRE_AHEAD_SECONDS, 0))


def _kick_escalations_on_commit(times: list) -> None:
    """After commit, make sure a worker looks for due levels at each of these times. The
    times are rounded up to ONCALL_KICK_QUANTUM_MS and each instant is kicked once per
    process (and once across processes while the cache remembers it): 1,000 levels due
    in the same quarter second are one task, not 1,000."""
    if not times or not settings.ONCALL_KICKS:
        return
    step = max(settings.ONCALL_KICK_QUANTUM_MS, 1) / 1000
    ahead = _ahead().total_seconds()
    instants = sorted({math.ceil((when.timestamp() - ahead) / step) * step for when in times})

    def kick():
        from oncall.tasks import escalate

        now = time.time()
        for instant in instants:
            if instant > now and not cache.add(f"oncall:kick:{instant:.3f}", 1, timeout=int(instant - now) + 60):
                continue  # another commit already kicked this instant
            eta = dt.datetime.fromtimestamp(instant, tz=dt.UTC)
            escalate.apply_async(args=[[]], eta=eta if instant > now else None)

    transaction.on_commit(kick)


def _recruit() -> None:
    """A full batch means more is due: ask another worker to join (SKIP LOCKED shares)."""
    if settings.ONCALL_KICKS:
        from oncall.tasks import escalate

        escalate.apply_async(args=[[]])


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
