"""Load demo data for the embedded default: two teams, four services, people in every
role, a few incidents worked through the real actions, and a maintenance window.

Prints nothing secret to logs; keeps the login in var/demo_login (mode 600) so that
`up` can print it again on later starts.
"""

import secrets
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from alertum.core import actions as core_actions
from alertum.core.models import Door, Membership, Role, Service, Team, User
from incidents import actions
from incidents.models import IncidentRole, Status


class Command(BaseCommand):
    help = "Load demo teams, services, people and incidents (only into an empty database)."

    def handle(self, *args, **options):
        if User.objects.exists():
            raise CommandError("the database already has users; demo data goes only into an empty one")
        password = secrets.token_urlsafe(9)
        with transaction.atomic():
            login = self._seed(password)
        path = settings.VAR_DIR / "demo_login"
        path.write_text(f"{login} {password}\n")
        path.chmod(0o600)
        self.stdout.write(f"demo data loaded: sign in as {login} / {password} (other demo users share the password)")

    def _seed(self, password):
        def person(username, first, last, tz="UTC", **extra):
            return User.objects.create_user(username=username, password=password, first_name=first, last_name=last,
                                            email=f"{username}@example.com", time_zone=tz, **extra)

        demo = person("demo", "Dana", "Demo", "Europe/Amsterdam", is_staff=True, is_superuser=True)
        sam = person("sam", "Sam", "Rivera", "America/New_York")
        kim = person("kim", "Kim", "Park", "Asia/Seoul")
        lee = person("lee", "Lee", "Okafor", "Europe/London")
        viv = person("viv", "Viv", "Novak", "Europe/Prague")
        payments = Team.objects.create(name="Payments", slug="payments", description="Checkout and the payments API")
        platform = Team.objects.create(name="Platform", slug="platform", description="Search, website, infrastructure")
        for user, team, role in ((demo, payments, Role.ADMIN), (sam, payments, Role.COMMANDER),
                                 (kim, payments, Role.RESPONDER), (viv, payments, Role.VIEWER),
                                 (lee, platform, Role.RESPONDER), (demo, platform, Role.ADMIN)):
            Membership.objects.create(user=user, team=team, role=role)

        checkout = Service.objects.create(name="Checkout", slug="checkout", owner_team=payments, tier=1,
                                          runbook_url="https://runbooks.example.com/checkout", tags=["web", "revenue"])
        api = Service.objects.create(name="Payments API", slug="payments-api", owner_team=payments, tier=1,
                                     tags=["api"])
        search = Service.objects.create(name="Search", slug="search", owner_team=platform, tier=3)
        website = Service.objects.create(name="Website", slug="website", owner_team=platform, tier=2)
        checkout.depends_on.set([api, search])

        now = timezone.now()
        web = Door.WEB
        big = actions.declare_incident(
            title="Checkout failing for card payments", team=payments, actor=kim, source=web, services=[checkout, api],
            impact="partial", users_affected="many", business_functions="Card checkout",
            description="Card authorisations time out since the 14:02 deploy.",
            started_at=now - timedelta(minutes=42), detected_at=now - timedelta(minutes=38))
        actions.acknowledge_incident(big, actor=kim, source=web)
        actions.assign_role(big, IncidentRole.COMMANDER, sam, actor=sam, source=web)
        actions.change_status(big, Status.INVESTIGATING, actor=kim, source=web)
        actions.add_comment(big, "Error rate on /authorize jumped to 38% at 14:03.", actor=kim, source=web)
        note = actions.add_comment(big, "Rolling back payments-api to v2.31.4.", actor=sam, source=web)
        actions.pin_entry(big, note.seq, actor=sam, source=web)
        actions.post_update(big, impact="About 40% of card payments fail", action_taken="Rollback started",
                            next_step="Confirm error rate recovers", actor=sam, source=web, public=True)

        actions.declare_incident(title="Search results slow", team=platform, actor=lee, source=web, services=[search],
                                 impact="degraded", users_affected="some",
                                 started_at=now - timedelta(minutes=12), detected_at=now - timedelta(minutes=9))
        actions.declare_incident(title="Typo on pricing page", team=platform, actor=lee, source=web, services=[website],
                                 impact="cosmetic", users_affected="few")
        old = actions.declare_incident(title="Payments API 502s from one zone", team=payments, actor=kim, source=web,
                                       services=[api], impact="partial", users_affected="some")
        actions.acknowledge_incident(old, actor=kim, source=web)
        actions.resolve_incident(old, actor=kim, source=web, note="Drained the bad zone.")

        core_actions.schedule_maintenance(title="Database upgrade", starts_at=now + timedelta(days=2),
                                          ends_at=now + timedelta(days=2, hours=1), services=[checkout, api],
                                          actor=demo, source=Door.CLI,
                                          description="PostgreSQL minor upgrade; checkout may pause briefly.")
        seed_status_pages(demo, payments, {"checkout": checkout, "api": api, "search": search, "website": website},
                          big)
        people = {"demo": demo, "sam": sam, "kim": kim, "lee": lee}
        seed_on_call(demo, people, payments, platform, [checkout, api])
        seed_monitors(demo, website, api)
        return demo.username


def seed_status_pages(demo, team, services, incident):
    """A public status page at /status/acme/ with grouped components linked to the demo
    services, the checkout incident told to customers, and upcoming maintenance."""
    from statuspages import actions as sp

    cli = Door.CLI
    page = sp.create_page(team=team, name="Acme", slug="acme", actor=demo, source=cli, time_zone="Europe/Amsterdam",
                          description="Live status of Acme's shop and APIs.")
    shop = sp.save_component(page, actor=demo, source=cli, name="Shop", is_group=True)
    checkout = sp.save_component(page, actor=demo, source=cli, name="Checkout", group=shop,
                                 services=[services["checkout"]])
    sp.save_component(page, actor=demo, source=cli, name="Search", group=shop, services=[services["search"]])
    sp.save_component(page, actor=demo, source=cli, name="Website", services=[services["website"]])
    sp.save_component(page, actor=demo, source=cli, name="Payments API", services=[services["api"]],
                      description="The REST API for merchants")
    sp.create_public_incident(page, name="Card payments failing", body="Some card payments fail at checkout. "
                              "We are investigating.", incident=incident, actor=demo, source=cli,
                              component_statuses={checkout.code: "partial_outage"})
    starts = timezone.now() + timedelta(days=2)
    sp.schedule_public_maintenance(page, name="Database upgrade", starts_at=starts,
                                   ends_at=starts + timedelta(hours=1), components=[checkout], actor=demo,
                                   source=cli)


def _last_monday_nine(zone: str):
    """The most recent Monday 09:00 wall-clock in `zone` (the first handoff), so that
    someone is on call the moment the demo starts."""
    local = timezone.now().astimezone(ZoneInfo(zone))
    monday = (local - timedelta(days=local.weekday())).replace(hour=9, minute=0, second=0, microsecond=0)
    # Wall-clock arithmetic on a zoneinfo datetime: 09:00 stays 09:00 across DST.
    return monday if monday <= local else monday - timedelta(days=7)


def seed_on_call(demo, people, payments, platform, payments_services):
    """Weekly schedules for both teams, Payments' fatigue limits, an escalation policy for
    the Payments services, and e-mail contact methods with a notification rule for the
    people who can be paged. The embedded mode has no EMAIL_HOST, so the file e-mail
    backend writes those pages to var/mail: nothing leaves the machine, nothing hangs."""
    from oncall import actions as esc
    from oncall.schedules import actions as sched

    cli = Door.CLI
    kim, sam, lee = people["kim"], people["sam"], people["lee"]
    primary = sched.create_schedule(team=payments, name="Payments primary", slug="payments-primary", actor=demo,
                                    source=cli, time_zone="Europe/Amsterdam",
                                    description="Card payments and the payments API; handoff Monday 09:00.")
    sched.save_layer(primary, actor=demo, source=cli, name="Weekly", rotation_unit="weeks", rotation_length=1,
                     starts_at=_last_monday_nine("Europe/Amsterdam"), participants=[kim, sam])
    sched.leave_handoff_note(primary, actor=kim, source=cli,
                             text="Checkout card failures: payments-api rollback to v2.31.4 in progress.")
    platform_schedule = sched.create_schedule(team=platform, name="Platform primary", slug="platform-primary",
                                              actor=demo, source=cli, time_zone="Europe/London",
                                              description="Search, website and infrastructure.")
    sched.save_layer(platform_schedule, actor=demo, source=cli, name="Weekly", rotation_unit="weeks",
                     rotation_length=1, starts_at=_last_monday_nine("Europe/London"), participants=[lee, demo])
    sched.set_fatigue_limits(payments, actor=demo, source=cli, max_consecutive_shifts=2, min_rest_hours=12,
                             max_pages_per_shift=10, max_pages_per_night=3)

    policy = esc.create_policy(actor=demo, source=cli, team=payments, name="Payments", slug="payments",
                               description="Whoever is on call for Payments, then the commander.",
                               repeat_count=1, repeat_after_minutes=10)
    first = esc.add_level(policy, delay_minutes=0, actor=demo, source=cli)
    esc.add_target(first, kind="schedule", schedule=primary, actor=demo, source=cli)
    second = esc.add_level(policy, delay_minutes=10, actor=demo, source=cli)
    esc.add_target(second, kind="user", user=sam, actor=demo, source=cli)
    # Minor incidents should not wake anyone: P3 goes into the hourly digest.
    esc.set_variant(policy, "P3", mode="digest", actor=demo, source=cli)
    for service in payments_services:
        esc.assign_policy(service, policy, actor=demo, source=cli)

    # Each person sets up their own methods (the actions allow only the person themselves).
    for person in people.values():
        method = esc.add_contact_method(person, kind="email", address=person.email, label="Work e-mail",
                                        actor=person, source=cli)
        esc.add_notification_rule(person, contact_method=method, delay_minutes=0, actor=person, source=cli)
    return primary, platform_schedule, policy


def seed_monitors(demo, website, api):
    """The portal watching itself: /healthz over HTTP and its port over TCP (both from
    BASE_URL, the address the portal is reached at), and a nightly-backup heartbeat that
    stays new until its job first pings."""
    from monitoring import actions as mon
    from monitoring.heartbeats import actions as hb

    cli = Door.CLI
    base = urlsplit(settings.BASE_URL)
    # Three misses (three minutes) before down: the checks may start before the web server listens.
    mon.create_monitor(service=website, name="Portal health", kind="http", actor=demo, source=cli,
                       config={"url": settings.BASE_URL + "/healthz", "accepted_statuses": "200"},
                       interval_seconds=60, timeout_seconds=10, failure_threshold=3)
    mon.create_monitor(service=website, name="Portal port", kind="tcp", actor=demo, source=cli,
                       config={"host": base.hostname or "127.0.0.1",
                               "port": base.port or (443 if base.scheme == "https" else 80)},
                       interval_seconds=60, timeout_seconds=5, failure_threshold=3)
    hb.create_heartbeat(service=api, name="Nightly backup", actor=demo, source=cli, slug="nightly-backup",
                        schedule="cron", cron="0 2 * * *", time_zone="Europe/Amsterdam", grace_seconds=3600)
