"""The celery app. Periodic ticks are declared in `alertum.ticks` and synced into
django-celery-beat when beat starts (see `alertum.ticks.sync_ticks`)."""

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alertum.settings")

app = Celery("alertum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def _sync_ticks(sender=None, **kwargs):
    from alertum.ticks import sync_ticks

    sync_ticks()
