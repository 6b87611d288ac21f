"""Admin for escalation configuration (audited through save_config like every admin
write), and read-only views of escalations and pages (their state is the engine's)."""

from django.contrib import admin
from django.utils.html import format_html

from alertum.core.admin import AuditedAdminMixin, ReadOnlyAdminMixin, pretty_json
from alertum.core.notify.webhook import generate_secret
from oncall.models import (
    ContactMethod,
    Escalation,
    EscalationLevel,
    EscalationPolicy,
    EscalationTarget,
    NotificationRule,
    Page,
    ServicePolicy,
    SeverityVariant,
    TeamChannel,
)


class LevelInline(admin.TabularInline):
    model = EscalationLevel
    extra = 0
    fields = ["position", "delay_minutes", "targets_summary", "edit"]
    readonly_fields = ["targets_summary", "edit"]
    ordering = ["position"]

    @admin.display(description="Targets")
    def targets_summary(self, level):
        return ", ".join(str(t) for t in level.targets.all()) if level.pk else "—"

    @admin.display(description="")
    def edit(self, level):
        if not level.pk:
            return ""
        return format_html('<a href="../../escalationlevel/{}/change/">Edit targets</a>', level.pk)


class VariantInline(admin.TabularInline):
    model = SeverityVariant
    extra = 0


class ServicePolicyInline(admin.TabularInline):
    model = ServicePolicy
    extra = 0
    autocomplete_fields = ["service"]
    verbose_name = "default for service"
    verbose_name_plural = "default for services"


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "team", "level_count", "repeat_count", "notify_on_resolve")
    list_filter = ("team",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [LevelInline, VariantInline, ServicePolicyInline]

    @admin.display(description="Levels")
    def level_count(self, policy):
        return policy.levels.count()


class TargetInline(admin.TabularInline):
    model = EscalationTarget
    extra = 1
    autocomplete_fields = ["user", "channel"]


@admin.register(EscalationLevel)
class EscalationLevelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("policy", "position", "delay_minutes")
    list_filter = ("policy__team",)
    inlines = [TargetInline]


@admin.register(TeamChannel)
class TeamChannelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "team", "kind", "active")
    list_filter = ("team", "kind", "active")
    search_fields = ("name", "team__name")
    readonly_fields = ("secret",)
    audit_exclude = ("address", "secret")  # webhook URLs and signing secrets are credentials

    def save_model(self, request, obj, form, change):
        if obj.kind == TeamChannel.Kind.WEBHOOK and not obj.secret:
            obj.secret = generate_secret()
        super().save_model(request, obj, form, change)


class RuleInline(admin.TabularInline):
    model = NotificationRule
    extra = 0
    fields = ["urgency", "delay_minutes"]


@admin.register(ContactMethod)
class ContactMethodAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("user", "kind", "label", "rule_summary")
    list_filter = ("kind",)
    search_fields = ("user__username", "label")
    autocomplete_fields = ["user"]
    readonly_fields = ("secret",)
    audit_exclude = ("address", "secret")
    inlines = [RuleInline]

    @admin.display(description="Rules")
    def rule_summary(self, method):
        return ", ".join(f"{r.urgency} +{r.delay_minutes} min" for r in method.rules.all()) or "—"

    def save_model(self, request, obj, form, change):
        if obj.kind == ContactMethod.Kind.WEBHOOK and not obj.secret:
            obj.secret = generate_secret()
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        # A rule belongs to the contact method's person.
        for inline_form in formset.forms:
            if inline_form.instance.contact_method_id or form.instance.pk:
                inline_form.instance.user_id = form.instance.user_id
        super().save_formset(request, form, formset, change)


@admin.register(ServicePolicy)
class ServicePolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("service", "policy")
    autocomplete_fields = ["service"]


class PageInline(admin.TabularInline):
    model = Page
    extra = 0
    can_delete = False
    fields = ["purpose", "level", "repeat", "step", "recipient", "channel", "kind", "state", "due_at", "attempts",
              "sent_at", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("incident", "policy", "state", "severity", "next_level", "repeat", "next_escalation_at",
                    "started_at")
    list_filter = ("state", "mode")
    search_fields = ("incident__title", "incident__number")
    readonly_fields = ("snapshot_json",)
    exclude = ("snapshot",)
    inlines = [PageInline]

    @admin.display(description="Snapshot of the policy")
    def snapshot_json(self, escalation):
        return pretty_json(escalation.snapshot)


@admin.register(Page)
class PageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("incident", "purpose", "level", "repeat", "recipient", "channel", "kind", "state", "due_at",
                    "attempts", "sent_at")
    list_filter = ("state", "kind", "purpose")
    search_fields = ("incident__title", "recipient__username")
    exclude = ("address",)
