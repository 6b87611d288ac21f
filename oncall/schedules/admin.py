"""The admin door for schedules: schedules, layers (participants and restrictions
inline), overrides, fatigue limits; read-only handoffs (with a re-send action), handoff
notes and calendar links (with a revoke action).

Writes go through the audited core helpers (AuditedAdminMixin) or the schedule actions;
after any change to a schedule's rows its next handoff is recomputed, as the other doors do.
"""

from django.contrib import admin

from alertum.core.admin import AuditedAdminMixin, ReadOnlyAdminMixin, each_selected
from alertum.core.models import Door
from oncall.schedules import actions
from oncall.schedules.models import (
    CalendarFeed,
    FatigueLimits,
    Handoff,
    HandoffNote,
    Layer,
    Override,
    Participant,
    Restriction,
    Schedule,
)


class RescheduleMixin(AuditedAdminMixin):
    """Recompute the schedule's next handoff after the admin saved or deleted rows."""

    def schedule_of(self, obj):
        return obj if isinstance(obj, Schedule) else obj.schedule

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        actions.reschedule_handoff(self.schedule_of(form.instance))

    def delete_model(self, request, obj):
        schedule = None if isinstance(obj, Schedule) else self.schedule_of(obj)
        super().delete_model(request, obj)
        if schedule is not None:
            actions.reschedule_handoff(schedule)

    def delete_queryset(self, request, queryset):
        schedules = {self.schedule_of(o) for o in queryset} if queryset.model is not Schedule else set()
        super().delete_queryset(request, queryset)
        for schedule in schedules:
            actions.reschedule_handoff(schedule)


class LayerInline(admin.TabularInline):
    model = Layer
    extra = 0
    fields = ("name", "level", "rotation_length", "rotation_unit", "starts_at", "ends_at")
    show_change_link = True


@admin.register(Schedule)
class ScheduleAdmin(RescheduleMixin, admin.ModelAdmin):
    list_display = ("name", "team", "time_zone", "next_handoff_at")
    list_filter = ("team",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("next_handoff_at", "created_at", "updated_at")
    inlines = [LayerInline]


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 1
    fields = ("position", "user")
    autocomplete_fields = ("user",)


class RestrictionInline(admin.TabularInline):
    model = Restriction
    extra = 0
    fields = ("weekdays", "start_time", "end_time")


@admin.register(Layer)
class LayerAdmin(RescheduleMixin, admin.ModelAdmin):
    list_display = ("name", "schedule", "level", "rotation_length", "rotation_unit", "starts_at", "ends_at")
    list_filter = ("schedule__team", "rotation_unit")
    list_select_related = ("schedule",)
    search_fields = ("name", "schedule__name")
    inlines = [ParticipantInline, RestrictionInline]


@admin.register(Override)
class OverrideAdmin(RescheduleMixin, admin.ModelAdmin):
    list_display = ("schedule", "user", "starts_at", "ends_at", "reason", "created_by")
    list_filter = ("schedule__team", "schedule")
    list_select_related = ("schedule", "user", "created_by")
    autocomplete_fields = ("user",)
    readonly_fields = ("created_by", "created_at")
    date_hierarchy = "starts_at"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(FatigueLimits)
class FatigueLimitsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("team", "max_consecutive_shifts", "min_rest_hours", "max_pages_per_shift", "max_pages_per_night",
                    "night_starts", "night_ends")


@admin.register(Handoff)
class HandoffAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("schedule", "handoff_at", "incoming", "outgoing", "status", "attempts", "sent_at")
    list_filter = ("status", "schedule")
    list_select_related = ("schedule", "incoming", "outgoing")
    actions = ["resend"]

    @admin.action(description="Send the selected handoff summaries again")
    def resend(self, request, queryset):
        from oncall.schedules.handoff import requeue

        each_selected(request, queryset, lambda h: requeue(h), label=str,
                      done=lambda ok: f"Queued {len(ok)} handoff summaries again.", not_done="Not queued")


@admin.register(HandoffNote)
class HandoffNoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("schedule", "author", "created_at", "handoff")
    list_select_related = ("schedule", "author", "handoff")


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("owner", "schedule", "created_at", "last_used_at", "revoked_at")
    list_select_related = ("owner", "schedule")
    exclude = ("secret_hash",)
    actions = ["revoke"]

    @admin.action(description="Revoke the selected calendar links")
    def revoke(self, request, queryset):
        each_selected(request, queryset,
                      lambda f: actions.revoke_calendar_feed(f, actor=request.user, source=Door.ADMIN), label=str,
                      done=lambda ok: f"Revoked {len(ok)} calendar links.", not_done="Not revoked")
