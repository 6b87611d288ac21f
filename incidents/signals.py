"""The few named events the incidents hub announces to the apps above it.

Sent after commit only (`send_on_commit`), with the incident id, so listeners (oncall
escalation, status pages, postmortems) read committed state. Connect in AppConfig.ready().
"""

from django.db import transaction
from django.dispatch import Signal

incident_triggered = Signal()  # incident_id, source
incident_acknowledged = Signal()  # incident_id, actor_id, source
incident_resolved = Signal()  # incident_id, actor_id, source
incident_reopened = Signal()  # incident_id, actor_id, source
incident_severity_changed = Signal()  # incident_id, old, new, source


def send_on_commit(signal: Signal, **kwargs) -> None:
    transaction.on_commit(lambda: signal.send(sender="incidents", **kwargs))
