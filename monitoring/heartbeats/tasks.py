"""Thin celery tasks for heartbeats: the sweeper tick and ping-log pruning."""

from celery import shared_task
from django.conf import settings

from monitoring.heartbeats import actions


@shared_task
def sweep_heartbeats() -> int:
    """The tick: heartbeats past their late or down time (alertum/ticks.py)."""
    return actions.sweep()


@shared_task
def prune_pings() -> int:
    return actions.prune_pings(keep=getattr(settings, "HEARTBEAT_PINGS_KEPT", 1000))
