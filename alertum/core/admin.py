"""The admin door for configuration: people, teams, services, maintenance, API tokens,
and a read-only view of the audit trail.

Every save and delete goes through `alertum.core.actions` (save_config / delete_config
or a specific action) via `AuditedAdminMixin`, so the audit trail records who changed
what, from which address, with source "admin". Nothing here calls `obj.save()` itself.
"""

import ipaddress
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from alertum.core import audit
from alertum.core.actions import (
    create_api_token,
    delete_config,
    revoke_api_token,
    save_config,
    set_maintenance_state,
)
from alertum.core.errors import DomainError
from alertum.core.models import (
    TIME_ZONE_NAMES,
    ApiToken,
    AuditEntry,
    Door,
    MaintenanceWindow,
    Membership,
    Service,
    Team,
    User,
)


def client_ip(request) -> str | None:
    """The address the request came from, as the audit trail stores it. REMOTE_ADDR only:
    a forwarded-for header is whatever the client chose to send unless a proxy we trust
    rewrote it, and that is the proxy's job to put in REMOTE_ADDR."""
    try:
        return str(ipaddress.ip_address(request.META.get("REMOTE_ADDR") or ""))
    except ValueError:
        return None


def error_text(exc: Exception) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def each_selected(request, objects, perform, *, label, done, not_done: str) -> None:
    """Run an action on each selected row; report what was done and, per row, what the
    action refused (a DomainError), so one refusal does not hide the others. `done` makes
    the success message from the labels of the rows done."""
    ok, refused = [], []
    for obj in objects:
        try:
            perform(obj)
            ok.append(label(obj))
        except DomainError as exc:
            refused.append(f"{label(obj)}: {exc.message}")
    if ok:
        messages.success(request, done(ok))
    if refused:
        messages.error(request, f"{not_done} — " + "; ".join(refused))


class AuditedAdminMixin:
    """Route every admin write through the audited actions.

    - save_model: `save_config` with a snapshot of the row as it is in the database
      (locked) and the form's many-to-many values, so one audit entry holds the field
      and relation changes of one save.
    - save_related: the form's many-to-many were set by save_model; inline formsets are
      saved object by object through save_config / delete_config, each audited.
    - delete_model / delete_queryset ("delete selected"): delete_config per object.

    A DomainError or ValidationError raised by an action rolls the whole save back
    (the admin wraps it in a transaction) and comes back as an error message.
    """

    audit_exclude: tuple[str, ...] = ()  # fields never copied into the audit trail (secrets)

    def audit_kwargs(self, request) -> dict:
        return {"actor": request.user, "source": Door.ADMIN, "ip_address": client_ip(request)}

    def audited_fields(self, obj) -> list[str]:
        return [f.name for f in obj._meta.concrete_fields if not f.primary_key and f.name not in self.audit_exclude]

    def save_audited(self, request, obj, form):
        fields = self.audited_fields(obj)
        before = None
        if obj.pk is not None:
            original = type(obj)._default_manager.select_for_update().filter(pk=obj.pk).first()
            if original is not None:
                before = audit.snapshot(original, fields)
                # Apply only what the person changed on top of the row as it is now: a
                # concurrent change to a field the form does not edit (a token revoked
                # meanwhile, say) is not overwritten with the copy loaded earlier, and a
                # value the form merely round-trips (microseconds the date widget drops)
                # is neither rewritten nor reported as a change.
                edited = set(form.changed_data) if form is not None else set()
                for field in obj._meta.concrete_fields:
                    if field.name not in edited and not field.primary_key:
                        setattr(obj, field.attname, getattr(original, field.attname))
        m2m = {}
        if form is not None:
            m2m = {f.name: list(form.cleaned_data[f.name]) for f in obj._meta.many_to_many
                   if f.name in form.changed_data}
        return save_config(obj, before=before, fields=fields, m2m=m2m, **self.audit_kwargs(request))

    def save_model(self, request, obj, form, change):
        self.save_audited(request, obj, form)

    def save_related(self, request, form, formsets, change):
        # The form's many-to-many were set, and audited, by save_model (save_config).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request, form, formset, change):
        formset.save(commit=False)  # builds the lists below; writes nothing
        for obj in formset.deleted_objects:
            delete_config(obj, **self.audit_kwargs(request))
        for inline_form in formset.saved_forms:
            self.save_audited(request, inline_form.instance, inline_form)

    def delete_model(self, request, obj):
        delete_config(obj, **self.audit_kwargs(request))

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                delete_config(obj, **self.audit_kwargs(request))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (DomainError, ValidationError) as exc:
            messages.error(request, f"Nothing was saved: {error_text(exc)}")
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (DomainError, ValidationError) as exc:
            messages.error(request, f"Nothing was deleted: {error_text(exc)}")
            return HttpResponseRedirect(request.get_full_path())

    def changelist_view(self, request, extra_context=None):
        try:  # "delete selected" runs inside the changelist view
            return super().changelist_view(request, extra_context)
        except (DomainError, ValidationError) as exc:
            messages.error(request, f"Nothing was deleted: {error_text(exc)}")
            return HttpResponseRedirect(request.get_full_path())


class ReadOnlyAdminMixin:
    """Viewable, never added, changed or deleted through the admin (append-only records)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str))


# --- people and teams -------------------------------------------------------------------------


class TeamMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "team"
    extra = 0
    autocomplete_fields = ["user"]


class UserMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    autocomplete_fields = ["team"]


class TimeZoneFieldMixin:
    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "time_zone":
            return forms.ChoiceField(choices=[(name, name) for name in TIME_ZONE_NAMES], initial="UTC",
                                     help_text=db_field.help_text, label="Time zone")
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(User)
class UserAdmin(AuditedAdminMixin, TimeZoneFieldMixin, DjangoUserAdmin):
    fieldsets = DjangoUserAdmin.fieldsets + (("Alertum", {"fields": ("time_zone",)}),)
    add_fieldsets = DjangoUserAdmin.add_fieldsets + (("Alertum", {"fields": ("time_zone",)}),)
    list_display = ("username", "email", "first_name", "last_name", "time_zone", "is_staff", "is_superuser",
                    "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active", "memberships__team", "memberships__role")
    inlines = [UserMembershipInline]
    # The password hash never goes into the audit trail; a change is recorded as "changed".
    audit_exclude = ("password",)

    def user_change_password(self, request, id, form_url=""):
        # One transaction, so the password and its audit entry are kept or lost together.
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)

    def log_change(self, request, obj, message):
        # Django's password view saves through its own form and then logs the change:
        # this is the one hook that runs exactly once, after a successful change.
        if request.resolver_match and request.resolver_match.url_name.endswith("_password_change"):
            audit.record("user.password_changed", obj, changes={
                "password": "changed" if obj.has_usable_password() else "disabled"}, **self.audit_kwargs(request))
        return super().log_change(request, obj, message)


@admin.register(Team)
class TeamAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "member_count", "service_count")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [TeamMembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _members=Count("memberships", distinct=True), _services=Count("services", distinct=True))

    @admin.display(description="Members", ordering="_members")
    def member_count(self, team):
        return team._members

    @admin.display(description="Services", ordering="_services")
    def service_count(self, team):
        return team._services


@admin.register(Membership)
class MembershipAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("user", "team", "role")
    list_filter = ("role", "team")
    list_select_related = ("user", "team")
    search_fields = ("user__username", "user__first_name", "user__last_name", "user__email", "team__name")
    autocomplete_fields = ["user", "team"]


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedAdminMixin, DjangoGroupAdmin):
    """Django's permission groups: security-relevant, so audited like the rest."""


# --- service catalog and maintenance -------------------------------------------------------------


class TagListField(forms.JSONField):
    """Tags as a JSON list of short strings."""

    def clean(self, value):
        tags = super().clean(value)
        if tags in (None, ""):
            return []
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            raise ValidationError('Enter a list of non-empty strings, e.g. ["payments", "edge"].')
        return [t.strip() for t in tags]


class ServiceForm(forms.ModelForm):
    tags = TagListField(required=False, initial=list)

    class Meta:
        model = Service
        fields = ["name", "slug", "description", "owner_team", "tier", "runbook_url", "tags", "depends_on"]


@admin.register(Service)
class ServiceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = ServiceForm
    list_display = ("name", "owner_team", "tier", "tag_list", "runbook")
    list_filter = ("tier", "owner_team")
    list_select_related = ("owner_team",)
    search_fields = ("name", "slug", "description", "owner_team__name")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ["owner_team"]
    filter_horizontal = ("depends_on",)

    @admin.display(description="Tags")
    def tag_list(self, service):
        return ", ".join(service.tags or [])

    @admin.display(description="Runbook")
    def runbook(self, service):
        if not service.runbook_url:
            return "—"
        return format_html('<a href="{}" rel="noopener noreferrer">runbook</a>', service.runbook_url)


class MaintenanceWindowForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = ["title", "description", "services", "starts_at", "ends_at"]

    def clean(self):
        cleaned = super().clean()
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "The window must end after it starts.")
        return cleaned


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = MaintenanceWindowForm
    list_display = ("title", "state", "starts_at", "ends_at", "service_list", "created_by")
    list_filter = ("state", "services")
    search_fields = ("title", "description", "services__name")
    filter_horizontal = ("services",)
    # The state moves only through set_maintenance_state (the actions below), which
    # enforces the allowed transitions and stamps started/completed times.
    readonly_fields = ("state", "started_at", "completed_at", "created_by", "created_at")
    actions = ["start_windows", "complete_windows", "cancel_windows"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by").prefetch_related("services")

    @admin.display(description="Services")
    def service_list(self, window):
        return ", ".join(s.name for s in window.services.all())

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def _move(self, request, queryset, state, verb):
        each_selected(request, queryset, lambda w: set_maintenance_state(w, state, **self.audit_kwargs(request)),
                      label=lambda w: w.title, not_done="Not changed",
                      done=lambda ok: f"{verb} {len(ok)} maintenance window(s): {', '.join(ok)}.")

    @admin.action(description="Start selected maintenance windows now", permissions=["change"])
    def start_windows(self, request, queryset):
        self._move(request, queryset, MaintenanceWindow.State.IN_PROGRESS, "Started")

    @admin.action(description="Complete selected maintenance windows", permissions=["change"])
    def complete_windows(self, request, queryset):
        self._move(request, queryset, MaintenanceWindow.State.COMPLETED, "Completed")

    @admin.action(description="Cancel selected maintenance windows", permissions=["change"])
    def cancel_windows(self, request, queryset):
        self._move(request, queryset, MaintenanceWindow.State.CANCELLED, "Cancelled")


# --- API tokens -----------------------------------------------------------------------------------


class ActiveTokenFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at=None)
        if self.value() == "revoked":
            return queryset.exclude(revoked_at=None)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Tokens are created here through create_api_token (the raw value is shown once, in
    a message, and only its SHA-256 kept) and revoked through revoke_api_token. They are
    never deleted from here: a revoked token keeps its record of use."""

    list_display = ("name", "user", "scope", "shown_prefix", "created_at", "last_used_at", "status")
    list_filter = (ActiveTokenFilter, "scope")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username", "user__email")
    autocomplete_fields = ["user"]
    actions = ["revoke_tokens"]
    # token_hash is never shown: it is useless to a person and only helps an attacker.
    audit_exclude = ("token_hash",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "scope"]
        return ["user", "name", "scope", "shown_prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Only the name may change; a different scope or owner is a new token.
        return ["user", "scope", "shown_prefix", "created_at", "last_used_at", "revoked_at"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Token")
    def shown_prefix(self, token):
        return f"alt_{token.prefix}_…" if token.prefix else "—"

    @admin.display(description="Status", ordering="revoked_at")
    def status(self, token):
        return "active" if token.is_active else "revoked"

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, raw = create_api_token(form.cleaned_data["user"], name=form.cleaned_data["name"],
                                      scope=form.cleaned_data["scope"], **self.audit_kwargs(request))
        # The admin goes on with `obj` (log entry, redirect): make it the saved token.
        for field in ApiToken._meta.concrete_fields:
            setattr(obj, field.attname, getattr(token, field.attname))
        obj._state.adding, obj._state.db = False, token._state.db
        messages.success(request, format_html(
            "API token for {}: <code>{}</code> — copy it now: it is shown only this once and stored only as a hash.",
            token.user, raw))

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        each_selected(request, [t for t in queryset if t.is_active],
                      lambda t: revoke_api_token(t, **self.audit_kwargs(request)),
                      label=lambda t: t.name, not_done="Not revoked",
                      done=lambda ok: f"Revoked {len(ok)} token(s).")


# --- audit trail (read only) -------------------------------------------------------------------


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("seq", "occurred_at", "action", "object_type", "object_repr", "actor_repr", "source",
                    "ip_address")
    list_filter = ("source", "action", "object_type")
    search_fields = ("object_repr", "object_id", "object_type", "actor_repr", "action", "ip_address")
    list_display_links = ("seq", "action")
    fields = ("seq", "occurred_at", "action", "object_type", "object_id", "object_repr", "actor", "actor_repr",
              "source", "ip_address", "shown_changes", "prev_hash", "hash")
    readonly_fields = fields
    show_full_result_count = False  # a COUNT(*) over the whole trail on every page is not worth it

    @admin.display(description="Changes")
    def shown_changes(self, entry):
        return pretty_json(entry.changes)
