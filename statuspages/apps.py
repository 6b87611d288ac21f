from django.apps import AppConfig


class StatuspagesConfig(AppConfig):
    name = "statuspages"
    verbose_name = "Status pages"

    def ready(self):
        # Incident events (sent on commit by the hub): stakeholder notices for serious
        # incidents, and automatic components on the incident's services follow at once.
        from incidents import signals
        from statuspages import listeners

        signals.incident_triggered.connect(listeners.triggered, dispatch_uid="statuspages.triggered")
        signals.incident_resolved.connect(listeners.resolved, dispatch_uid="statuspages.resolved")
        signals.incident_reopened.connect(listeners.reopened, dispatch_uid="statuspages.reopened")
        signals.incident_severity_changed.connect(listeners.severity_changed, dispatch_uid="statuspages.severity")
