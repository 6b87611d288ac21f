"""Forms for the schedule pages: they shape input only; the actions validate the rest."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from django import forms

from alertum.core.models import TIME_ZONE_NAMES, User
from oncall.schedules.models import WEEKDAY_NAMES, FatigueLimits, Layer

DAY_INDEX = {name.lower(): i for i, name in enumerate(WEEKDAY_NAMES)}
RESTRICTION_LINE = re.compile(r"^\s*([A-Za-z,\- ]+?)\s+(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s*$")


def parse_weekdays(text: str) -> list[int]:
    days: list[int] = []
    for part in text.replace(" ", "").lower().split(","):
        if part in ("every", "daily", "all"):
            days.extend(range(7))
        elif "-" in part:
            a, _, b = part.partition("-")
            if a[:3] not in DAY_INDEX or b[:3] not in DAY_INDEX:
                raise forms.ValidationError(f"unknown weekday in {part!r} (use Mon … Sun)")
            i, j = DAY_INDEX[a[:3]], DAY_INDEX[b[:3]]
            days.extend(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif part[:3] in DAY_INDEX:
            days.append(DAY_INDEX[part[:3]])
        else:
            raise forms.ValidationError(f"unknown weekday {part!r} (use Mon … Sun)")
    return sorted(set(days))


def parse_restrictions(text: str) -> list[dict]:
    """Lines like "Mon-Fri 09:00-17:00" or "Sat,Sun 17:00-09:00" (an end before the
    start runs into the next day)."""
    out = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = RESTRICTION_LINE.match(line)
        if not match:
            raise forms.ValidationError(f"line {number}: write it like “Mon-Fri 09:00-17:00”")
        try:
            start, end = dt.time.fromisoformat(match[2].zfill(5)), dt.time.fromisoformat(match[3].zfill(5))
        except ValueError:
            raise forms.ValidationError(f"line {number}: times look like 09:00") from None
        out.append({"weekdays": parse_weekdays(match[1]), "start_time": start, "end_time": end})
    return out


def restrictions_text(layer: Layer) -> str:
    return "\n".join(str(r) for r in layer.restrictions.all())


def parse_people(text: str) -> list[User]:
    names = [n for n in re.split(r"[\s,]+", text or "") if n]
    if not names:
        raise forms.ValidationError("name at least one person (usernames, in rotation order)")
    found = {u.username: u for u in User.objects.filter(username__in=names, is_active=True)}
    missing = [n for n in names if n not in found]
    if missing:
        raise forms.ValidationError(f"no user {', '.join(sorted(set(missing)))}")
    return [found[n] for n in names]


class ZonedDateTimeField(forms.DateTimeField):
    """A datetime-local input read in a given zone (the form sets `zone`)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    zone: zoneinfo.ZoneInfo = zoneinfo.ZoneInfo("UTC")

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        return result.replace(tzinfo=None).replace(tzinfo=self.zone)

    def prepare_value(self, value):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M")
        return value


def _zone(form, name: str, zone: str) -> None:
    field = form.fields[name]
    field.zone = zoneinfo.ZoneInfo(zone)
    field.help_text = f"In {zone}."


class ScheduleForm(forms.Form):
    team = forms.ModelChoiceField(queryset=None)
    name = forms.CharField(max_length=100)
    time_zone = forms.ChoiceField(choices=[(n, n) for n in TIME_ZONE_NAMES], initial="UTC")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams


class LayerForm(forms.Form):
    name = forms.CharField(max_length=100)
    level = forms.IntegerField(min_value=1, max_value=1000, required=False,
                               help_text="Higher levels override lower ones.")
    rotation_length = forms.IntegerField(min_value=1, max_value=10_000, initial=1)
    rotation_unit = forms.ChoiceField(choices=Layer.Unit.choices, initial=Layer.Unit.WEEKS)
    starts_at = ZonedDateTimeField(label="First handoff")
    ends_at = ZonedDateTimeField(required=False, label="Ends")
    participants = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                                   help_text="Usernames in rotation order, one per line or comma-separated.")
    restrictions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                   help_text="Optional, one per line: “Mon-Fri 09:00-17:00”; "
                                             "an end before the start runs into the next day.")

    def __init__(self, *args, zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        _zone(self, "starts_at", zone)
        _zone(self, "ends_at", zone)

    def clean_participants(self):
        return parse_people(self.cleaned_data["participants"])

    def clean_restrictions(self):
        return parse_restrictions(self.cleaned_data["restrictions"])

    def action_kwargs(self) -> dict:
        return dict(self.cleaned_data)


class OverrideForm(forms.Form):
    user = forms.CharField(label="Who covers", help_text="Username.")
    starts_at = ZonedDateTimeField(label="From")
    ends_at = ZonedDateTimeField(label="Until")
    reason = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        _zone(self, "starts_at", zone)
        _zone(self, "ends_at", zone)

    def clean_user(self):
        return parse_people(self.cleaned_data["user"])[0]


class HandoffNoteForm(forms.Form):
    text = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 3}),
                           label="Note for whoever takes over next")


class FatigueLimitsForm(forms.ModelForm):
    class Meta:
        model = FatigueLimits
        fields = ["max_consecutive_shifts", "min_rest_hours", "max_pages_per_shift", "max_pages_per_night",
                  "night_starts", "night_ends"]
        widgets = {"night_starts": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                   "night_ends": forms.TimeInput(attrs={"type": "time"}, format="%H:%M")}


class CalendarLinkForm(forms.Form):
    schedule = forms.ModelChoiceField(queryset=None, required=False, empty_label="My shifts (all schedules)")

    def __init__(self, *args, schedules, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["schedule"].queryset = schedules
