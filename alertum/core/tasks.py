from celery import shared_task

from alertum.core import actions


@shared_task
def advance_maintenance():
    return actions.advance_maintenance()
