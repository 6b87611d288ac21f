"""The monitor form: common fields as inputs, the kind-specific config and the rules as
JSON (validated by monitoring.actions, which names the faulty field)."""

import json

from django import forms

from alertum.core.models import Service
from monitoring.models import Monitor

CONFIG_HELP = ('http: {"url": "https://…", "method": "GET", "accepted_statuses": "200-299", "keyword": "…", '
               '"json_path": "$.status", "json_expected": "ok", "max_response_ms": 2000, "tls_expiry_days": 14} · '
               'tcp: {"host": "db.internal", "port": 5432} · dns: {"name": "www.example.com", "record_type": "A", '
               '"expected": "192.0.2.1"} · journey: {"steps": [{"name": "log in", "url": "…", "extract": {…}}]}')


class JSONText(forms.CharField):
    def __init__(self, *, empty, **kwargs):
        self.empty = empty
        super().__init__(widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
                         required=False, **kwargs)

    def prepare_value(self, value):
        return value if isinstance(value, str) else json.dumps(value if value is not None else self.empty, indent=2)

    def clean(self, value):
        value = super().clean(value)
        if not value.strip():
            return self.empty
        try:
            return json.loads(value)
        except ValueError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from None


class MonitorForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Service.objects.none(), to_field_name="slug")
    name = forms.CharField(max_length=200)
    kind = forms.ChoiceField(choices=Monitor.Kind.choices)
    config = JSONText(empty={}, help_text=CONFIG_HELP)
    interval_seconds = forms.IntegerField(min_value=10, initial=60, label="Interval (seconds)")
    timeout_seconds = forms.FloatField(min_value=0.1, max_value=120, initial=10, label="Time-out (seconds)")
    failure_threshold = forms.IntegerField(min_value=1, max_value=100, initial=2, label="Down after N failures")
    success_threshold = forms.IntegerField(min_value=1, max_value=100, initial=1, label="Up after M successes")
    rules = JSONText(empty=[], help_text='e.g. [{"name": "slow", "severity": "P1", "for_seconds": 120, '
                                         '"conditions": [{"metric": "latency_ms", "op": "gt", "value": 30000}]}, '
                                         '{"name": "errors", "severity": "P2", "error_rate_percent": 10, '
                                         '"window_seconds": 300}]')
    anomaly_sensitivity = forms.ChoiceField(choices=Monitor.Sensitivity.choices, initial="off",
                                            label="Latency anomaly detection")

    def __init__(self, *args, services=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = services if services is not None else Service.objects.all()


class FilterForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Service.objects.all(), to_field_name="slug", required=False,
                                     empty_label="All services")
    state = forms.ChoiceField(choices=[("", "Any state"), *Monitor.State.choices], required=False)
    q = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "Search"}))
