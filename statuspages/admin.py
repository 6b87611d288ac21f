"""The admin door for status pages: pages, components, public incidents, maintenance,
subscribers, notices, stakeholder audiences, templates.

Every save goes through `statuspages.actions` (which audit, bump the public cache and
owe notices); nothing here writes a row itself. A DomainError comes back as a message
and nothing is saved (AuditedAdminMixin's error handling).
"""

from django import forms
from django.contrib import admin, messages
from django.db import transaction

from alertum.core.admin import AuditedAdminMixin, ReadOnlyAdminMixin, client_ip, each_selected, pretty_json
from alertum.core.models import Door
from statuspages import actions
from statuspages.models import (
    Component,
    IncidentStatus,
    MessageTemplate,
    Notice,
    PublicIncident,
    PublicMaintenance,
    PublicUpdate,
    StakeholderAudience,
    StatusPage,
    Subscriber,
)


def _read_only_formsets(formsets) -> None:
    # The inlines show rows read-only; save(commit=False) only builds the lists the
    # admin's change message reads, and writes nothing.
    for formset in formsets:
        formset.save(commit=False)


def _who(request) -> dict:
    return {"actor": request.user, "source": Door.ADMIN, "ip_address": client_ip(request)}


class StatusPageForm(forms.ModelForm):
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                               help_text="Sets a new shared password (stored hashed); leave empty to keep it.")

    class Meta:
        model = StatusPage
        fields = ["name", "slug", "team", "custom_domain", "description", "time_zone", "access", "password",
                  "allowed_ips", "support_url"]


class ComponentInline(admin.TabularInline):
    model = Component
    fields = ["name", "group", "is_group", "status", "position"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(StatusPage)
class StatusPageAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = StatusPageForm
    list_display = ["name", "slug", "team", "access", "custom_domain", "time_zone"]
    list_filter = ["access", "team"]
    search_fields = ["name", "slug", "custom_domain"]
    inlines = [ComponentInline]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in actions.PAGE_FIELDS if name in form.cleaned_data}
        password = form.cleaned_data.get("password") or ""
        if change:
            saved = actions.update_page(StatusPage.objects.get(pk=obj.pk), password=password, **data, **_who(request))
        else:
            team = data.pop("team")
            saved = actions.create_page(team=team, password=password, **data, **_who(request))
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        _read_only_formsets(formsets)  # links were set by the action; inlines are read-only

    def delete_model(self, request, obj):
        actions.delete_page(obj, **_who(request))

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for page in queryset:
                actions.delete_page(page, **_who(request))


@admin.register(Component)
class ComponentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "page", "group", "is_group", "status", "reported_status", "automatic", "position"]
    list_filter = ["page", "status", "automatic", "is_group"]
    search_fields = ["name", "code"]
    fields = ["page", "name", "description", "group", "is_group", "position", "automatic", "showcase",
              "only_show_if_degraded", "start_date", "services", "monitors", "status", "reported_status"]
    readonly_fields = ["status", "reported_status"]
    filter_horizontal = ["services", "monitors"]
    actions = ["mark_operational", "mark_major_outage"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "page"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in actions.COMPONENT_FIELDS if name in form.cleaned_data}
        links = {name: list(form.cleaned_data[name]) for name in ("services", "monitors") if name in form.cleaned_data}
        page = obj.page
        saved = actions.save_component(page, Component.objects.get(pk=obj.pk) if change else None, **data, **links,
                                       **_who(request))
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        _read_only_formsets(formsets)  # links were set by the action; inlines are read-only

    def delete_model(self, request, obj):
        actions.delete_component(obj, **_who(request))

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for component in queryset:
                actions.delete_component(component, **_who(request))

    def _set(self, request, queryset, status):
        each_selected(request, queryset.filter(is_group=False),
                      lambda c: actions.set_component_status(c, status, **_who(request)),
                      label=str, done=lambda names: f"Set {status} on {', '.join(names)}",
                      not_done="Some were not changed")

    @admin.action(description="Set selected components operational")
    def mark_operational(self, request, queryset):
        self._set(request, queryset, "operational")

    @admin.action(description="Set selected components to major outage")
    def mark_major_outage(self, request, queryset):
        self._set(request, queryset, "major_outage")


class UpdateInline(admin.TabularInline):
    model = PublicUpdate
    fields = ["display_at", "status", "body", "affected_components", "deliver_notifications"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    fk_name = "incident"

    def has_add_permission(self, request, obj=None):
        return False


class PublicIncidentForm(forms.ModelForm):
    body = forms.CharField(widget=forms.Textarea, required=False,
                           help_text="New incidents: the first update's message.")

    class Meta:
        model = PublicIncident
        fields = ["page", "name", "status", "incident", "impact_override"]


@admin.register(PublicIncident)
class PublicIncidentAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = PublicIncidentForm
    list_display = ["name", "page", "status", "impact", "incident", "created_at"]
    list_filter = ["page", "status", "impact"]
    search_fields = ["name", "code"]
    raw_id_fields = ["incident"]
    inlines = [UpdateInline]
    actions = ["resolve"]

    def get_readonly_fields(self, request, obj=None):
        return ["page", "status", "impact", "code"] if obj else []

    def get_fields(self, request, obj=None):
        if obj:
            return ["code", "page", "name", "status", "impact", "impact_override", "incident"]
        return ["page", "name", "status", "body", "incident", "impact_override"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            actions.edit_public_incident(PublicIncident.objects.get(pk=obj.pk), name=data["name"],
                                         impact_override=data.get("impact_override", ""),
                                         incident=data.get("incident"), unlink=data.get("incident") is None,
                                         **_who(request))
            return
        saved = actions.create_public_incident(data["page"], name=data["name"], status=data["status"],
                                               body=data.get("body", ""), incident=data.get("incident"),
                                               impact_override=data.get("impact_override", ""), **_who(request))
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        _read_only_formsets(formsets)  # links were set by the action; inlines are read-only

    def has_delete_permission(self, request, obj=None):
        return False  # what customers were told stays told; resolve instead

    @admin.action(description="Resolve selected incidents (default message)")
    def resolve(self, request, queryset):
        each_selected(request, queryset.exclude(status__in=["resolved", "postmortem"]),
                      lambda i: actions.post_incident_update(i, status=IncidentStatus.RESOLVED,
                                                             body=actions.DEFAULT_TEMPLATES["resolved"],
                                                             **_who(request)),
                      label=str, done=lambda names: f"Resolved {', '.join(names)}", not_done="Some were not resolved")


class MaintenanceUpdateInline(UpdateInline):
    fk_name = "maintenance"


@admin.register(PublicMaintenance)
class PublicMaintenanceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "page", "status", "window", "remind_prior", "reminded_at", "cancelled"]
    list_filter = ["page", "status", "cancelled"]
    search_fields = ["name", "code"]
    fields = ["page", "name", "window", "components", "remind_prior"]
    filter_horizontal = ["components"]
    inlines = [MaintenanceUpdateInline]
    actions = ["start", "complete", "cancel"]

    def get_readonly_fields(self, request, obj=None):
        return ["page", "name", "window", "components", "remind_prior", "status"] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        saved = actions.schedule_public_maintenance(
            data["page"], name=data["name"], starts_at=None, ends_at=None, window=data["window"],
            components=list(data["components"]), remind_prior=data["remind_prior"], **_who(request))
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        _read_only_formsets(formsets)  # links were set by the action; inlines are read-only

    def has_delete_permission(self, request, obj=None):
        return False

    def _move(self, request, queryset, status):
        each_selected(request, queryset.filter(done=False),
                      lambda m: actions.post_maintenance_update(m, status=status, **_who(request)),
                      label=str, done=lambda names: f"{status}: {', '.join(names)}", not_done="Some did not move")

    @admin.action(description="Start selected maintenance now")
    def start(self, request, queryset):
        self._move(request, queryset, "in_progress")

    @admin.action(description="Complete selected maintenance")
    def complete(self, request, queryset):
        self._move(request, queryset, "completed")

    @admin.action(description="Cancel selected maintenance")
    def cancel(self, request, queryset):
        each_selected(request, queryset.filter(done=False),
                      lambda m: actions.cancel_maintenance(m, **_who(request)),
                      label=str, done=lambda names: f"Cancelled {', '.join(names)}", not_done="Some were not cancelled")


class SubscriberForm(forms.ModelForm):
    class Meta:
        model = Subscriber
        fields = ["page", "kind", "email", "url", "components"]


@admin.register(Subscriber)
class SubscriberAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = SubscriberForm
    list_display = ["__str__", "page", "kind", "confirmed_at", "unsubscribed_at", "created_at"]
    list_filter = ["page", "kind"]
    search_fields = ["email", "url", "code"]
    filter_horizontal = ["components"]

    def get_readonly_fields(self, request, obj=None):
        return ["page", "kind", "email", "url", "components", "confirmed_at", "unsubscribed_at"] if obj else []

    def get_fields(self, request, obj=None):
        fields = ["page", "kind", "email", "url", "components"]
        return fields + ["confirmed_at", "unsubscribed_at"] if obj else fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        saved = actions.add_subscriber(data["page"], kind=data["kind"], email=data.get("email", ""),
                                       url=data.get("url", ""), components=list(data["components"]), **_who(request))
        obj.pk = saved.pk
        if saved.secret:
            messages.warning(request, f"Webhook signing secret (shown once, give it to the subscriber): {saved.secret}")

    def save_related(self, request, form, formsets, change):
        _read_only_formsets(formsets)  # links were set by the action; inlines are read-only

    def delete_model(self, request, obj):
        actions.remove_subscriber(obj, **_who(request))

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for subscriber in queryset:
                actions.remove_subscriber(subscriber, **_who(request))


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["event", "kind", "title", "state", "attempts", "last_error", "created_at", "sent_at"]
    list_filter = ["state", "kind", "event", "page"]
    search_fields = ["key", "title"]
    readonly_fields = ["payload_pretty"]
    actions = ["retry"]

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)

    def has_change_permission(self, request, obj=None):
        return obj is None  # the list (and its retry action), never the row's fields

    @admin.action(description="Retry selected failed notices")
    def retry(self, request, queryset):
        each_selected(request, queryset, lambda n: actions.retry_notice(n, actor=request.user, source=Door.ADMIN),
                      label=lambda n: n.key, done=lambda keys: f"Retrying {len(keys)} notice(s)",
                      not_done="Some were not retried")


@admin.register(StakeholderAudience)
class StakeholderAudienceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "team", "severities", "enabled"]
    list_filter = ["kind", "enabled"]
    fields = ["name", "kind", "target", "team", "severities", "enabled"]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in self.fields}
        saved = actions.save_audience(StakeholderAudience.objects.get(pk=obj.pk) if change else None, **data,
                                      **_who(request))
        obj.pk = saved.pk


@admin.register(MessageTemplate)
class MessageTemplateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "page", "status"]
    list_filter = ["page", "status"]
