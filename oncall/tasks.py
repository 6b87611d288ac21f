"""Thin celery tasks on the `paging` queue: take ids (or nothing), call the engine.

A dedicated queue so a slow chat API never delays a phone call behind intake work; the
workers consume it with `-Q celery,paging` (or a worker of its own with `-Q paging`)."""

from celery import shared_task

PAGING = "paging"


@shared_task(ignore_result=True, queue=PAGING)
def escalation_tick():
    """Beat tick: fire due levels; start escalations whose trigger signal was lost."""
    from oncall import engine

    return {"fired": engine.escalate_due(), "started_late": engine.start_missed()}


@shared_task(ignore_result=True, queue=PAGING)
def sweep_pages():
    """Beat tick: send pages whose kick was lost or whose worker died mid-send."""
    from oncall import engine

    return engine.send_due_pages()


# A kick drains everything due, in batches claimed with SKIP LOCKED: the kick for an
# instant (one per instant, see engine._kick_escalations_on_commit) fires every level due
# by then, and each full batch recruits one more worker with a kick of its own.

@shared_task(ignore_result=True, queue=PAGING)
def escalate(escalation_ids=None):
    """Fire due levels. `escalation_ids` (one id from older kicks, or a list) is unused:
    whatever is due is fired, whoever it was kicked for."""
    from oncall import engine

    return engine.escalate_due()


@shared_task(ignore_result=True, queue=PAGING)
def send_pages(page_ids: list[int]):
    """Send these pages; when they were ours, then anything else due. When another
    worker already took them, it is draining and there is nothing to add."""
    from oncall import engine

    sent = engine.send_page_ids(page_ids)
    return len(sent) + (engine.send_due_pages() if sent else 0)
