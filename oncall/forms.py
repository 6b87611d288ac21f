"""Forms for the escalation pages: they shape input only; `oncall.actions` validates the
domain rules and checks who may."""

from django import forms

from alertum.core.models import Team, User
from incidents.models import Severity
from oncall.models import ContactMethod, EscalationPolicy, SeverityVariant, TeamChannel, Urgency
from oncall.schedules.models import Schedule


class PolicyForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(max_length=100, help_text="Routing rules pick the policy by this.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    repeat_count = forms.IntegerField(min_value=0, max_value=9, initial=0, label="Repeat the policy (times)")
    repeat_after_minutes = forms.IntegerField(min_value=1, max_value=1440, initial=15,
                                              label="Repeat after (minutes after the last level)")
    notify_on_resolve = forms.BooleanField(required=False, initial=True, label="Tell everyone paged when resolved")
    digest_interval_minutes = forms.IntegerField(min_value=5, max_value=1440, initial=60,
                                                 label="Digest every (minutes)")

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()


class LevelForm(forms.Form):
    delay_minutes = forms.IntegerField(min_value=0, max_value=1440, initial=5,
                                       label="Minutes after the previous level")


class TargetForm(forms.Form):
    kind = forms.ChoiceField(choices=[("user", "Person"), ("schedule", "Schedule (whoever is on call)"),
                                      ("channel", "Team channel")])
    user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True).order_by("username"), required=False)
    schedule = forms.ModelChoiceField(queryset=Schedule.objects.order_by("name"), required=False)
    channel = forms.ModelChoiceField(queryset=TeamChannel.objects.none(), required=False)

    def __init__(self, *args, policy: EscalationPolicy | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if policy is not None:
            self.fields["channel"].queryset = TeamChannel.objects.filter(team_id=policy.team_id).order_by("name")


class VariantForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices)
    mode = forms.ChoiceField(choices=SeverityVariant.Mode.choices)
    escalate_after_minutes = forms.IntegerField(min_value=0, max_value=1440, required=False,
                                                label="Escalate after (minutes; blank: the levels' own delays)")
    repeat_count = forms.IntegerField(min_value=0, max_value=9, required=False, label="Repeat (blank: the policy's)")
    urgency = forms.ChoiceField(choices=Urgency.choices)


class PreviewForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices, initial="P1")


class ContactMethodForm(forms.Form):
    kind = forms.ChoiceField(choices=ContactMethod.Kind.choices)
    address = forms.CharField(max_length=500, help_text="E-mail address, E.164 phone number (+31…) or webhook URL.")
    label = forms.CharField(max_length=100, required=False)


class NotificationRuleForm(forms.Form):
    contact_method = forms.ModelChoiceField(queryset=ContactMethod.objects.none())
    delay_minutes = forms.IntegerField(min_value=0, max_value=1440, initial=0, label="Minutes after being paged")
    urgency = forms.ChoiceField(choices=Urgency.choices)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_method"].queryset = ContactMethod.objects.filter(user=user)


class ChannelForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=TeamChannel.Kind.choices)
    address = forms.CharField(max_length=500, help_text="Webhook URL or e-mail address.")

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()


class ServicePolicyForm(forms.Form):
    policy = forms.ModelChoiceField(queryset=EscalationPolicy.objects.order_by("name"), required=False,
                                    empty_label="(none)")
