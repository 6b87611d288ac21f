"""Schedule factories for the on-call tests (schedules part; escalation tests may use them).

`make_schedule(name, tz, layers=[...], team="payments")` builds a schedule through the
actions, each layer a dict of `save_layer` keywords with participants as cast names.
"""

import datetime as dt
import zoneinfo

import pytest

from alertum.core.models import Door
from oncall.schedules import actions as schedule_actions


def local(tz: str, *args) -> dt.datetime:
    """An aware datetime from wall-clock parts in `tz`."""
    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo(tz))


@pytest.fixture
def make_schedule(cast, teams):
    def make(name="Primary", tz="Europe/Amsterdam", layers=(), team="payments", **extra):
        schedule = schedule_actions.create_schedule(team=teams[team], name=name, time_zone=tz, actor=None,
                                                    source=Door.SYSTEM, **extra)
        for spec in layers:
            spec = dict(spec)
            spec["participants"] = [cast[p] for p in spec["participants"]]
            spec.setdefault("name", f"Layer {spec.get('level', '')}".strip())
            schedule_actions.save_layer(schedule, actor=None, source=Door.SYSTEM, **spec)
        schedule.refresh_from_db()
        return schedule

    return make
