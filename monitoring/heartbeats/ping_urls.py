"""healthchecks.io's ping URLs, mounted at /ping/ (hc/api/urls.py has the same shapes,
with and without a trailing slash)."""

from django.urls import path, re_path

from monitoring.heartbeats import views

app_name = "ping"


def _signals(view, prefix: str, name: str) -> list:
    return [
        path(prefix, view, name=name),
        path(prefix + "/", view),
        path(prefix + "/start", view, {"action": "start"}, name=name + "-start"),
        path(prefix + "/fail", view, {"action": "fail"}, name=name + "-fail"),
        path(prefix + "/log", view, {"action": "log"}, name=name + "-log"),
        path(prefix + "/<int:exit_status>", view, name=name + "-exit"),
    ]


urlpatterns = [
    *_signals(views.ping_by_uuid, "<uuid:code>", "uuid"),
    *_signals(views.ping_by_slug, "<slug:ping_key>/<slug:slug>", "slug"),
    re_path(r"^(?P<rest>.*)$", views.unknown),
]
