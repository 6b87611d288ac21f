"""Thin celery tasks: take ids (or nothing), call the actions."""

from celery import shared_task


@shared_task(ignore_result=True)
def deliver_notices(ids):
    from statuspages.actions import deliver

    for pk in ids:
        deliver(pk)


@shared_task(ignore_result=True)
def deliver_due():
    """Beat tick: send notices that are due (new ones a lost kick left, retries)."""
    from statuspages.actions import deliver_due as run

    return run()


@shared_task(ignore_result=True)
def tick():
    """Beat tick: maintenance moves and reminders, statuses derived from monitors and incidents."""
    from statuspages.actions import tick as run

    run()
