"""The admin door for incidents' configuration (checklist templates, the severity matrix),
audited like the rest of the configuration, and a read-only view of incidents and their
append-only timelines. Incidents are worked in the workspace, through incidents.actions,
never edited here."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from alertum.core.admin import AuditedAdminMixin, ReadOnlyAdminMixin, pretty_json
from incidents.models import (
    ChecklistItem,
    ChecklistTemplate,
    Incident,
    PlaybookStep,
    PlaybookTemplate,
    Reminder,
    SeverityRule,
    TimelineEntry,
)
from incidents.queries import visible_incidents

# --- configuration --------------------------------------------------------------------------------


class ChecklistTemplateForm(forms.ModelForm):
    class Meta:
        model = ChecklistTemplate
        fields = ["name", "severity", "items", "active"]

    def clean_items(self):
        items = self.cleaned_data.get("items")
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i.strip() for i in items):
            raise ValidationError('Enter a non-empty list of item texts, e.g. ["Confirm impact scope"].')
        too_long = [i for i in items if len(i.strip()) > ChecklistItem._meta.get_field("text").max_length]
        if too_long:
            raise ValidationError(f"Items are at most 300 characters: {too_long[0][:40]}…")
        return [i.strip() for i in items]


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = ChecklistTemplateForm
    list_display = ("name", "severity", "item_count", "active")
    list_filter = ("severity", "active")
    search_fields = ("name",)

    @admin.display(description="Items")
    def item_count(self, template):
        return len(template.items or [])


@admin.register(SeverityRule)
class SeverityRuleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """The P1–P4 matrix. Severity is editable straight from the list (each save audited)."""

    list_display = ("rule", "impact", "tier", "users_affected", "severity", "description")
    list_display_links = ("rule",)
    list_editable = ("severity",)
    list_filter = ("impact", "tier", "users_affected", "severity")
    search_fields = ("description",)

    @admin.display(description="Rule")
    def rule(self, rule):
        return str(rule)


# --- incidents and their timelines (read only) -------------------------------------------------


class TimelineEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TimelineEntry
    fields = ("seq", "occurred_at", "kind", "actor", "source", "visibility", "shown_data")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("seq",)

    @admin.display(description="Data")
    def shown_data(self, entry):
        return format_html("<code>{}</code>", json.dumps(entry.data, sort_keys=True, ensure_ascii=False,
                                                          default=str))


class ChecklistItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ChecklistItem
    fields = ("position", "text", "done_at", "done_by")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Viewable with filters and search; changed only in the workspace (incidents.actions).
    Restricted incidents stay hidden from staff outside their team, as in every door."""

    list_display = ("reference", "title", "status", "severity", "team", "sensitivity", "created_at")
    list_display_links = ("reference", "title")
    list_filter = ("status", "severity", "team", "sensitivity", "services")
    list_select_related = ("team",)
    search_fields = ("title", "description", "slug")
    inlines = [ChecklistItemInline, TimelineEntryInline]
    fieldsets = (
        (None, {"fields": ("reference", "title", "description", "status", "severity", "severity_reason", "team",
                           "services", "tags", "sensitivity", "merged_into", "related")}),
        ("People", {"fields": ("assignee", "commander", "comms_lead", "liaison", "responders", "created_by")}),
        ("Impact", {"fields": ("impact", "users_affected", "business_functions", "urgency")}),
        ("Times", {"fields": ("started_at", "detected_at", "acknowledged_at", "identified_at", "monitoring_at",
                              "resolved_at", "created_at", "updated_at")}),
        ("Origin", {"fields": ("source", "last_seq")}),
    )

    def get_queryset(self, request):
        return visible_incidents(request.user).select_related("team")

    def get_search_results(self, request, queryset, search_term):
        # "INC-42" or "42" finds incident number 42, beside the text search.
        filtered = queryset  # already narrowed by the list filters
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = search_term.strip().upper().removeprefix("INC-")
        if number.isdigit():
            queryset |= filtered.filter(number=int(number))
        return queryset, may_have_duplicates

    @admin.display(description="Incident", ordering="number")
    def reference(self, incident):
        return incident.reference


@admin.register(TimelineEntry)
class TimelineEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("incident_reference", "seq", "kind", "actor", "source", "visibility", "occurred_at")
    list_filter = ("kind", "source", "visibility")
    list_select_related = ("incident", "actor")
    search_fields = ("incident__title", "kind")
    fields = ("incident", "seq", "kind", "actor", "source", "occurred_at", "visibility", "shown_data", "prev_hash",
              "hash")
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(incident__in=visible_incidents(request.user))

    @admin.display(description="Incident", ordering="incident__number")
    def incident_reference(self, entry):
        return entry.incident.reference

    @admin.display(description="Data")
    def shown_data(self, entry):
        return pretty_json(entry.data)


from incidents.intake import admin as _intake_admin  # noqa: E402,F401  (registers the intake admin)

# --- response playbooks (incidents/playbook/) ----------------------------------------------------


class PlaybookStepInline(admin.TabularInline):
    """Steps in order; each saved through the audited save_config like the template."""

    model = PlaybookStep
    fields = ("position", "offset_minutes", "role", "text", "repeat_every_minutes")
    extra = 1
    ordering = ("position", "offset_minutes", "id")


@admin.register(PlaybookTemplate)
class PlaybookTemplateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """One active playbook per severity. Incidents already armed keep their reminders:
    edits apply to incidents declared (or re-graded) afterwards."""

    list_display = ("name", "severity", "step_count", "grace_minutes", "active")
    list_filter = ("severity", "active")
    search_fields = ("name", "steps__text")
    fields = ("name", "severity", "grace_minutes", "active")
    inlines = [PlaybookStepInline]

    @admin.display(description="Steps")
    def step_count(self, template):
        return template.steps.count()


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every reminder and its e-mail, for support; marked done in the workspace or the API."""

    list_display = ("incident_reference", "text", "occurrence", "role", "due_at", "state", "addressed_to",
                    "notify_state")
    list_filter = ("state", "notify_state", "role", "severity")
    list_select_related = ("incident", "addressed_to")
    search_fields = ("text", "incident__title")
    fields = ("incident", "step", "occurrence", "severity", "role", "text", "repeat_every_minutes", "due_at",
              "state", "fired_at", "addressed_to", "done_at", "done_by", "skipped_at", "skip_reason",
              "notify_state", "notify_attempts", "notify_next_at", "notified_at", "notify_error",
              "notify_message_id")
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(incident__in=visible_incidents(request.user))

    @admin.display(description="Incident", ordering="incident__number")
    def incident_reference(self, reminder):
        return reminder.incident.reference
