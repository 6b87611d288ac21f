"""The heartbeat pages: the list (with the team's ping keys), create and edit forms,
pause and resume, ping keys (shown once). A heartbeat's detail is the monitor's page,
which shows the `heartbeat_panel`.

Thin: a form shapes the input, `queries` decides what the viewer sees, `actions` does
every write and checks who may; a DomainError comes back as its status with its message.
"""


from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from alertum.core.errors import DomainError
from alertum.core.models import Door
from alertum.core.pages import PageDoor
from monitoring.heartbeats import actions, queries
from monitoring.heartbeats.forms import HeartbeatForm, PingKeyForm

_DOOR = PageDoor("heartbeats:list", "Back to the heartbeats")
page_view = _DOOR.view



def _who(request) -> dict:
    return {"actor": request.user, "source": Door.WEB, "ip_address": request.META.get("REMOTE_ADDR") or None}


def _fail(form, exc: DomainError) -> int:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    return exc.status_code


@page_view
@require_http_methods(["GET"])
def heartbeat_list(request):
    beats = queries.heartbeats_visible_to(request.user)
    return render(request, "heartbeats/list.html", {
        "heartbeats": [(b, b.shown_state()) for b in beats], "keys": queries.ping_keys_visible_to(request.user),
        "may_make_keys": queries.teams_for_keys(request.user).exists()})


@page_view
@require_http_methods(["GET", "POST"])
def create(request):
    form = HeartbeatForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                heartbeat = actions.create_heartbeat(service=form.cleaned_data["service"],
                                                     name=form.cleaned_data["name"], **form.settings(),
                                                     **_who(request))
            except DomainError as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, "Heartbeat created: copy its ping URL below.")
                return redirect(reverse("monitors:detail", args=[heartbeat.monitor_id]) + "#heartbeat")
    return render(request, "heartbeats/form.html", {"form": form}, status=status)


@page_view
@require_http_methods(["GET", "POST"])
def edit(request, pk):
    heartbeat = queries.get_heartbeat_for_user(request.user, pk)
    initial = {"service": heartbeat.monitor.service, "name": heartbeat.monitor.name,
               **{f: getattr(heartbeat, f) for f in actions.SETTINGS}}
    form = HeartbeatForm(request.POST or None, user=request.user, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                actions.update_heartbeat(heartbeat, name=data["name"], service=data["service"], **form.settings(),
                                         **_who(request))
            except DomainError as exc:
                status = _fail(form, exc)
            else:
                messages.success(request, "Heartbeat saved.")
                return redirect(reverse("monitors:detail", args=[heartbeat.monitor_id]) + "#heartbeat")
    return render(request, "heartbeats/form.html", {"form": form, "heartbeat": heartbeat}, status=status)


@page_view
@require_POST
def pause(request, pk):
    heartbeat = queries.get_heartbeat_for_user(request.user, pk)
    actions.pause_heartbeat(heartbeat, **_who(request))
    messages.success(request, f"{heartbeat.monitor.name} is paused.")
    return redirect(reverse("monitors:detail", args=[heartbeat.monitor_id]))


@page_view
@require_POST
def resume(request, pk):
    heartbeat = queries.get_heartbeat_for_user(request.user, pk)
    actions.resume_heartbeat(heartbeat, **_who(request))
    messages.success(request, f"{heartbeat.monitor.name} is resumed: it waits for its next ping.")
    return redirect(reverse("monitors:detail", args=[heartbeat.monitor_id]))


@page_view
@require_http_methods(["GET", "POST"])
def key_create(request):
    form = PingKeyForm(request.POST or None, teams=queries.teams_for_keys(request.user))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                key, raw = actions.create_ping_key(form.cleaned_data["team"], name=form.cleaned_data["name"],
                                                   default_service=form.cleaned_data["default_service"],
                                                   **_who(request))
            except DomainError as exc:
                status = _fail(form, exc)
            else:
                base = request.build_absolute_uri("/ping/")
                return render(request, "heartbeats/key_created.html", {"key": key, "raw_key": raw,
                                                                        "example": f"{base}{raw}/<slug>"})
    return render(request, "heartbeats/key_form.html", {"form": form}, status=status)


@page_view
@require_POST
def key_delete(request, pk):
    key = queries.ping_keys_visible_to(request.user).filter(pk=pk).first()
    if key is None:
        return render(request, "error.html", {"message": "no such ping key", "status": 404,
                                                        "back_url": reverse("heartbeats:list")}, status=404)
    actions.delete_ping_key(key, **_who(request))
    messages.success(request, f"Ping key {key.key_prefix}… deleted: slug URLs with it no longer work.")
    return redirect("heartbeats:list")
