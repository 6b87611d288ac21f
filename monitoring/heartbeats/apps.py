from django.apps import AppConfig


class HeartbeatsConfig(AppConfig):
    """Heartbeat monitors (healthchecks.io-compatible pings): a part of monitoring with its own
    models and migrations, so it can change apart from the active checks."""

    name = "monitoring.heartbeats"
    label = "heartbeats"
    verbose_name = "Heartbeats"
