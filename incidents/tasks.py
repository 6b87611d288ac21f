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
