"""Load demo data for the embedded default: two teams, four services, people in every
role, a few incidents worked through the real actions, and a maintenance window.

Prints nothing secret to logs; keeps the login in var/demo_login (mode 600) so that
`up` can print it again on later starts.
"""

import secrets
from datetime import timedelta

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
