"""Forms of the management pages: they shape input only; the actions decide."""

from django import forms

from alertum.core.models import TIME_ZONE_NAMES, MaintenanceWindow, Service, Team
from monitoring.models import Monitor
from statuspages.models import (
    Component,
    ComponentStatus,
    IncidentStatus,
    MaintenanceStatus,
    MessageTemplate,
    StakeholderAudience,
    StatusPage,
    Subscriber,
)

LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class PageForm(forms.Form):
    name = forms.CharField(max_length=120)
    slug = forms.SlugField(max_length=80, help_text="The page lives at /status/<slug>/.")
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    custom_domain = forms.CharField(required=False, max_length=253, help_text="e.g. status.example.com")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    time_zone = forms.ChoiceField(choices=[(n, n) for n in TIME_ZONE_NAMES], initial="UTC")
    access = forms.ChoiceField(choices=StatusPage.Access.choices)
    password = forms.CharField(required=False, widget=forms.PasswordInput,
                               help_text="Shared password pages: set or change it (stored hashed).")
    allowed_ips = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="IP allow-list pages: one address or network per line.")
    support_url = forms.URLField(required=False)
    logo = forms.FileField(required=False, help_text="PNG, SVG, JPEG, WebP or GIF, at most 100 KB; served by us.")

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.all()


class ComponentForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    is_group = forms.BooleanField(required=False, label="This is a group of components")
    group = forms.ModelChoiceField(queryset=Component.objects.none(), required=False)
    position = forms.IntegerField(min_value=0, required=False)
    automatic = forms.BooleanField(required=False, initial=True,
                                   label="Also follow linked monitors, internal incidents and maintenance")
    showcase = forms.BooleanField(required=False, initial=True, label="Show the 90-day uptime bar")
    only_show_if_degraded = forms.BooleanField(required=False)
    start_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    services = forms.ModelMultipleChoiceField(queryset=Service.objects.all(), required=False,
                                              widget=forms.CheckboxSelectMultiple)
    monitors = forms.ModelMultipleChoiceField(queryset=Monitor.objects.all(), required=False,
                                              widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, page=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = Component.objects.filter(page=page, is_group=True)


def component_status_fields(form, page, initial=None, blank=True):
    """One select per leaf component: its new status (blank: unchanged)."""
    choices = ([("", "— unchanged —")] if blank else []) + list(ComponentStatus.choices)
    for component in page.components.filter(is_group=False).order_by("position", "id"):
        form.fields[f"c_{component.code}"] = forms.ChoiceField(
            choices=choices, required=False, label=component.name,
            initial=(initial or {}).get(component.code, ""))


def chosen_statuses(form) -> dict:
    return {name[2:]: value for name, value in form.cleaned_data.items() if name.startswith("c_") and value}


class IncidentForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="What customers see as the title.")
    status = forms.ChoiceField(choices=IncidentStatus.choices[:3])
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False,
                           help_text="Empty: the template of the state. {components} names the affected ones.")
    incident = forms.IntegerField(required=False, label="Internal incident number (INC-…)")
    impact_override = forms.ChoiceField(choices=[("", "computed from the components"), ("none", "none"),
                                                 ("minor", "minor"), ("major", "major"), ("critical", "critical")],
                                        required=False)
    deliver_notifications = forms.BooleanField(required=False, initial=True, label="Notify subscribers")

    def __init__(self, *args, page=None, **kwargs):
        super().__init__(*args, **kwargs)
        component_status_fields(self, page)


class UpdateForm(forms.Form):
    status = forms.ChoiceField(choices=IncidentStatus.choices)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False,
                           help_text="Empty: the template of the state.")
    deliver_notifications = forms.BooleanField(required=False, initial=True, label="Notify subscribers")

    def __init__(self, *args, page=None, **kwargs):
        super().__init__(*args, **kwargs)
        component_status_fields(self, page)


class MaintenanceForm(forms.Form):
    name = forms.CharField(max_length=200)
    starts_at = forms.DateTimeField(widget=LOCAL, required=False, help_text="In your time zone.")
    ends_at = forms.DateTimeField(widget=LOCAL, required=False)
    window = forms.ModelChoiceField(queryset=MaintenanceWindow.objects.filter(state="scheduled"), required=False,
                                    help_text="Or an existing maintenance window instead of times.")
    components = forms.ModelMultipleChoiceField(queryset=Component.objects.none(), required=False,
                                                widget=forms.CheckboxSelectMultiple)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    remind_prior = forms.BooleanField(required=False, initial=True, label="Remind subscribers an hour before")

    def __init__(self, *args, page=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"].queryset = Component.objects.filter(page=page, is_group=False)

    def clean(self):
        data = super().clean()
        if not data.get("window") and not (data.get("starts_at") and data.get("ends_at")):
            raise forms.ValidationError("Give the start and end, or choose an existing maintenance window.")
        return data


class MaintenanceUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=MaintenanceStatus.choices)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class SubscriberForm(forms.Form):
    kind = forms.ChoiceField(choices=Subscriber.Kind.choices)
    email = forms.EmailField(required=False)
    url = forms.URLField(required=False, label="Webhook URL")
    components = forms.ModelMultipleChoiceField(queryset=Component.objects.none(), required=False,
                                                widget=forms.CheckboxSelectMultiple,
                                                help_text="None chosen: everything on the page.")

    def __init__(self, *args, page=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["components"].queryset = Component.objects.filter(page=page, is_group=False)


class AudienceForm(forms.Form):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=StakeholderAudience.Kind.choices)
    target = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="E-mail addresses (one per line), or the channel's webhook URL.")
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False,
                                  help_text="Only this team's incidents; empty: every team (global admins).")
    severities = forms.MultipleChoiceField(choices=[(s, s) for s in ("P1", "P2", "P3", "P4")],
                                           initial=["P1", "P2"], widget=forms.CheckboxSelectMultiple)
    enabled = forms.BooleanField(required=False, initial=True)


class TemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["status", "name", "body"]
