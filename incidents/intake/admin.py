"""The admin door for intake: integrations (the raw key is shown once, in a message),
silences, grouping / inhibition / alert-severity / routing rules, and read-only views of
raw events (with their error, and a replay action), alerts (with their decisions) and
change events.

Every write goes through incidents.intake.actions with source "admin", which validates
(matchers, time zones, severities …), checks who may, and audits. A refusal comes back
as an error message and nothing is saved (AuditedAdminMixin's handling).
"""

import json

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from alertum.core.admin import AuditedAdminMixin, ReadOnlyAdminMixin, TimeZoneFieldMixin, each_selected, pretty_json
from alertum.core.errors import DomainError
from alertum.core.models import Door
from incidents.intake import actions, queries
from incidents.models import (
    Alert,
    AlertSeverityRule,
    ChangeEvent,
    GroupingRule,
    InhibitionRule,
    Integration,
    RawEvent,
    RoutingRule,
    Silence,
)


def adopt(obj, saved) -> None:
    """The admin goes on with `obj` after save_model (log entry, redirect): make it the
    row the action saved."""
    for field in type(saved)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding, obj._state.db = False, saved._state.db


class IntakeAdminMixin(AuditedAdminMixin):
    """save_model and delete_model call the intake actions instead of save_config, so
    the admin validates and checks permissions exactly as the pages and the API do."""

    def changed_values(self, form, obj) -> dict:
        names = form.changed_data if obj.pk else list(form.cleaned_data)
        return {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}


# --- integrations ----------------------------------------------------------------------------------

@admin.register(Integration)
class IntegrationAdmin(IntakeAdminMixin, admin.ModelAdmin):
    list_display = ("name", "service", "kind", "shown_key", "rate_limit_per_minute", "active", "created_at")
    list_filter = ("kind", "active", "service__owner_team", "service")
    list_select_related = ("service",)
    search_fields = ("name", "key_prefix", "service__name", "service__slug")
    autocomplete_fields = ["service"]
    actions = ["rotate_keys"]
    audit_exclude = ("key_hash",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["service", "name", "kind", "rate_limit_per_minute", "verify_grafana_signature"]
        return ["service", "name", "kind", "shown_key", "rate_limit_per_minute", "verify_grafana_signature", "active",
                "created_at", "created_by"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # The kind and service are in the URL the sender has; a different one is a new integration.
        return ["service", "kind", "shown_key", "created_at", "created_by"]

    @admin.display(description="Key")
    def shown_key(self, integration):
        return f"{integration.key_prefix}…"

    def save_model(self, request, obj, form, change):
        who = self.audit_kwargs(request)
        if change:
            adopt(obj, actions.update_integration(obj, **self.changed_values(form, obj), **who))
            return
        integration, raw = actions.create_integration(**form.cleaned_data, **who)
        adopt(obj, integration)
        messages.success(request, format_html(
            "Integration key for {}: <code>{}</code> — copy it now: it is shown only this once and stored only as a "
            "hash. The set-up text is on <a href=\"{}\">the integration's page</a>.", integration, raw,
            reverse("alerts:integration", args=[integration.pk])))

    def delete_model(self, request, obj):
        actions.delete_integration(obj, **self.audit_kwargs(request))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            actions.delete_integration(obj, **self.audit_kwargs(request))

    @admin.action(description="Rotate the key of the selected integrations", permissions=["change"])
    def rotate_keys(self, request, queryset):
        for integration in queryset.select_related("service"):
            try:
                integration, raw = actions.rotate_integration_key(integration, **self.audit_kwargs(request))
            except DomainError as exc:
                messages.error(request, f"{integration}: {exc.message}")
                continue
            messages.success(request, format_html("New key for {}: <code>{}</code> — shown only this once.",
                                                  integration, raw))


# --- silences --------------------------------------------------------------------------------------

class SilenceStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("pending", "Pending"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        if self.value() in ("active", "pending", "expired"):
            return queries.silences_in_state(queryset, self.value(), timezone.now())
        return queryset


class SilenceForm(forms.ModelForm):
    class Meta:
        model = Silence
        fields = ["matchers", "service", "starts_at", "ends_at", "comment"]
        help_texts = {"matchers": 'A JSON list, e.g. [{"name": "alertname", "value": "DiskFull"}, '
                                  '{"name": "instance", "value": "web-.*", "isRegex": true}]'}


@admin.register(Silence)
class SilenceAdmin(IntakeAdminMixin, admin.ModelAdmin):
    form = SilenceForm
    list_display = ("pk", "__str__", "service", "state_now", "starts_at", "ends_at", "created_by", "comment")
    list_display_links = ("pk", "__str__")
    list_filter = (SilenceStateFilter, "service")
    list_select_related = ("service", "created_by")
    search_fields = ("comment", "created_by__username", "service__name")
    readonly_fields = ("created_by", "created_at")
    actions = ["expire_silences"]

    @admin.display(description="State")
    def state_now(self, silence):
        return silence.state()

    def save_model(self, request, obj, form, change):
        who = self.audit_kwargs(request)
        if change:
            adopt(obj, actions.update_silence(obj, **self.changed_values(form, obj), **who))
        else:
            adopt(obj, actions.create_silence(**form.cleaned_data, **who))

    def has_delete_permission(self, request, obj=None):
        return False  # a silence is the record of who muted what: it is expired, never deleted

    @admin.action(description="Expire the selected silences now", permissions=["change"])
    def expire_silences(self, request, queryset):
        each_selected(request, queryset, lambda silence: actions.expire_silence(silence, **self.audit_kwargs(request)),
                      label=lambda silence: f"#{silence.pk}", not_done="Not expired",
                      done=lambda ok: f"Expired {len(ok)} silence(s).")


# --- rules -----------------------------------------------------------------------------------------

@admin.register(GroupingRule)
class GroupingRuleAdmin(IntakeAdminMixin, admin.ModelAdmin):
    list_display = ("service", "group_by", "dedup_key_template", "window_seconds", "max_alerts", "cooldown_seconds",
                    "auto_resolve", "auto_resolve_after_seconds")
    list_filter = ("auto_resolve", "service__owner_team")
    list_select_related = ("service",)
    search_fields = ("service__name", "dedup_key_template")
    autocomplete_fields = ["service"]

    def get_readonly_fields(self, request, obj=None):
        return ["service"] if obj else []

    def save_model(self, request, obj, form, change):
        values = self.changed_values(form, obj)
        values.pop("service", None)
        adopt(obj, actions.save_grouping_rule(obj.service, **values, **self.audit_kwargs(request)))

    def delete_model(self, request, obj):
        actions.delete_grouping_rule(obj, **self.audit_kwargs(request))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            actions.delete_grouping_rule(obj, **self.audit_kwargs(request))


class RuleAdmin(IntakeAdminMixin, admin.ModelAdmin):
    list_select_related = ("service",)
    autocomplete_fields = ["service"]

    def save_model(self, request, obj, form, change):
        who = self.audit_kwargs(request)
        if change:
            adopt(obj, actions.update_rule(obj, **self.changed_values(form, obj), **who))
        else:
            adopt(obj, actions.create_rule(type(obj), **form.cleaned_data, **who))

    def delete_model(self, request, obj):
        actions.delete_rule(obj, **self.audit_kwargs(request))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            actions.delete_rule(obj, **self.audit_kwargs(request))


@admin.register(InhibitionRule)
class InhibitionRuleAdmin(RuleAdmin):
    list_display = ("name", "service", "source_matchers", "target_matchers", "equal", "active")
    list_filter = ("active", "service")
    search_fields = ("name", "service__name")


@admin.register(AlertSeverityRule)
class AlertSeverityRuleAdmin(RuleAdmin):
    list_display = ("position", "__str__", "service", "alert_severity", "impact")
    list_display_links = ("__str__",)
    list_filter = ("alert_severity", "impact", "service")
    search_fields = ("service__name",)


@admin.register(RoutingRule)
class RoutingRuleAdmin(TimeZoneFieldMixin, RuleAdmin):
    list_display = ("position", "name", "service", "severities", "during", "team", "escalation_policy_slug",
                    "defer_to_business_hours", "time_zone", "active")
    list_display_links = ("name",)
    list_filter = ("active", "during", "defer_to_business_hours", "team", "service")
    list_select_related = ("service", "team")
    search_fields = ("name", "escalation_policy_slug", "service__name", "team__name")
    autocomplete_fields = ["service", "team"]


# --- raw events, alerts and change events (read only) -------------------------------------------------

@admin.register(RawEvent)
class RawEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What senders sent, exactly as received. A failed or dead event shows its error and
    can be replayed (queued again); a processed one cannot (it would apply twice)."""

    list_display = ("pk", "integration", "endpoint", "state", "attempts", "received_at", "short_error")
    list_filter = ("state", "endpoint", "integration__kind", "integration")
    list_select_related = ("integration__service",)
    search_fields = ("error", "assigned_dedup_key", "integration__name")
    fields = ("integration", "endpoint", "state", "attempts", "received_at", "next_attempt_at", "processed_at",
              "error", "assigned_dedup_key", "shown_headers", "shown_body")
    readonly_fields = fields
    actions = ["replay"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("body")  # up to 512 KB each; the change page loads it

    def has_replay_permission(self, request):
        return request.user.is_active and request.user.is_staff

    @admin.display(description="Error")
    def short_error(self, raw):
        return (raw.error[:120] + "…") if len(raw.error) > 120 else raw.error or "—"

    @admin.display(description="Headers")
    def shown_headers(self, raw):
        return pretty_json(raw.headers)

    @admin.display(description="Body")
    def shown_body(self, raw):
        try:
            text = json.dumps(json.loads(raw.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = raw.body
        return format_html("<pre>{}</pre>", text)

    @admin.action(description="Replay the selected failed or dead raw events", permissions=["replay"])
    def replay(self, request, queryset):
        each_selected(request, queryset.select_related("integration__service"),
                      lambda raw: actions.replay_raw_event(raw, actor=request.user, source=Door.ADMIN),
                      label=lambda raw: f"#{raw.pk}", not_done="Not replayed",
                      done=lambda ok: f"Queued again: {', '.join(ok)}.")


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("summary", "service", "status", "severity", "suppressed", "count", "last_seen_at", "incident")
    list_filter = ("status", "severity", "suppressed", "source", "service")
    list_select_related = ("service", "incident")
    search_fields = ("summary", "dedup_key", "group_key")
    fields = ("summary", "service", "integration", "source", "dedup_key", "status", "severity", "suppressed",
              "count", "first_seen_at", "last_seen_at", "resolved_at", "group_key", "incident", "shown_labels",
              "shown_annotations", "links", "shown_decisions", "last_raw_event_id")
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request):
        return queries.visible_alerts(request.user)

    @admin.display(description="Labels")
    def shown_labels(self, alert):
        return pretty_json(alert.labels)

    @admin.display(description="Annotations")
    def shown_annotations(self, alert):
        return pretty_json(alert.annotations)

    @admin.display(description="Decisions")
    def shown_decisions(self, alert):
        return pretty_json(alert.decisions)


@admin.register(ChangeEvent)
class ChangeEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("summary", "service", "source", "occurred_at", "integration")
    list_filter = ("service",)
    list_select_related = ("service", "integration")
    search_fields = ("summary", "source")
    fields = ("summary", "service", "integration", "source", "occurred_at", "shown_details", "links")
    readonly_fields = fields

    @admin.display(description="Details")
    def shown_details(self, change):
        return pretty_json(change.custom_details)
