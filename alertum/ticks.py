"""Fixed, frequent periodic ticks, declared here in code and synced into
django-celery-beat on start-up (DESIGN.md: "celery-beat drives the clock").

Each tick claims due rows by an indexed `next_*_at` column with SKIP LOCKED, so any
number of workers share the work. Later issues add their ticks to TICKS.
"""

from django.db import transaction

# name -> (task path, every N seconds)
TICKS: dict[str, tuple[str, int]] = {
    "maintenance.advance": ("alertum.core.tasks.advance_maintenance", 30),
    # Sweeps raw events a lost kick or a dead worker left pending, and retries failures.
    "intake.drain": ("incidents.tasks.drain_raw_events", 5),
    "intake.housekeeping": ("incidents.tasks.intake_housekeeping", 60),
    # On-call handoffs due by Schedule.next_handoff_at (SKIP LOCKED), then stuck handoff summaries.
    "schedules.handoff": ("oncall.schedules.tasks.handoff_tick", 30),
    # Status pages: maintenance moves and reminders, statuses derived from monitors; notice delivery retries.
    "statuspages.tick": ("statuspages.tasks.tick", 10),
    "statuspages.deliver": ("statuspages.tasks.deliver_due", 10),
    # Runs for MONITORING_TICK_SECONDS, so back-to-back ticks keep checks within ~0.2 s of due.
    "monitoring.checks": ("monitoring.tasks.run_checks", 5),
    "monitoring.rollups": ("monitoring.tasks.roll_up_results", 60),
    # Heartbeats past their late or down time (claimed by next_sweep_at); ping-log pruning.
    "heartbeats.sweep": ("monitoring.heartbeats.tasks.sweep_heartbeats", 15),
    "heartbeats.prune": ("monitoring.heartbeats.tasks.prune_pings", 600),
    # Escalation: fire due levels (kicks at due times make it prompt; this is the net).
    "oncall.escalate": ("oncall.tasks.escalation_tick", 2),
    "oncall.sweep_pages": ("oncall.tasks.sweep_pages", 5),
    # Response playbook reminders come due to the minute; 15 s keeps them close to it.
    "playbook.remind": ("incidents.tasks.playbook_tick", 15),
}

_PREFIX = "alertum:"


def sync_ticks() -> None:
    """Make django-celery-beat's table match TICKS: create or update ours, remove stale ones."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    with transaction.atomic():
        for name, (task, seconds) in TICKS.items():
            interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
            PeriodicTask.objects.update_or_create(
                name=_PREFIX + name,
                defaults={"task": task, "interval": interval, "enabled": True, "crontab": None},
            )
        PeriodicTask.objects.filter(name__startswith=_PREFIX).exclude(
            name__in=[_PREFIX + n for n in TICKS]
        ).delete()
