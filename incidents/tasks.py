"""Thin celery tasks: take ids (or nothing), call the domain."""

from celery import shared_task


@shared_task(ignore_result=True)
def drain_raw_events():
    from incidents.intake.pipeline import drain

    return drain()


@shared_task(ignore_result=True)
def intake_housekeeping():
    """Beat tick: auto-resolve inactive incidents, end expired alert suppressions."""
    from incidents.intake.pipeline import housekeeping

    return housekeeping()


@shared_task(ignore_result=True)
def playbook_tick():
    """Beat tick: put due playbook reminders on their timelines; re-send stuck e-mails."""
    from incidents.playbook.actions import tick

    return tick()


@shared_task(ignore_result=True)
def send_reminder_notification(reminder_id: int):
    """E-mail one fired reminder (queued after the tick's commit)."""
    from incidents.playbook.actions import send_notification

    return send_notification(reminder_id)
