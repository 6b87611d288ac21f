from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """Liveness for the proxy: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def dashboard(request):  # replaced by the pages work
    from django.http import HttpResponse

    return HttpResponse("dashboard")
