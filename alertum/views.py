from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from incidents.views import open_incidents_context
from oncall.schedules.queries import on_call_widget


def livez(request):
    """Liveness without touching the database: the process answers. Also the "trivial
    Django view" the HTTP benchmarks measure every door against."""
    return HttpResponse("ok", content_type="text/plain")


def healthz(request):
    """Liveness for the proxy: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_required
@require_GET
def dashboard(request):
    """Open incidents by severity; kept fresh over ws/dashboard/ (incidents.consumers)."""
    context = open_incidents_context(request.user)
    context["on_call_now"] = on_call_widget(request.user, timezone.now())
    return render(request, "dashboard.html", context)
