import pytest
from django_celery_beat.models import PeriodicTask

from alertum import ticks

pytestmark = pytest.mark.django_db


def test_sync_writes_declared_ticks_and_removes_stale_ones(monkeypatch):
    ticks.sync_ticks()
    monkeypatch.setitem(ticks.TICKS, "extra.tick", ("alertum.core.tasks.advance_maintenance", 60))
    ticks.sync_ticks()
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {"alertum:maintenance.advance", "alertum:extra.tick"} <= names
    monkeypatch.delitem(ticks.TICKS, "extra.tick")
    ticks.sync_ticks()
    task = PeriodicTask.objects.get(name="alertum:maintenance.advance")
    assert "alertum:extra.tick" not in set(PeriodicTask.objects.values_list("name", flat=True))
    assert (task.task, task.interval.every, task.interval.period) == ("alertum.core.tasks.advance_maintenance", 30,
                                                                     "seconds")
