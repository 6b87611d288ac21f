"""Thin celery tasks: the engine tick and roll-up housekeeping."""

from celery import shared_task


@shared_task(ignore_result=True)
def run_checks():
    """Beat tick: claim due monitors and run their checks for one tick's budget."""
    from monitoring import engine

    return engine.tick()


@shared_task(ignore_result=True)
def roll_up_results():
    """Beat tick: roll results up per minute / hour / day and expire old rows."""
    from monitoring import rollups

    return rollups.housekeeping()
