"""What every app's htmx pages share: who is acting, and how a refusal is shown.

Each app makes one `PageDoor` with the page its error screens lead back to, and wraps its
views with `door.view`: signed in, and a DomainError escaping the view (the subject is
hidden or gone, the viewer may not) becomes its status code with the message.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from alertum.core.errors import DomainError
from alertum.core.models import Door


def web_actor(request) -> dict:
    """The keyword arguments an action takes for who acts through the browser."""
    return {"actor": request.user, "source": Door.WEB, "ip_address": request.META.get("REMOTE_ADDR") or None}


def form_error(form, exc: DomainError) -> int:
    """Put an action's refusal on the form (on its field when the form has it); the status to answer."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return exc.status_code


class PageDoor:
    def __init__(self, back_url_name: str, back_label: str):
        self.back_url_name = back_url_name
        self.back_label = back_label

    def error(self, request, message: str, status: int) -> HttpResponse:
        return render(request, "error.html", {"message": message, "status": status,
                                              "back_url": reverse(self.back_url_name),
                                              "back_label": self.back_label}, status=status)

    def view(self, view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                return self.error(request, exc.message, exc.status_code)

        return login_required(wrapper)
