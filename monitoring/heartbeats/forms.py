"""Forms for the heartbeat and ping key pages. They shape input; the rules (cron syntax,
time zones, limits, who may) are checked by monitoring.heartbeats.actions."""

from django import forms

from alertum.core.models import TIME_ZONE_NAMES, Service
from alertum.core.permissions import is_admin, teams_with_role
from monitoring.heartbeats.models import SLUG_PATTERN, Heartbeat


def configurable_services(user):
    if is_admin(user):
        return Service.objects.order_by("name")
    return Service.objects.filter(owner_team_id__in=teams_with_role(user, "responder")).order_by("name")


class HeartbeatForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Service.objects.none())
    name = forms.CharField(max_length=200)
    slug = forms.RegexField(regex=SLUG_PATTERN, required=False, max_length=100,
                            help_text="Optional, for /ping/<ping-key>/<slug>: lowercase letters, digits, - and _.",
                            error_messages={"invalid": "use only lowercase letters, digits, '-' and '_'"})
    schedule = forms.ChoiceField(choices=Heartbeat.Schedule.choices, initial=Heartbeat.Schedule.SIMPLE)
    period_seconds = forms.IntegerField(label="Period (seconds)", min_value=60, initial=86400,
                                        help_text="Simple schedule: expected time between pings.")
    cron = forms.CharField(required=False, max_length=100, help_text="Cron schedule, e.g. 0 2 * * * (02:00 daily).")
    time_zone = forms.ChoiceField(choices=[(z, z) for z in TIME_ZONE_NAMES], initial="UTC",
                                  help_text="The zone the cron expression is read in.")
    grace_seconds = forms.IntegerField(label="Grace (seconds)", min_value=60, initial=3600,
                                       help_text="How late a ping may be before the heartbeat is down.")
    manual_resume = forms.BooleanField(required=False, label="When paused, ignore pings until resumed by hand")
    body_limit = forms.IntegerField(label="Body limit (bytes)", min_value=0, max_value=100_000, initial=10_000)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = configurable_services(user)

    def settings(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in ("slug", "schedule", "period_seconds", "grace_seconds", "cron",
                                              "time_zone", "manual_resume", "body_limit")}


class PingKeyForm(forms.Form):
    team = forms.ModelChoiceField(queryset=None)
    name = forms.CharField(max_length=100, initial="Ping key")
    default_service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("name"), required=False,
        help_text="Where ?create=1 slug pings make new heartbeats; empty refuses ?create=1.")

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.fields["default_service"].queryset = Service.objects.filter(owner_team__in=teams).order_by("name")
