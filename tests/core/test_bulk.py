"""alertum.core.bulk writes what the rows say, on SQLite and PostgreSQL alike."""

import datetime as dt

import pytest
from django.utils import timezone

from alertum.core.bulk import update_grouped, update_rows
from alertum.core.models import Service, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def services():
    team = Team.objects.create(name="Ops", slug="ops")
    return [Service.objects.create(name=f"S{n}", slug=f"s{n}", owner_team=team, tier=2) for n in range(6)]


def test_update_grouped_writes_same_and_differing_values(services):
    for service in services[:3]:
        service.description = "same"
    assert update_grouped(services[:3], ["description"]) == 1
    for n, service in enumerate(services):
        service.description = f"row {n}"
        service.tier = 1 + n % 3
    update_grouped(services, ["description", "tier"])  # six value sets: one VALUES statement
    assert list(Service.objects.order_by("slug").values_list("description", "tier")) == [
        (f"row {n}", 1 + n % 3) for n in range(6)]


def test_update_rows_handles_nulls_dates_and_foreign_keys(services):
    from alertum.core.models import User

    when = timezone.now().replace(microsecond=0)
    users = [User.objects.create(username=f"u{n}") for n in range(3)]
    for n, user in enumerate(users):
        user.last_login = when + dt.timedelta(minutes=n) if n else None
        user.first_name = f"First {n}"
    update_rows(users, ["last_login", "first_name"])
    assert list(User.objects.filter(username__startswith="u").order_by("username")
                .values_list("last_login", "first_name")) == [
        (None, "First 0"), (when + dt.timedelta(minutes=1), "First 1"), (when + dt.timedelta(minutes=2), "First 2")]
    for user in users:
        user.last_login = None  # a column of NULLs only
    update_rows(users, ["last_login"])
    assert not User.objects.filter(username__startswith="u", last_login__isnull=False).exists()

    for n, service in enumerate(services[:3]):
        service.owner_team = Team.objects.create(name=f"T{n}", slug=f"t{n}")
    update_rows(services[:3], ["owner_team"])
    assert list(Service.objects.filter(slug__in=["s0", "s1", "s2"]).order_by("slug")
                .values_list("owner_team__slug", flat=True)) == ["t0", "t1", "t2"]
