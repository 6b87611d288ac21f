from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "alertum.core"
    label = "core"
    verbose_name = "Configuration"
