from django.apps import AppConfig


class AlertumConfig(AppConfig):
    """The project app: dashboard, the `up` command, periodic tick declarations."""

    name = "alertum"
    verbose_name = "Alertum"
