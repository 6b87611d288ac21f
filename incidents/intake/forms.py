"""Forms for the alert, integration, silence and rule pages. They shape input (matcher
lines into matcher dicts, label lists, times in the viewer's zone); the rules of the
domain (regexes, severities, time zones, who may) are checked by incidents.intake.actions."""

import re

from django import forms

from alertum.core.models import Service, Team
from alertum.core.permissions import is_admin
from incidents.intake import actions
from incidents.intake.queries import SUPPRESSED_CHOICES
from incidents.models import Alert, Impact, Integration, RoutingRule, Severity

# name=value, name!=value, name=~regex, name!~regex; the value may be "quoted".
MATCHER_LINE = re.compile(r"\s*(?P<name>[^\s=!~\"]+)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*")
OPERATORS = {"=": (False, True), "!=": (False, False), "=~": (True, True), "!~": (True, False)}
MATCHER_HELP = ("One per line: name=value, name!=value, name=~regex or name!~regex (regexes are anchored, as in "
                "Alertmanager). Values may be quoted: alertname=\"Disk full\".")
WEEKDAYS = [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")]


def _blank(choices, label="—"):
    return [("", label), *choices]


def parse_matchers(text: str) -> list[dict]:
    """Matcher lines into matcher dicts. Blank lines and `#` comments are skipped. Raises
    a ValidationError with one message per bad line."""
    matchers, problems = [], []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        match = MATCHER_LINE.fullmatch(line)
        if match is None:
            problems.append(f"line {number}: “{line.strip()[:80]}” is not name=value, name!=value, name=~regex "
                            "or name!~regex")
            continue
        name, op, value = match["name"], match["op"], match["value"]
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if not actions.LABEL_NAME.fullmatch(name):
            problems.append(f"line {number}: “{name[:80]}” is not a label name")
            continue
        is_regex, is_equal = OPERATORS[op]
        if is_regex:
            try:
                re.compile(value)
            except re.error as exc:
                problems.append(f"line {number}: “{value[:80]}” is not a valid regular expression ({exc})")
                continue
        matchers.append({"name": name, "value": value, "isRegex": is_regex, "isEqual": is_equal})
    if problems:
        raise forms.ValidationError(problems)
    return matchers


def matchers_text(matchers) -> str:
    """The inverse of parse_matchers, for edit forms."""
    lines = []
    for m in matchers or []:
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[
            (bool(m.get("isRegex")), bool(m.get("isEqual", True)))]
        value = m.get("value", "")
        if value != value.strip() or not value or '"' in value:
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{m.get('name')}{op}{value}")
    return "\n".join(lines)


class MatchersField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"})

    def __init__(self, *, required=True, **kwargs):
        kwargs.setdefault("help_text", MATCHER_HELP)
        super().__init__(required=required, strip=False, **kwargs)

    def prepare_value(self, value):
        return matchers_text(value) if isinstance(value, list) else value

    def to_python(self, value):
        matchers = parse_matchers(super().to_python(value) or "")
        if self.required and not matchers:
            raise forms.ValidationError("give at least one matcher")
        return matchers


class LabelNamesField(forms.CharField):
    """Label names separated by commas or spaces."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [part for part in re.split(r"[\s,]+", super().to_python(value) or "") if part]


class ServiceChoiceMixin:
    """The service choice lists only the services the user may use here; global admins
    also get "every service" where the field allows it."""

    services_for = staticmethod(actions.services_to_configure)
    allow_every_service = True

    def setup_services(self, user):
        field = self.fields["service"]
        field.queryset = self.services_for(user)
        if self.allow_every_service and is_admin(user):
            field.required = False
            field.empty_label = "Every service"
        else:
            field.required = True
            field.empty_label = None

    def offers_a_service(self) -> bool:
        """False when the user may not use this form for any service (nor for all)."""
        field = self.fields["service"]
        return not field.required or field.queryset.exists()


# --- alerts ------------------------------------------------------------------------------------

class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("open", "Open (firing or acknowledged)"),
                                                        ("", "Any status"), *Alert.Status.choices])
    service = forms.ModelChoiceField(queryset=Service.objects.order_by("name"), required=False, to_field_name="slug",
                                     empty_label="Any service")
    severity = forms.ChoiceField(required=False, choices=_blank(Alert.Severity.choices, "Any severity"))
    suppressed = forms.ChoiceField(required=False, choices=[("", "Muted or not"), ("no", "Not muted"),
                                                            ("yes", "Muted (any reason)"), *SUPPRESSED_CHOICES])


# --- integrations ------------------------------------------------------------------------------

class IntegrationForm(ServiceChoiceMixin, forms.Form):
    allow_every_service = False
    service = forms.ModelChoiceField(queryset=Service.objects.none())
    name = forms.CharField(max_length=100, help_text="e.g. prometheus-prod")
    kind = forms.ChoiceField(choices=Integration.Kind.choices, label="Type")
    rate_limit_per_minute = forms.IntegerField(min_value=1, max_value=1_000_000, initial=6000,
                                               help_text="Events accepted per minute; above it senders get 429.")
    verify_grafana_signature = forms.BooleanField(required=False, label="Require Grafana's HMAC signature")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_services(user)


class IntegrationEditForm(forms.Form):
    name = forms.CharField(max_length=100)
    rate_limit_per_minute = forms.IntegerField(min_value=1, max_value=1_000_000)
    verify_grafana_signature = forms.BooleanField(required=False, label="Require Grafana's HMAC signature")
    active = forms.BooleanField(required=False, help_text="Inactive: the door answers as if the key were unknown.")


# --- silences ----------------------------------------------------------------------------------

DURATIONS = [("", "Until the end time"), ("3600", "1 hour"), ("7200", "2 hours"), ("14400", "4 hours"),
             ("43200", "12 hours"), ("86400", "1 day"), ("604800", "1 week")]


class SilenceForm(ServiceChoiceMixin, forms.Form):
    services_for = staticmethod(actions.services_to_silence)
    service = forms.ModelChoiceField(queryset=Service.objects.none())
    matchers = MatchersField()
    starts_at = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                    help_text="Empty: now. In your time zone.")
    ends_at = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                  help_text="In your time zone; or choose a duration.")
    duration = forms.TypedChoiceField(required=False, choices=DURATIONS, coerce=int, empty_value=None)
    comment = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                              help_text="Why, and until when it is safe to mute.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_services(user)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("ends_at") and not cleaned.get("duration") and "ends_at" not in self.errors:
            self.add_error("ends_at", "give an end time or a duration")
        return cleaned


# --- rules -------------------------------------------------------------------------------------

class GroupingRuleForm(forms.Form):
    group_by = LabelNamesField(required=False, help_text="Label names, e.g. alertname, cluster. Empty (and no "
                                                         "template): one group for the whole service.")
    dedup_key_template = forms.CharField(required=False, max_length=200,
                                         help_text="Instead of labels: e.g. {alertname}:{job}; also {dedup_key} "
                                                   "and {source}.")
    window_seconds = forms.IntegerField(help_text="Alerts join the group's incident for this long.")
    max_alerts = forms.IntegerField(help_text="Cap per incident within a window; 0 = no cap.")
    cooldown_seconds = forms.IntegerField(help_text="Firing again this soon after resolve reopens the incident.")
    auto_resolve = forms.BooleanField(required=False, help_text="Resolve the incident when all its alerts resolved.")
    auto_resolve_after_seconds = forms.IntegerField(required=False,
                                                    help_text="Resolve after this long without alert activity; "
                                                              "empty: never.")


class InhibitionRuleForm(ServiceChoiceMixin, forms.Form):
    name = forms.CharField(max_length=100)
    service = forms.ModelChoiceField(queryset=Service.objects.none())
    source_matchers = MatchersField(help_text="While an alert matching these fires … " + MATCHER_HELP)
    target_matchers = MatchersField(help_text="… alerts matching these are muted. " + MATCHER_HELP)
    equal = LabelNamesField(required=False, help_text="…if these labels are equal on both, e.g. cluster, instance.")
    active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_services(user)


class AlertSeverityRuleForm(ServiceChoiceMixin, forms.Form):
    position = forms.IntegerField(initial=0, help_text="Lower first; the first matching rule wins.")
    service = forms.ModelChoiceField(queryset=Service.objects.none())
    alert_severity = forms.ChoiceField(required=False, choices=_blank(Alert.Severity.choices, "Any"))
    matchers = MatchersField(required=False, help_text="Optional. " + MATCHER_HELP)
    impact = forms.ChoiceField(choices=Impact.choices,
                               help_text="With the service's tier, the P1–P4 matrix gives the severity.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_services(user)


class RoutingRuleForm(ServiceChoiceMixin, forms.Form):
    position = forms.IntegerField(initial=0, help_text="Lower first; the first matching rule wins.")
    name = forms.CharField(max_length=100)
    service = forms.ModelChoiceField(queryset=Service.objects.none())
    severities = forms.MultipleChoiceField(required=False, choices=Severity.choices,
                                           widget=forms.CheckboxSelectMultiple, help_text="None ticked: any.")
    matchers = MatchersField(required=False, help_text="Optional. " + MATCHER_HELP)
    during = forms.ChoiceField(choices=RoutingRule._meta.get_field("during").choices)
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False,
                                  empty_label="The service's team", help_text="The owning team of the incident.")
    escalation_policy_slug = forms.CharField(required=False, max_length=100, label="Escalation policy (slug)")
    defer_to_business_hours = forms.BooleanField(required=False,
                                                 help_text="Outside business hours, hold paging until they start.")
    business_days = forms.TypedMultipleChoiceField(required=False, choices=WEEKDAYS, coerce=int,
                                                   widget=forms.CheckboxSelectMultiple,
                                                   help_text="None ticked: Monday to Friday.")
    business_start = forms.TimeField(initial="09:00", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    business_end = forms.TimeField(initial="17:00", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    time_zone = forms.CharField(max_length=64, initial="UTC", help_text="IANA name of the business hours' zone, "
                                                                          "e.g. Europe/Amsterdam.")
    active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup_services(user)
