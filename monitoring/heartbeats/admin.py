"""Admin for heartbeats and ping keys (through the audited actions), and the ping log
(read-only). The admin is for global admins; actions still check and audit."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from alertum.core.admin import AuditedAdminMixin, ReadOnlyAdminMixin, each_selected
from alertum.core.api import client_ip
from alertum.core.models import Door, Service
from monitoring.heartbeats import actions
from monitoring.heartbeats.models import Heartbeat, Ping, PingKey


def _who(request) -> dict:
    return {"actor": request.user, "source": Door.ADMIN, "ip_address": client_ip(request)}


def _adopt(obj, saved) -> None:
    obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
    obj._state.adding = False


class HeartbeatAdminForm(forms.ModelForm):
    service = forms.ModelChoiceField(queryset=Service.objects.order_by("name"))
    name = forms.CharField(max_length=200)

    class Meta:
        model = Heartbeat
        fields = actions.SETTINGS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["service"].initial = self.instance.monitor.service
            self.fields["name"].initial = self.instance.monitor.name

    def _post_clean(self):
        pass  # the action validates (with the same messages as every door)


@admin.register(Heartbeat)
class HeartbeatAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Writes go through monitoring.heartbeats.actions; the mixin turns a refusal into a message."""

    form = HeartbeatAdminForm
    list_display = ("name", "service", "status", "schedule_text", "last_ping_at", "n_pings")
    list_filter = ("status", "schedule", "monitor__service")
    list_select_related = ("monitor", "monitor__service")
    search_fields = ("monitor__name", "slug", "uuid")
    readonly_fields = ("uuid", "status", "last_ping_at", "last_start_at", "last_duration", "n_pings",
                       "next_sweep_at", "created_at")
    actions = ["pause_selected", "resume_selected"]

    def get_fields(self, request, obj=None):
        fields = ["service", "name", *actions.SETTINGS]
        return fields if obj is None else [*fields, *self.readonly_fields]

    @admin.display(description="Name", ordering="monitor__name")
    def name(self, heartbeat):
        return heartbeat.monitor.name

    @admin.display(description="Service", ordering="monitor__service__name")
    def service(self, heartbeat):
        return heartbeat.monitor.service

    @admin.display(description="Schedule")
    def schedule_text(self, heartbeat):
        if heartbeat.schedule == Heartbeat.Schedule.CRON:
            return f"{heartbeat.cron} ({heartbeat.time_zone}) + {heartbeat.grace_seconds} s"
        return f"every {heartbeat.period_seconds} s + {heartbeat.grace_seconds} s"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        values = {f: data[f] for f in actions.SETTINGS if f in data}
        if change:
            saved = actions.update_heartbeat(obj, name=data["name"], service=data["service"], **values,
                                             **_who(request))
        else:
            saved = actions.create_heartbeat(service=data["service"], name=data["name"], **values, **_who(request))
            messages.success(request, format_html("Ping URL: <code>{}</code>", request.build_absolute_uri(
                saved.ping_path())))
        _adopt(obj, saved)

    def delete_model(self, request, obj):
        actions.delete_heartbeat(obj, **_who(request))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            actions.delete_heartbeat(obj, **_who(request))

    @admin.action(description="Pause the selected heartbeats", permissions=["change"])
    def pause_selected(self, request, queryset):
        each_selected(request, queryset, lambda h: actions.pause_heartbeat(h, **_who(request)),
                      label=lambda h: h.monitor.name, done=lambda names: f"Paused: {', '.join(names)}",
                      not_done="Not paused")

    @admin.action(description="Resume the selected heartbeats", permissions=["change"])
    def resume_selected(self, request, queryset):
        each_selected(request, queryset, lambda h: actions.resume_heartbeat(h, **_who(request)),
                      label=lambda h: h.monitor.name, done=lambda names: f"Resumed: {', '.join(names)}",
                      not_done="Not resumed")


@admin.register(Ping)
class PingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("heartbeat", "n", "kind", "exit_status", "received_at", "method", "remote_addr", "duration")
    list_filter = ("kind",)
    list_select_related = ("heartbeat__monitor__service",)
    search_fields = ("heartbeat__monitor__name", "rid", "body")


class PingKeyAdminForm(forms.ModelForm):
    class Meta:
        model = PingKey
        fields = ["team", "name", "default_service"]


@admin.register(PingKey)
class PingKeyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = PingKeyAdminForm
    list_display = ("team", "name", "shown_key", "default_service", "created_at", "created_by")
    list_filter = ("team",)
    list_select_related = ("team", "default_service", "created_by")

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["team", "name", "default_service", "shown_key", "created_at", "created_by"]

    def get_fields(self, request, obj=None):
        return ["team", "name", "default_service"] if obj is None else self.get_readonly_fields(request, obj)

    @admin.display(description="Key")
    def shown_key(self, key):
        return f"{key.key_prefix}…"

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        key, raw = actions.create_ping_key(data["team"], name=data["name"], default_service=data["default_service"],
                                           **_who(request))
        _adopt(obj, key)
        messages.success(request, format_html("Ping key for {}: <code>{}</code> — copy it now: it is shown only "
                                              "this once and stored only as a hash.", key.team, raw))

    def delete_model(self, request, obj):
        actions.delete_ping_key(obj, **_who(request))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            actions.delete_ping_key(obj, **_who(request))
