"""On-call pages: escalation policies and their editor, my contact methods and
notification rules, team channels, the ownership matrix, an incident's escalation, and
the signed acknowledge/resolve links from notifications.

Thin: forms shape input, `oncall.queries` decides what the viewer sees, `oncall.actions`
does every write and checks who may; a DomainError comes back as its status code with
its message.
"""

from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from alertum.core.errors import DomainError
from oncall import actions, links


@require_http_methods(["GET", "POST"])
def page_link(request, token):
    """Acknowledge or resolve from a notification, without signing in. GET only shows
    what the link would do (mail and chat scanners open every link); POST does it."""
    try:
        claim = links.read_token(token)
        incident = actions.incident_for_link(claim)
    except DomainError as exc:
        return render(request, "oncall/page_link.html", {"error": exc.message}, status=exc.status_code)
    context = {"claim": claim, "incident": incident, "done": False}
    if request.method == "POST":
        try:
            context["result"] = actions.act_on_link(claim, ip_address=request.META.get("REMOTE_ADDR"))
            context["done"] = True
            incident.refresh_from_db()
        except DomainError as exc:
            context["error"] = exc.message
            return render(request, "oncall/page_link.html", context, status=exc.status_code)
    return render(request, "oncall/page_link.html", context)
