import logging

from django.apps import AppConfig

log = logging.getLogger("alertum.oncall")


class OncallConfig(AppConfig):
    name = "oncall"
    verbose_name = "On-call"

    def ready(self):
        from incidents import signals

        signals.incident_triggered.connect(_on_triggered, dispatch_uid="oncall.triggered")
        signals.incident_reopened.connect(_on_reopened, dispatch_uid="oncall.reopened")
        signals.incident_acknowledged.connect(_on_acknowledged, dispatch_uid="oncall.acknowledged")
        signals.incident_resolved.connect(_on_resolved, dispatch_uid="oncall.resolved")


# The listeners run after the incident's commit, in whichever process made the change (a
# web request, an intake worker). A failure here must not turn that request into a 500:
# it is logged, and the engine's catch-up (start_missed) and its check of the incident's
# status at every level make up for a lost event.

def _guarded(what, fn, **kwargs):
    try:
        fn(**kwargs)
    except Exception:
        log.exception("escalation: %s failed for incident %s", what, kwargs.get("incident_id"))


def _on_triggered(sender, incident_id, **kwargs):
    from oncall import engine

    _guarded("start", engine.start_escalation, incident_id=incident_id)


def _on_reopened(sender, incident_id, **kwargs):
    from oncall import engine

    _guarded("restart", engine.start_escalation, incident_id=incident_id, reason="restarted: the incident reopened")


def _on_acknowledged(sender, incident_id, actor_id=None, **kwargs):
    from oncall import engine
    from oncall.models import Escalation

    _guarded("stop", engine.stop_escalation, incident_id=incident_id, state=Escalation.State.ACKNOWLEDGED,
             reason="acknowledged")


def _on_resolved(sender, incident_id, actor_id=None, **kwargs):
    from oncall import engine
    from oncall.models import Escalation

    _guarded("stop", engine.stop_escalation, incident_id=incident_id, state=Escalation.State.RESOLVED,
             reason="resolved")
