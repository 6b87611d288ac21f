"""Forms for the incident pages. They only shape and type-check input; the domain rules
(who may, which transition, does the severity need a reason) live in incidents.actions."""

from django import forms

from alertum.core.models import Role, Service, Team
from alertum.core.permissions import is_admin, teams_with_role
from incidents.models import Impact, IncidentRole, Sensitivity, Severity, Status, Urgency, UsersAffected


def _blank(choices, label="—"):
    return [("", label), *choices]


class DeclareForm(forms.Form):
    title = forms.CharField(max_length=255)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    services = forms.ModelMultipleChoiceField(queryset=Service.objects.order_by("name"), required=False,
                                              widget=forms.SelectMultiple(attrs={"size": 5}),
                                              help_text="Ctrl/Cmd-click to choose several.")
    impact = forms.ChoiceField(choices=Impact.choices, initial=Impact.DEGRADED)
    users_affected = forms.ChoiceField(choices=UsersAffected.choices, initial=UsersAffected.SOME)
    urgency = forms.ChoiceField(choices=Urgency.choices, initial=Urgency.HIGH)
    business_functions = forms.CharField(max_length=500, required=False,
                                         help_text="e.g. card payments, refunds")
    severity = forms.ChoiceField(choices=_blank(Severity.choices, "From the severity matrix"), required=False,
                                 label="Severity override")
    severity_reason = forms.CharField(max_length=500, required=False, label="Reason for the override")
    sensitivity = forms.ChoiceField(choices=Sensitivity.choices, initial=Sensitivity.NORMAL)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the teams the user may declare for (responder or more), so the choice
        # never offers something the action would refuse.
        teams = Team.objects.order_by("name")
        if not is_admin(user):
            teams = teams.filter(pk__in=teams_with_role(user, Role.RESPONDER))
        self.fields["team"].queryset = teams


class CommentForm(forms.Form):
    body = forms.CharField(max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}), strip=True)
    public = forms.BooleanField(required=False, label="Public (may appear on status pages)")


class UpdateForm(forms.Form):
    impact = forms.CharField(max_length=5_000, widget=forms.Textarea(attrs={"rows": 2}), label="Current impact")
    action_taken = forms.CharField(max_length=5_000, widget=forms.Textarea(attrs={"rows": 2}), required=False)
    next_step = forms.CharField(max_length=5_000, widget=forms.Textarea(attrs={"rows": 2}), required=False)
    public = forms.BooleanField(required=False, label="Public")


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)
    note = forms.CharField(max_length=1_000, required=False)


class ResolveForm(forms.Form):
    note = forms.CharField(max_length=1_000, required=False)


class ReopenForm(forms.Form):
    reason = forms.CharField(max_length=1_000, required=False)


class SeverityForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices)
    reason = forms.CharField(max_length=500, required=False)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=IncidentRole.choices)
    user = forms.IntegerField(required=False, min_value=1, help_text="empty clears a single-holder role")
    remove = forms.BooleanField(required=False)


class TeamForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), empty_label=None)


class IncidentRefForm(forms.Form):
    """Another incident by reference: "INC-12" or "12"."""

    other = forms.CharField(max_length=20, label="Incident")

    def clean_other(self):
        value = self.cleaned_data["other"].strip().upper().removeprefix("INC-")
        if not value.isdigit():
            raise forms.ValidationError("give an incident reference such as INC-12")
        return int(value)


class EvidenceForm(forms.Form):
    file = forms.FileField()
    description = forms.CharField(max_length=300, required=False)


class TickForm(forms.Form):
    done = forms.BooleanField(required=False)


class FilterForm(forms.Form):
    """The incident list's filters; every field optional, unknown values filter to nothing."""

    STATUS_CHOICES = [("", "Any status"), ("open", "Open"), *Status.choices]

    q = forms.CharField(required=False, max_length=200, label="Search", widget=forms.TextInput(
        attrs={"placeholder": "Search titles or INC-n", "aria-label": "Search", "type": "search"}))
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False,
                               widget=forms.Select(attrs={"aria-label": "Status"}))
    severity = forms.ChoiceField(choices=_blank(Severity.choices, "Any severity"), required=False,
                                 widget=forms.Select(attrs={"aria-label": "Severity"}))
    service = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "Service"}))
    team = forms.ChoiceField(required=False, widget=forms.Select(attrs={"aria-label": "Team"}))
    mine = forms.BooleanField(required=False, label="Mine")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = _blank(list(Service.objects.order_by("name").values_list("slug", "name")),
                                                "Any service")
        self.fields["team"].choices = _blank(list(Team.objects.order_by("name").values_list("slug", "name")),
                                             "Any team")
