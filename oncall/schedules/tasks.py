"""Thin celery tasks: take ids (or nothing), call the domain."""

from celery import shared_task


@shared_task(ignore_result=True)
def handoff_tick():
    """Beat tick: due handoffs (claimed with SKIP LOCKED), then stuck summaries."""
    from oncall.schedules.handoff import run_due_handoffs

    return run_due_handoffs()


@shared_task(ignore_result=True)
def send_handoff_task(handoff_id: int):
    from oncall.schedules.handoff import send_handoff

    return send_handoff(handoff_id)
