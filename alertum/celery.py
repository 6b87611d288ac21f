"""The celery app. Periodic ticks are declared in `alertum.ticks` and synced into
django-celery-beat when beat starts (see `alertum.ticks.sync_ticks`)."""

import os

from celery import Celery
from celery.signals import beat_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alertum.settings")

app = Celery("alertum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def _sync_ticks(sender=None, **kwargs):
    from alertum.ticks import sync_ticks

    sync_ticks()


@worker_process_init.connect
def _warm_up(sender=None, **kwargs):
    """Load the URL configuration when a worker process starts, not in the middle of the
    first task that builds a link: it is ~0.5 s of CPU per process, which used to land on
    the first pages of a storm (docs/performance.md)."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every urls module)
