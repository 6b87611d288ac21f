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


# A kick drains everything due, not only its own row: when a thousand escalations fall due
# at one instant, the first kicks on every worker share the work (SKIP LOCKED) and the
# rest find nothing left, instead of a thousand one-row tasks queueing up.

@shared_task(ignore_result=True, queue=PAGING)
def escalate(escalation_id: int):
    from oncall import engine

    engine.escalate_one(escalation_id)
    return engine.escalate_due()


@shared_task(ignore_result=True, queue=PAGING)
def send_pages(page_ids: list[int]):
    from oncall import engine

    sent = [engine.send_page(pk) for pk in page_ids]
    return len([s for s in sent if s]) + engine.send_due_pages()
