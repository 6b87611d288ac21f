"""Escalation under the controlled clock: levels fire at their delays, acknowledge and
resolve stop them, policies repeat, severities vary, snapshots hold, paging can be held.

Every page goes to a real HTTP server on 127.0.0.1; the tests read who was paged from the
requests it received and from the incident's timeline."""

import datetime as dt
from collections import Counter

import pytest

from alertum.core.models import Door
from incidents import actions as incident_actions
from incidents.models import RoutingRule, TimelineEntry
from oncall.engine import escalate_due, send_due_pages
from oncall.models import Escalation, EscalationLevel, Page
from tests.core.notify import conftest as notify_servers
from tests.oncall import escalation_factories as factories
from tests.oncall.escalation_factories import paths, run_engine

# Fixtures shared with the other escalation modules (tests/oncall/conftest.py is the schedules').
receiver, contact, make_policy, slack_channel, variant, _no_kicks = (
    factories.receiver, factories.contact, factories.make_policy, factories.slack_channel, factories.variant,
    factories._no_kicks)
smtp_factory, smtp_server = notify_servers.smtp_factory, notify_servers.smtp_server

pytestmark = pytest.mark.django_db
MIN = 60


@pytest.fixture
def trigger(make_incident, django_capture_on_commit_callbacks):
    """Declare an incident with its on-commit effects run (the trigger signal starts
    escalation), as the web door does."""

    def go(severity="P1", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return make_incident(severity=severity, severity_reason="set by the test", **kwargs)

    return go


@pytest.fixture
def act(django_capture_on_commit_callbacks, cast):
    def go(verb, incident, who="carol"):
        with django_capture_on_commit_callbacks(execute=True):
            return getattr(incident_actions, f"{verb}_incident")(incident, actor=cast[who], source=Door.WEB)

    return go


@pytest.fixture
def three_levels(cast, services, contact, make_policy, slack_channel):
    """alice now, bob after 10 min, the Payments Slack channel 10 min after that."""
    contact(cast["alice"])
    contact(cast["bob"])
    return make_policy([(0, [cast["alice"]]), (10, [cast["bob"]]), (10, [slack_channel])],
                       service=services["checkout"])


def notes(incident) -> list[str]:
    return [e.data.get("summary", "") for e in TimelineEntry.objects.filter(incident=incident).order_by("seq")
            if e.kind in ("note", "notification")]


def test_level_one_pages_at_once_and_level_two_exactly_at_its_delay(clock, trigger, three_levels, receiver):
    incident = trigger()
    run_engine()
    assert paths(receiver) == ["/alice/slack"]

    clock.shift(10 * MIN - 1)
    run_engine()
    assert paths(receiver) == ["/alice/slack"]

    clock.shift(1)
    run_engine()
    assert paths(receiver) == ["/alice/slack", "/bob/slack"]

    clock.shift(10 * MIN)
    run_engine()
    assert paths(receiver) == ["/alice/slack", "/bob/slack", "/slack/payments"]
    assert Escalation.objects.get(incident=incident).state == Escalation.State.EXHAUSTED
    body = receiver.requests[0].json()
    assert body["blocks"][0]["text"]["text"] == f"[P1] {incident.reference}: Checkout errors"
    assert [b["text"]["text"] for b in body["blocks"][3]["elements"]] == ["Acknowledge", "Resolve", "Open incident"]
    assert any("Level 2 of “Payments Default”: paging Bob" in n for n in notes(incident))
    assert "Paged Alice by Slack (incoming webhook) (level 1): sent." in notes(incident)


def test_running_the_tick_again_pages_nobody_twice(clock, trigger, three_levels, receiver):
    trigger()
    for _ in range(3):
        run_engine()
    clock.shift(10 * MIN)
    for _ in range(3):
        run_engine()
    assert paths(receiver) == ["/alice/slack", "/bob/slack"]
    assert Page.objects.filter(state=Page.State.SENT).count() == 2


def test_acknowledge_stops_the_escalation(clock, trigger, act, three_levels, receiver):
    incident = trigger()
    run_engine()
    clock.shift(5 * MIN)
    act("acknowledge", incident)
    clock.shift(60 * MIN)
    run_engine()
    assert paths(receiver) == ["/alice/slack"]
    escalation = Escalation.objects.get(incident=incident)
    assert (escalation.state, escalation.next_escalation_at) == (Escalation.State.ACKNOWLEDGED, None)
    assert "Escalation stopped: acknowledged." in notes(incident)


def test_acknowledge_cancels_later_steps_of_personal_rules(clock, trigger, act, cast, contact, make_policy, services,
                                                          receiver):
    contact(cast["alice"], "slack")
    contact(cast["alice"], "webhook", delay=2)
    make_policy([(0, [cast["alice"]])], service=services["checkout"])
    incident = trigger()
    run_engine()
    act("acknowledge", incident)
    clock.shift(5 * MIN)
    run_engine()
    assert paths(receiver) == ["/alice/slack"]
    assert Page.objects.get(step=1).state == Page.State.CANCELLED


def test_the_whole_policy_repeats_n_times(clock, trigger, cast, contact, make_policy, services, receiver):
    contact(cast["alice"])
    contact(cast["bob"])
    make_policy([(0, [cast["alice"]]), (5, [cast["bob"]])], repeat=2, repeat_after_minutes=10,
                service=services["checkout"])
    trigger()
    for _ in range(12):  # an hour in 5-minute beats
        run_engine()
        clock.shift(5 * MIN)
    # 09:00 alice, 09:05 bob, 09:15 alice, 09:20 bob, 09:30 alice, 09:35 bob, then no more.
    assert paths(receiver) == ["/alice/slack", "/bob/slack"] * 3
    assert list(Page.objects.order_by("id").values_list("level", "repeat")) == [(1, 0), (2, 0), (1, 1), (2, 1),
                                                                                 (1, 2), (2, 2)]


def test_resolve_stops_everything_and_tells_everyone_who_was_paged(clock, trigger, act, three_levels, receiver):
    incident = trigger()
    run_engine()
    clock.shift(10 * MIN)
    run_engine()
    act("resolve", incident)
    clock.shift(60 * MIN)
    run_engine()
    # The two notices are sent concurrently: either may arrive first.
    assert paths(receiver)[:2] == ["/alice/slack", "/bob/slack"]
    assert sorted(paths(receiver)[2:]) == ["/alice/slack", "/bob/slack"]
    notice = receiver.requests[2].json()
    assert notice["blocks"][0]["text"]["text"] == f"[P1] {incident.reference}: Resolved: Checkout errors"
    assert Escalation.objects.get(incident=incident).state == Escalation.State.RESOLVED
    assert any(n.startswith("Escalation stopped: resolved. Telling the 2 paged") for n in notes(incident))


def test_resolve_notice_is_optional(clock, trigger, act, three_levels, receiver):
    three_levels.notify_on_resolve = False
    three_levels.save()
    incident = trigger()
    run_engine()
    act("resolve", incident)
    run_engine()
    assert paths(receiver) == ["/alice/slack"]


def test_p1_variant_escalates_after_five_minutes(clock, trigger, three_levels, variant, receiver):
    variant(three_levels, "P1", escalate_after_minutes=5)
    trigger(severity="P1")
    run_engine()
    clock.shift(5 * MIN)
    run_engine()
    clock.shift(5 * MIN)
    run_engine()
    assert paths(receiver) == ["/alice/slack", "/bob/slack", "/slack/payments"]


def test_p3_variant_sends_a_digest_instead_of_paging(clock, trigger, cast, three_levels, variant, receiver,
                                                     smtp_server):
    variant(three_levels, "P3", mode="digest")
    first = trigger(severity="P3", title="Slow search")
    second = trigger(severity="P3", title="Stale cache")
    run_engine()
    assert paths(receiver) == [] and smtp_server.messages == []
    clock.move_to(dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC))  # the next hourly digest boundary
    run_engine()
    assert paths(receiver) == []
    [mail] = smtp_server.messages
    assert mail["To"] == "alice@example.test"
    assert mail["Subject"] == "Digest: 2 low-severity incidents"
    text = mail.get_body(("plain",)).get_content()
    assert f"{first.reference} [P3] Slow search" in text and f"{second.reference} [P3] Stale cache" in text
    assert Escalation.objects.filter(state=Escalation.State.DIGEST).count() == 2


def test_snapshot_is_not_affected_by_editing_the_policy(clock, trigger, cast, contact, three_levels, receiver):
    contact(cast["carol"])
    running = trigger()
    run_engine()
    level2 = EscalationLevel.objects.get(policy=three_levels, position=2)
    level2.delay_minutes = 1
    level2.save()
    level2.targets.update(user=cast["carol"])
    clock.shift(2 * MIN)
    run_engine()
    assert paths(receiver) == ["/alice/slack"]
    clock.shift(8 * MIN)
    run_engine()
    assert paths(receiver) == ["/alice/slack", "/bob/slack"]
    # A new incident runs the edited policy.
    later = trigger(title="Second")
    run_engine()
    clock.shift(1 * MIN)
    run_engine()
    assert paths(receiver)[2:] == ["/alice/slack", "/carol/slack"]
    assert Escalation.objects.get(incident=running).snapshot["levels"][1]["targets"][0]["name"] == "Bob"
    assert Escalation.objects.get(incident=later).snapshot["levels"][1]["delay_minutes"] == 1


def test_notify_after_holds_paging_until_then(clock, trigger, three_levels, receiver):
    release = dt.datetime(2026, 3, 2, 13, 0, tzinfo=dt.UTC)
    incident = trigger(notify_after=release)
    run_engine()
    clock.move_to(release - dt.timedelta(seconds=1))
    run_engine()
    assert paths(receiver) == []
    clock.move_to(release)
    run_engine()
    assert paths(receiver) == ["/alice/slack"]
    assert any("Paging held until business hours: level 1 in 4 h 0 min." in n for n in notes(incident))
    clock.shift(10 * MIN)
    run_engine()
    assert paths(receiver) == ["/alice/slack", "/bob/slack"]


def test_routing_rule_policy_wins_over_the_service_default(clock, trigger, cast, contact, make_policy, services,
                                                           receiver):
    contact(cast["alice"])
    contact(cast["oscar"])
    make_policy([(0, [cast["alice"]])], service=services["checkout"])
    make_policy([(0, [cast["oscar"]])], slug="night-shift")
    rule = RoutingRule.objects.create(name="Nights", escalation_policy_slug="night-shift")
    incident = trigger(routing_rule=rule)
    run_engine()
    assert paths(receiver) == ["/oscar/slack"]
    assert Escalation.objects.get(incident=incident).chosen_by == "routing rule “Nights”"


def test_without_a_policy_nobody_is_paged_and_the_timeline_says_so(clock, trigger, receiver):
    incident = trigger()
    run_engine()
    assert paths(receiver) == []
    assert notes(incident) == ["Nobody paged: no escalation policy applies (give the service a default policy, or "
                               "name one in a routing rule)."]


def test_personal_rules_step_through_methods_and_merge_when_paged_again(clock, trigger, cast, contact, make_policy,
                                                                         services, receiver):
    contact(cast["alice"], "slack")
    contact(cast["alice"], "webhook", delay=3)
    contact(cast["bob"], "slack")
    # alice is at level 1 and again at level 2 (1 minute later), beside bob.
    make_policy([(0, [cast["alice"]]), (1, [cast["alice"], cast["bob"]])], service=services["checkout"])
    incident = trigger()
    run_engine()
    clock.shift(1 * MIN)
    run_engine()
    clock.shift(2 * MIN)
    run_engine()
    # Not restarted at level 2: alice's chain went on (webhook at +3), bob's started.
    assert paths(receiver) == ["/alice/slack", "/bob/slack", "/alice/webhook"]
    assert any("Already being notified (merged): Alice." in n for n in notes(incident))
    webhook = receiver.requests[2]
    assert webhook.headers["webhook-id"].startswith(f"msg_page-{incident.pk}-")


def test_high_and_low_urgency_lists_are_separate(clock, trigger, cast, contact, make_policy, services, variant,
                                                 receiver):
    contact(cast["alice"], "slack", urgency="high")
    contact(cast["alice"], "webhook", urgency="low")
    policy = make_policy([(0, [cast["alice"]])], service=services["checkout"])
    variant(policy, "P4", urgency="low")
    trigger(severity="P1")
    trigger(severity="P4", title="Typo on the invoice page")
    run_engine()
    assert sorted(paths(receiver)) == ["/alice/slack", "/alice/webhook"]
    assert Page.objects.get(kind="webhook").urgency == "low"


def test_reopen_starts_a_new_escalation(clock, trigger, act, three_levels, receiver, django_capture_on_commit_callbacks,
                                        cast):
    incident = trigger()
    run_engine()
    act("resolve", incident)
    run_engine()
    with django_capture_on_commit_callbacks(execute=True):
        incident_actions.reopen_incident(incident, actor=cast["alice"], source=Door.WEB, reason="back again")
    run_engine()
    assert paths(receiver) == ["/alice/slack", "/alice/slack", "/alice/slack"]
    assert Escalation.objects.filter(incident=incident).count() == 2


def test_a_lost_acknowledge_signal_still_stops_at_the_next_level(clock, make_incident, trigger, three_levels,
                                                                  receiver, cast):
    incident = trigger()
    run_engine()
    # Acknowledged without its on-commit effects (the process died after the commit).
    incident_actions.acknowledge_incident(incident, actor=cast["alice"], source=Door.WEB)
    clock.shift(10 * MIN)
    run_engine()
    assert paths(receiver) == ["/alice/slack"]
    assert Escalation.objects.get(incident=incident).state == Escalation.State.ACKNOWLEDGED


def test_escalation_starts_late_when_the_trigger_signal_was_lost(clock, make_incident, three_levels, receiver):
    from oncall.engine import start_missed

    make_incident(severity="P1", severity_reason="test")  # on-commit effects never ran
    assert start_missed() == 1
    escalate_due()
    send_due_pages()
    assert paths(receiver) == ["/alice/slack"]
    assert start_missed() == 0


def _alice_and_bob_by_day(cast, contact, make_schedule):
    """Daily handoff at 09:00 Amsterdam: alice from 1 March, bob from 2 March, alice again
    on 3 March; both reachable."""
    from tests.oncall.conftest import local

    contact(cast["alice"])
    contact(cast["bob"])
    return make_schedule(layers=[{"level": 1, "rotation_unit": "days", "rotation_length": 1,
                                  "starts_at": local("Europe/Amsterdam", 2026, 3, 1, 9, 0),
                                  "participants": ["alice", "bob"]}])


def test_a_schedule_target_pages_whoever_is_on_call_when_the_level_fires(clock, trigger, cast, contact, make_policy,
                                                                         services, receiver, make_schedule):
    schedule = _alice_and_bob_by_day(cast, contact, make_schedule)
    make_policy([(0, [schedule]), (24 * 60, [schedule])], service=services["checkout"])
    incident = trigger()  # 2 March 10:00 in Amsterdam: bob's day
    run_engine()
    assert paths(receiver) == ["/bob/slack"]
    clock.shift(24 * 60 * MIN)  # level 2 fires on 3 March: alice's day
    run_engine()
    assert paths(receiver) == ["/bob/slack", "/alice/slack"]
    assert any("Level 1 of “Payments Default”: paging Bob (Slack (incoming webhook))" in n for n in notes(incident))
    assert Page.objects.get(recipient=cast["alice"]).via == "level 2 · on call in Primary"


def test_a_schedule_with_nobody_on_call_is_said_on_the_timeline(clock, trigger, cast, make_policy, services, receiver,
                                                                make_schedule):
    from tests.oncall.conftest import local

    schedule = make_schedule(layers=[{"level": 1, "rotation_unit": "days", "rotation_length": 1,
                                      "starts_at": local("Europe/Amsterdam", 2026, 4, 1, 9, 0),
                                      "participants": ["alice"]}])
    make_policy([(0, [schedule])], service=services["checkout"])
    incident = trigger()
    run_engine()
    assert paths(receiver) == []
    assert any("Nobody is on call in schedule Primary." in n for n in notes(incident))


def test_a_storm_of_levels_due_at_one_instant_pages_each_target_once(clock, trigger, cast, contact, make_policy,
                                                                     services, slack_channel, receiver):
    # More incidents than one batch (50): the engine fires them in batches, each target once.
    contact(cast["alice"])
    make_policy([(0, [cast["alice"], slack_channel]), (5, [slack_channel])], service=services["checkout"])
    incidents = [trigger(title=f"Storm {n}") for n in range(60)]
    run_engine()
    assert len(receiver.requests) == 120
    assert sorted(Counter(paths(receiver)).items()) == [("/alice/slack", 60), ("/slack/payments", 60)]
    clock.shift(5 * MIN)
    run_engine()
    assert len(receiver.requests) == 180
    keys = Counter(page.key for page in Page.objects.all())
    assert len(keys) == 180 and set(keys.values()) == {1}
    for incident in (incidents[0], incidents[55], incidents[-1]):
        said = notes(incident)
        assert any(n.startswith("Level 1 of “Payments Default”: paging Alice (Slack") for n in said)
        assert any(n.startswith("Level 2 of “Payments Default”: paging #payments-oncall") for n in said)
        assert said.count("Paged Alice by Slack (incoming webhook) (level 1): sent.") == 1
        # The hash chain holds across entries written in batches.
        entries = list(TimelineEntry.objects.filter(incident=incident).order_by("seq"))
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        pairs = zip(entries, entries[1:], strict=False)
        assert all(b.prev_hash == a.hash and b.hash == b.compute_hash() for a, b in pairs)


def test_a_level_fired_late_is_due_at_its_own_time_and_keeps_the_persons_spacing(clock, trigger, cast, contact,
                                                                                 make_policy, services, receiver):
    contact(cast["alice"], "slack")
    contact(cast["alice"], "webhook", delay=2)
    make_policy([(0, [cast["bob"]]), (10, [cast["alice"]])], service=services["checkout"])
    incident = trigger()
    escalate_due()
    level_two_due = Escalation.objects.get(incident=incident).next_escalation_at
    clock.shift(13 * MIN)  # the workers were down: level 2 fires 3 minutes late
    run_engine()
    slack, webhook = Page.objects.filter(recipient=cast["alice"]).order_by("step")
    assert slack.due_at == level_two_due and slack.state == Page.State.SENT
    # The second step is due 2 minutes after the level's due time, but is sent 2 minutes
    # after the first step actually went out.
    assert webhook.due_at == level_two_due + dt.timedelta(minutes=2)
    assert webhook.state == Page.State.PENDING
    clock.shift(2 * MIN)
    run_engine()
    assert paths(receiver)[-2:] == ["/alice/slack", "/alice/webhook"]


def test_a_level_is_fired_ahead_and_sent_at_its_due_time_or_cancelled_by_an_acknowledge(clock, trigger, act,
                                                                                         three_levels, receiver,
                                                                                         settings):
    """ONCALL_FIRE_AHEAD_SECONDS before a level is due, its pages are written (and the
    timeline says so); they go out at the due time, never before, and an acknowledgement
    in between cancels them."""
    settings.ONCALL_FIRE_AHEAD_SECONDS = 5
    incident = trigger()
    run_engine()
    clock.shift(10 * MIN - 6)
    run_engine()
    assert Page.objects.filter(level=2).count() == 0  # not yet within the lead time
    clock.shift(2)  # 4 s before level 2 is due
    run_engine()
    [page] = Page.objects.filter(level=2)
    assert page.state == Page.State.PENDING and page.next_attempt_at == incident.created_at + dt.timedelta(minutes=10)
    assert any(n.startswith("Level 2 of “Payments Default”: paging Bob") and "Next level in 10 min" in n
               for n in notes(incident))
    clock.shift(3)
    run_engine()
    assert paths(receiver) == ["/alice/slack"]  # never before its time
    clock.shift(1)
    run_engine()
    assert paths(receiver) == ["/alice/slack", "/bob/slack"]

    # Level 3 is fired ahead too, then the incident is acknowledged before it is due.
    clock.shift(10 * MIN - 2)
    run_engine()
    assert Page.objects.get(level=3).state == Page.State.PENDING
    act("acknowledge", incident)
    clock.shift(2)
    run_engine()
    assert paths(receiver) == ["/alice/slack", "/bob/slack"]
    assert Page.objects.get(level=3).state == Page.State.CANCELLED
    assert "Escalation stopped: acknowledged. 1 pending notification cancelled." in notes(incident)


def test_a_level_fired_ahead_pages_whoever_is_on_call_at_its_due_time(clock, trigger, cast, contact, make_policy,
                                                                      services, receiver, make_schedule, settings):
    settings.ONCALL_FIRE_AHEAD_SECONDS = 5
    schedule = _alice_and_bob_by_day(cast, contact, make_schedule)
    make_policy([(0, [schedule]), (23 * 60, [schedule])], service=services["checkout"])
    trigger()  # 2 March 10:00 in Amsterdam: bob's day; level 2 is due at 09:00 on 3 March, alice's handoff
    run_engine()
    clock.shift(23 * 60 * MIN - 3)  # 08:59:57, bob still on call: level 2 is fired now, for 09:00
    run_engine()
    assert Page.objects.get(level=2).recipient == cast["alice"]
    clock.shift(3)
    run_engine()
    assert paths(receiver) == ["/bob/slack", "/alice/slack"]
