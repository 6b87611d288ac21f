"""Admin for all monitor configuration. Saves and deletes go through monitoring.actions
(validation per kind, permissions, audit); results, roll-ups and status changes are
read-only history."""

from django.contrib import admin

from alertum.core.admin import AuditedAdminMixin, each_selected
from monitoring import actions
from monitoring.models import CheckResult, Monitor, Rollup, StatusChange

EDITABLE = ["service", "name", "kind", "config", "interval_seconds", "timeout_seconds", "failure_threshold",
            "success_threshold", "rules", "anomaly_sensitivity"]


def _adopt(obj, saved) -> None:
    for field in type(saved)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    fields = ("at", "from_state", "to_state", "reason", "source")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-at",)


@admin.register(Monitor)
class MonitorAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "service", "kind", "state", "interval_seconds", "is_paused", "last_checked_at")
    list_filter = ("kind", "state", "is_paused", "service")
    list_select_related = ("service",)
    search_fields = ("name", "service__name", "service__slug")
    autocomplete_fields = ["service"]
    readonly_fields = ("state", "is_paused", "next_check_at", "last_checked_at", "consecutive_failures",
                       "consecutive_successes", "certificate_expires_at", "created_at", "updated_at")
    fields = (*EDITABLE, *readonly_fields)
    inlines = [StatusChangeInline]
    actions = ["pause_selected", "resume_selected"]

    def save_model(self, request, obj, form, change):
        who = self.audit_kwargs(request)
        values = {name: form.cleaned_data[name] for name in EDITABLE if name in form.cleaned_data}
        if change:
            changed = {name: value for name, value in values.items() if name in form.changed_data}
            _adopt(obj, actions.update_monitor(obj, **changed, **who))
        else:
            _adopt(obj, actions.create_monitor(**values, **who))

    def delete_model(self, request, obj):
        actions.delete_monitor(obj, **self.audit_kwargs(request))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            actions.delete_monitor(obj, **self.audit_kwargs(request))

    @admin.action(description="Pause the selected monitors", permissions=["change"])
    def pause_selected(self, request, queryset):
        each_selected(request, queryset.select_related("service"),
                      lambda m: actions.pause_monitor(m, **self.audit_kwargs(request)), label=str,
                      done=lambda names: f"Paused {', '.join(names)}", not_done="Not paused")

    @admin.action(description="Resume the selected monitors", permissions=["change"])
    def resume_selected(self, request, queryset):
        each_selected(request, queryset.select_related("service"),
                      lambda m: actions.resume_monitor(m, **self.audit_kwargs(request)), label=str,
                      done=lambda names: f"Resumed {', '.join(names)}", not_done="Not resumed")


class HistoryAdmin(admin.ModelAdmin):
    """History is written by the engine only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CheckResult)
class CheckResultAdmin(HistoryAdmin):
    list_display = ("monitor", "at", "ok", "latency_ms", "status_code", "message")
    list_filter = ("ok",)
    list_select_related = ("monitor",)
    date_hierarchy = "at"
    search_fields = ("monitor__name", "message")


@admin.register(Rollup)
class RollupAdmin(HistoryAdmin):
    list_display = ("monitor", "granularity", "bucket", "count", "failures", "latency_p50", "latency_p95",
                    "latency_max")
    list_filter = ("granularity",)
    list_select_related = ("monitor",)


@admin.register(StatusChange)
class StatusChangeAdmin(HistoryAdmin):
    list_display = ("monitor", "at", "from_state", "to_state", "reason", "source")
    list_filter = ("to_state",)
    list_select_related = ("monitor",)
