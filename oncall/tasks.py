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


@shared_task(ignore_result=True, queue=PAGING)
def escalate(escalation_id: int):
    from oncall import engine

    return engine.escalate_one(escalation_id)


@shared_task(ignore_result=True, queue=PAGING)
def send_pages(page_ids: list[int]):
    from oncall import engine

    return [engine.send_page(pk) for pk in page_ids]
