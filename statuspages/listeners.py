"""Receivers of the incidents hub's signals. They run after the incident's commit, in
the process that made the change; a failure here must never reach the responder who
declared or resolved the incident, so each is logged and swallowed (the status-page
tick re-derives component statuses anyway)."""

import logging

from statuspages import actions

log = logging.getLogger(__name__)

SEVERITY_ORDER = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}


def _run(incident_id, event):
    try:
        actions.on_incident_changed(incident_id, event)
    except Exception:
        log.exception("status pages could not follow incident %s (%s)", incident_id, event)


def triggered(sender, incident_id, **kwargs):
    _run(incident_id, "triggered")


def resolved(sender, incident_id, **kwargs):
    _run(incident_id, "resolved")


def reopened(sender, incident_id, **kwargs):
    _run(incident_id, "reopened")


def severity_changed(sender, incident_id, old=None, new=None, **kwargs):
    # Only a raise into the serious range is news for stakeholders.
    if new in actions.STAKEHOLDER_SEVERITIES and SEVERITY_ORDER.get(new, 9) < SEVERITY_ORDER.get(old, 9):
        _run(incident_id, "severity")
    else:
        _run(incident_id, "changed")
