from datetime import timedelta

import pytest
from django.utils import timezone

from alertum.core import actions
from alertum.core.errors import Conflict, Forbidden, Invalid
from alertum.core.models import AuditEntry, Door, MaintenanceWindow

pytestmark = pytest.mark.django_db


def test_tick_starts_and_completes_windows_on_time(clock, cast, services):
    now = timezone.now()
    window = actions.schedule_maintenance(title="DB upgrade", starts_at=now + timedelta(minutes=10),
                                          ends_at=now + timedelta(minutes=70), services=[services["checkout"]],
                                          actor=cast["alice"], source=Door.WEB)
    assert actions.advance_maintenance() == 0
    clock.shift(timedelta(minutes=10))
    assert actions.advance_maintenance() == 1
    window.refresh_from_db()
    assert window.state == "in_progress" and window.started_at == timezone.now()
    assert list(actions.active_maintenance_for([services["checkout"].pk])) == [window]
    clock.shift(timedelta(hours=1))
    actions.advance_maintenance()
    window.refresh_from_db()
    assert window.state == "completed"
    assert list(AuditEntry.objects.filter(object_id=str(window.pk)).order_by("seq")
                .values_list("action", "source")) == [
        ("maintenancewindow.created", "web"), ("maintenancewindow.state", "beat"), ("maintenancewindow.state", "beat")]


def test_bad_windows_are_refused_and_change_nothing(cast, services):
    now = timezone.now()
    with pytest.raises(Invalid, match="after"):
        actions.schedule_maintenance(title="x", starts_at=now, ends_at=now, services=[services["checkout"]],
                                     actor=cast["alice"], source=Door.API)
    with pytest.raises(Invalid, match="service"):
        actions.schedule_maintenance(title="x", starts_at=now, ends_at=now + timedelta(hours=1), services=[],
                                     actor=cast["alice"], source=Door.API)
    with pytest.raises(Forbidden):
        actions.schedule_maintenance(title="x", starts_at=now, ends_at=now + timedelta(hours=1),
                                     services=[services["search"]], actor=cast["alice"], source=Door.API)
    assert not MaintenanceWindow.objects.exists() and not AuditEntry.objects.exists()


def test_completed_window_cannot_restart(cast, services):
    now = timezone.now()
    window = actions.schedule_maintenance(title="x", starts_at=now, ends_at=now + timedelta(hours=1),
                                          services=[services["checkout"]], actor=cast["alice"], source=Door.API)
    actions.set_maintenance_state(window, "in_progress", actor=cast["alice"], source=Door.API)
    actions.set_maintenance_state(window, "completed", actor=cast["alice"], source=Door.API)
    with pytest.raises(Conflict):
        actions.set_maintenance_state(window, "in_progress", actor=cast["alice"], source=Door.API)
