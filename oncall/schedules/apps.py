from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    """On-call schedules (rotation layers, overrides, the computed final schedule): a part of
    oncall with its own models and migrations; escalation reads it through its queries."""

    name = "oncall.schedules"
    label = "schedules"
    verbose_name = "On-call schedules"
